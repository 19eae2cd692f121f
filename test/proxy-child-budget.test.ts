/**
 * The child budget: stdio children are bounded per destination (`stdio.max_children`) and in
 * total (`limits.max_children`); a new session ends the least recently used idle session to make
 * room, and is refused with 503 + Retry-After only when every child serves a session in use. stdio
 * sessions idle out sooner (`stdio.session_idle_ms`). Real children, counted by pid.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ProxyHandle } from '../src/proxy.js';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { INIT_BODY, httpYaml, pidAlive, rawPost, startTestProxy, waitFor } from './helpers/proxy.js';

const SLOW = fileURLToPath(new URL('../../test/fixtures/stdio/slow-server.mjs', import.meta.url));
const stdioYaml = (name: string, extra = '') =>
  `  ${name}:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(SLOW)}]\n${extra}`;

let proxy: ProxyHandle;
let upstream: RunningUpstream;

before(async () => {
  upstream = await startCounterHttp();
  proxy = await startTestProxy(
    stdioYaml('a', '    stdio: { max_children: 2 }\n') + stdioYaml('b') + stdioYaml('quick', '    stdio: { session_idle_ms: 300 }\n') + httpYaml('web', upstream.url),
    'session_idle_ms: 60000\nlimits: { max_children: 3 }\n',
  );
});
after(async () => {
  await proxy.close({ drainMs: 200 });
  await upstream.close();
});

const children = () => proxy.supervisor.childPids().length;

async function init(dest: string): Promise<string> {
  const r = await rawPost(`${proxy.url}/${dest}/mcp`, INIT_BODY);
  assert.equal(r.status, 200, `initialize on ${dest}`);
  await r.text();
  await sleep(20); // distinct lastSeen stamps: the LRU order below is by use
  return r.headers.get('mcp-session-id')!;
}

async function pid(dest: string, sid: string): Promise<{ status: number; pid?: number }> {
  const r = await rawPost(`${proxy.url}/${dest}/mcp`, '{"jsonrpc":"2.0","id":1,"method":"pid"}', { 'mcp-session-id': sid });
  const body = await r.text();
  await sleep(20);
  const m = /"pid":(\d+)/.exec(body);
  return m ? { status: r.status, pid: Number(m[1]) } : { status: r.status };
}

async function end(dest: string, sid: string): Promise<void> {
  await fetch(`${proxy.url}/${dest}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sid } }).then((r) => r.text());
}

describe('the child budget', () => {
  test('per destination: the third session of `a` (max 2) ends the least recently used idle one, child first', async () => {
    assert.equal(children(), 0);
    const s1 = await init('a');
    const s2 = await init('a');
    const p2 = (await pid('a', s2)).pid!;
    await pid('a', s1); // s1 used last: s2 is now the least recently used
    await waitFor(() => children() === 2, 10_000, 'two children');
    const s3 = await init('a');
    assert.equal(children(), 2, 'the new child started after the old one exited');
    assert.ok(!pidAlive(p2), "s2's child is gone");
    assert.equal((await pid('a', s2)).status, 404, 's2 was ended to make room');
    assert.equal((await pid('a', s1)).status, 200);
    assert.equal((await pid('a', s3)).status, 200);
    await end('a', s1);
    await end('a', s3);
    await waitFor(() => children() === 0, 10_000, 'no children');
  });

  test('in total (max 3), and 503 + Retry-After only when nothing is idle; an HTTP destination is not counted', async () => {
    const a1 = await init('a');
    const b1 = await init('b');
    const b2 = await init('b');
    await waitFor(() => children() === 3, 10_000, 'three children');
    // HTTP sessions hold no child and are outside the budget.
    const w = await init('web');
    // Every session busy: a request its upstream never answers (fractional id), or an open GET stream.
    const busy = [a1, b1].map((sid) => {
      const ac = new AbortController();
      const done = fetch(`${proxy.url}/${sid === a1 ? 'a' : 'b'}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
        body: '{"jsonrpc":"2.0","id":1.5,"method":"pid"}',
        signal: ac.signal,
      }).then((r) => r.text(), () => '');
      return { ac, done };
    });
    const streamAc = new AbortController();
    const stream = await fetch(`${proxy.url}/b/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': b2 }, signal: streamAc.signal });
    assert.equal(stream.status, 200);
    await waitFor(() => proxy.core.store.get(a1, 'a')!.inflight.inflight === 1 && proxy.core.store.get(b1, 'b')!.inflight.inflight === 1, 10_000, 'requests in flight');

    const refused = await rawPost(`${proxy.url}/b/mcp`, INIT_BODY);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.match(await refused.text(), /E_CHILD_BUDGET/);
    assert.equal(children(), 3, 'no child was started or ended');
    assert.equal((await pid('web', w)).status, 200);

    // a1 becomes idle: the next session takes its place.
    busy[0]!.ac.abort();
    await busy[0]!.done;
    await waitFor(() => proxy.core.store.get(a1, 'a')!.inflight.inflight === 0, 10_000, 'a1 idle');
    const b3 = await init('b');
    assert.equal((await pid('a', a1)).status, 404, 'the idle session was ended');
    assert.equal(children(), 3);
    busy[1]!.ac.abort();
    await busy[1]!.done;
    streamAc.abort();
    await stream.body?.cancel().catch(() => {});
    for (const [d, s] of [['b', b1], ['b', b2], ['b', b3], ['web', w]] as const) await end(d, s);
    await waitFor(() => children() === 0, 10_000, 'no children');
  });

  test('stdio.session_idle_ms: a stdio session idles out sooner than session_idle_ms', async () => {
    const q = await init('quick');
    const w = await init('web');
    const p = (await pid('quick', q)).pid!;
    await waitFor(() => !pidAlive(p), 10_000, 'the idle stdio session (and its child) to end');
    assert.equal((await pid('quick', q)).status, 404);
    assert.equal((await pid('web', w)).status, 200, 'the HTTP session keeps the longer idle time');
    await end('web', w);
  });
});
