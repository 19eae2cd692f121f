/**
 * Sessions belong to the client that created them, one client cannot starve the others, and a
 * re-initialize with a live id replaces the session instead of stacking a new one on top. Real
 * proxy, real stdio children (test/fixtures/stdio/slow-server.mjs, which silently drops requests
 * with a fractional id, as the starvation report describes), counted by pid.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { createLogger } from '../src/observability/log.js';
import { INIT_BODY, configFromYaml, pidAlive, rawPost, waitFor } from './helpers/proxy.js';

const ALICE = 'alice-token-sessions-0123456789';
const BOB = 'bob-token-sessions-0123456789ab';
process.env.MT_SESS_ALICE = ALICE;
process.env.MT_SESS_BOB = BOB;
const SLOW = fileURLToPath(new URL('../../test/fixtures/stdio/slow-server.mjs', import.meta.url));
const CAP = 4;
const WORKER_BUDGET = 8;

let proxy: ProxyHandle;
let url = '';

before(async () => {
  // One worker, so every session shares the worker budget the starvation defect used up.
  const config = configFromYaml(`listen: { host: 127.0.0.1, port: 0 }
workers: 1
log_level: ${process.env.MITHRIL_TEST_LOG ?? 'silent'}
limits: { max_inflight_per_worker: ${WORKER_BUDGET} }
auth:
  per_session_inflight: ${CAP}
  clients:
    alice: { token: "\${env:MT_SESS_ALICE}", destinations: ["*"] }
    bob: { token: "\${env:MT_SESS_BOB}", destinations: ["*"] }
destinations:
  slow: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(SLOW)}] }
`);
  proxy = await startProxy(config, { log: createLogger(config.logLevel, { thread: 'main', test: true }) });
  url = `${proxy.url}/slow/mcp`;
});
after(async () => {
  await proxy.close({ drainMs: 200 });
});

const as = (token: string, sid?: string): Record<string, string> => ({ authorization: `Bearer ${token}`, ...(sid !== undefined ? { 'mcp-session-id': sid } : {}) });

async function init(token: string, sid?: string): Promise<string> {
  const r = await rawPost(url, INIT_BODY, as(token, sid));
  assert.equal(r.status, 200, await r.clone().text());
  await r.text();
  return r.headers.get('mcp-session-id')!;
}

async function call(token: string, sid: string, id: number | string, method = 'pid'): Promise<{ status: number; body: string }> {
  const r = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id, method }), as(token, sid));
  return { status: r.status, body: await r.text() };
}

describe('a session belongs to its client', () => {
  test("client B presenting A's id reads nothing and cannot DELETE it; the answers equal an unknown id's; A still works", async () => {
    const sid = await init(ALICE);
    const unknown = await call(BOB, 'f'.repeat(32), 2);
    const stolen = await call(BOB, sid, 2);
    assert.equal(stolen.status, 404);
    assert.equal(stolen.body, unknown.body, 'no existence leak: the same answer as an id that never existed');
    assert.match(stolen.body, /E_UNKNOWN_SESSION/);

    const get = await fetch(url, { headers: { ...as(BOB, sid), accept: 'text/event-stream' } });
    assert.equal(get.status, 404);
    await get.text();
    const del = await fetch(url, { method: 'DELETE', headers: as(BOB, sid) });
    assert.equal(del.status, 404);
    await del.text();
    // B's initialize with A's id is a new session for B and leaves A's alone.
    const bobs = await init(BOB, sid);
    assert.notEqual(bobs, sid);

    const mine = await call(ALICE, sid, 3);
    assert.equal(mine.status, 200, 'A keeps its session');
    assert.match(mine.body, /"pid":\d+/);
    const end = await fetch(url, { method: 'DELETE', headers: as(ALICE, sid) });
    assert.equal(end.status, 200);
    await end.text();
    await fetch(url, { method: 'DELETE', headers: as(BOB, bobs) }).then((r) => r.text());
  });

  test("a legacy session's id used by another client on POST /message is 404", async () => {
    const ac = new AbortController();
    const stream = await fetch(`${proxy.url}/slow/sse`, { headers: { ...as(ALICE), accept: 'text/event-stream' }, signal: ac.signal });
    assert.equal(stream.status, 200);
    const reader = stream.body!.getReader();
    let text = '';
    while (!/sessionId=([^\s]+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const sid = /sessionId=([^\s]+)/.exec(text)![1]!;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const other = await rawPost(`${proxy.url}/slow/message?sessionId=${sid}`, body, as(BOB));
    assert.equal(other.status, 404);
    await other.text();
    const own = await rawPost(`${proxy.url}/slow/message?sessionId=${sid}`, INIT_BODY, as(ALICE));
    assert.equal(own.status, 202);
    await own.text();
    ac.abort();
    await reader.cancel().catch(() => {});
  });
});

describe('re-initialize with a live session id', () => {
  test('ends the old session and its child first: 1 + 3 initializes leave 1 session and 1 child', async () => {
    // The sessions of the tests above end asynchronously (a stream closing): start from none.
    await waitFor(() => proxy.core.store.size === 0 && proxy.supervisor.childPids().length === 0, 10_000, 'earlier sessions gone');
    const sessionsBefore = 0;
    const childrenBefore = 0;
    const ids = [await init(ALICE)];
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = JSON.parse((await call(ALICE, ids.at(-1)!, 10 + i)).body) as { result: { pid: number } };
      pids.push(p.result.pid);
      ids.push(await init(ALICE, ids.at(-1)));
    }
    assert.equal(new Set(ids).size, 4, 'each initialize minted a new id');
    assert.equal(proxy.core.store.size, sessionsBefore + 1, 'only the newest session is live');
    await waitFor(() => proxy.supervisor.childPids().length === childrenBefore + 1, 10_000, 'one child left');
    for (const pid of pids) await waitFor(() => !pidAlive(pid), 10_000, `replaced child ${pid} to exit`);
    for (const old of ids.slice(0, -1)) assert.equal((await call(ALICE, old, 20)).status, 404, 'a replaced id is gone');
    assert.equal((await call(ALICE, ids.at(-1)!, 21)).status, 200);
    await fetch(url, { method: 'DELETE', headers: as(ALICE, ids.at(-1)) }).then((r) => r.text());
  });
});

describe('per-session in-flight cap', () => {
  test('a session whose requests are dropped upstream gets 429 past its cap; other and new sessions still get 200 (no 503 E_OVERLOADED)', async () => {
    const greedy = await init(ALICE);
    const victim = await init(BOB);
    const sent = 3 * CAP; // more than the worker's whole budget (8), as in the report
    const controllers = Array.from({ length: sent }, () => new AbortController());
    const answered: number[] = [];
    const pending = controllers.map((ac, i) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...as(ALICE, greedy) },
        body: JSON.stringify({ jsonrpc: '2.0', id: i + 1.5, method: 'pid' }),
        signal: ac.signal,
      })
        .then(async (r) => {
          answered.push(r.status);
          assert.match(await r.text(), /E_SESSION_INFLIGHT/);
          assert.equal(r.headers.get('retry-after'), '1');
        }, () => {}));
    await waitFor(() => answered.length === sent - CAP, 15_000, 'the requests over the cap to be refused');
    assert.ok(answered.every((s) => s === 429), `statuses ${answered.join(',')}`);
    assert.equal(proxy.supervisor.inflight(0), CAP, 'only the cap reached the worker');

    assert.equal((await call(BOB, victim, 1)).status, 200, 'another session on the same worker is served');
    const fresh = await init(BOB);
    assert.equal((await call(BOB, fresh, 1)).status, 200, 'a new session is served');
    assert.equal((await call(ALICE, greedy, 99)).status, 429, 'the greedy session is still at its cap');

    // Aborted requests give their slots back, exactly once each.
    for (const ac of controllers) ac.abort();
    await Promise.all(pending);
    await waitFor(() => proxy.core.store.get(greedy, 'slow')!.inflight.inflight === 0, 10_000, 'slots released');
    assert.equal(proxy.supervisor.inflight(0), 0);
    assert.equal((await call(ALICE, greedy, 100)).status, 200, 'the greedy session works again');
    for (const [t, s] of [[ALICE, greedy], [BOB, victim], [BOB, fresh]] as const) {
      await fetch(url, { method: 'DELETE', headers: as(t, s) }).then((r) => r.text());
    }
  });
});
