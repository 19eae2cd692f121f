/**
 * The life of stdio children, proven through the whole proxy (uWS acceptor, worker thread, child):
 * a child killed mid-request, a command that dies on every start, a child flooding a client that
 * does not read, many sessions opened and closed, and a client that leaves mid-request.
 * Requests are raw JSON-RPC over fetch so the fixtures can stay tiny, SDK-free scripts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { INIT_BODY, answerOf, configFromYaml, pidAlive, rawPost, rawSession, waitFor } from './helpers/proxy.js';
import { sessionTag } from '../src/observability/session-tag.js';

/** Compiled to dist/test/, so the fixtures are two levels up. */
function fixture(name: string): string {
  return fileURLToPath(new URL(`../../test/fixtures/stdio/${name}`, import.meta.url));
}

function stdioDest(name: string, args: string[], stdio = 'max_restarts: 2, restart_backoff_ms: 50, kill_grace_ms: 500, on_exit: restart'): string {
  return `  ${name}:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify(args)}\n    stdio: { ${stdio} }\n`;
}

interface RpcBody {
  id?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { code?: string } };
}

let proxy: ProxyHandle;
let scratch: string;
/** Every line the proxy's main thread logged (pino JSON, parsed). */
const mainLog: Array<Record<string, unknown>> = [];

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'mithril-stdio-life-'));
  const yaml =
    'listen: { host: 127.0.0.1, port: 0 }\nworkers: 2\nlog_level: silent\nlimits: { max_pending_pushes: 8 }\ndestinations:\n' +
    stdioDest('slow', [fixture('slow-server.mjs')]) +
    stdioDest('crashy', [fixture('crash-on-start.mjs')]) +
    stdioDest('crashfirst', [fixture('crash-first.mjs'), join(scratch, 'started-once')]) +
    stdioDest('flood', [fixture('flood.mjs'), String(64 * 1024)]);
  const log = pino({ level: 'info' }, { write: (s: string) => void mainLog.push(JSON.parse(s) as Record<string, unknown>) });
  proxy = await startProxy(configFromYaml(yaml), { log });
});
after(async () => {
  await proxy.close();
  rmSync(scratch, { recursive: true, force: true });
});

const mcp = (dest: string): string => `${proxy.url}/${dest}/mcp`;

async function rpc(dest: string, sid: string, id: number | string, method: string, params?: unknown, signal?: AbortSignal): Promise<{ status: number; body: RpcBody }> {
  const r = await fetch(mcp(dest), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal: signal ?? null,
  });
  return { status: r.status, body: await answerOf<RpcBody>(r, id) };
}

async function childPid(dest: string, sid: string): Promise<number> {
  const r = await rpc(dest, sid, 'pid', 'pid');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result!.pid as number;
}

async function del(dest: string, sid: string): Promise<number> {
  const r = await fetch(mcp(dest), { method: 'DELETE', headers: { 'mcp-session-id': sid } });
  await r.arrayBuffer();
  return r.status;
}

type Seen = Array<{ id: unknown; method: string }>;

async function seen(dest: string, sid: string, probe: string): Promise<{ pid: number; seen: Seen }> {
  const r = await rpc(dest, sid, probe, 'seen');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result as { pid: number; seen: Seen };
}

test('a child killed mid-request: the request fails with a JSON-RPC error, the next one runs on a restarted child', async () => {
  const sid = await rawSession(mcp('slow'));
  try {
    const pid1 = await childPid('slow', sid);
    const inFlight = rpc('slow', sid, 3, 'sleep', { ms: 60_000 });
    let probes = 0;
    await waitFor(async () => (await seen('slow', sid, `probe-${++probes}`)).seen.some((m) => m.id === 3), 5000, 'the child to receive the slow request');

    process.kill(pid1, 'SIGKILL');
    const failed = await inFlight;
    assert.equal(failed.status, 502);
    assert.equal(failed.body.id, 3);
    assert.equal(failed.body.error?.code, -32001);
    assert.equal(failed.body.error?.data?.code, 'E_CHILD_EXITED');
    assert.match(failed.body.error?.message ?? '', /exited \(signal SIGKILL\)/);

    // Same downstream session, new child: state is fresh and the interrupted call was not replayed.
    const pid2 = await childPid('slow', sid);
    assert.notEqual(pid2, pid1);
    assert.ok(!pidAlive(pid1), 'the killed child is gone');
    const after = await seen('slow', sid, 'after');
    assert.equal(after.pid, pid2);
    assert.deepEqual(after.seen.map((m) => m.method), ['initialize', 'pid', 'seen']);
    assert.match(String(after.seen[0]!.id), /^mithril-reinit-/, 'the restarted child was re-initialized by the proxy');
  } finally {
    assert.equal(await del('slow', sid), 200);
  }
});

test('a command that dies on every start: initialize answers 502 after the allowed tries; other destinations keep serving', async () => {
  const started = Date.now();
  const crash = rawPost(mcp('crashy'), INIT_BODY);
  // While it fails and retries, a session on another destination works normally.
  const sid = await rawSession(mcp('slow'));
  try {
    const pid = await childPid('slow', sid);
    assert.ok(pidAlive(pid));

    const r = await crash;
    const body = (await r.json()) as RpcBody;
    assert.equal(r.status, 502);
    assert.equal(r.headers.get('mcp-session-id'), null, 'no session was created');
    assert.equal(body.id, 1);
    assert.equal(body.error?.code, -32001);
    assert.equal(body.error?.data?.code, 'E_CHILD_RESTARTS_EXHAUSTED');
    // The message names the server, the cause and the tries (1 start + max_restarts 2).
    assert.match(body.error?.message ?? '', /stdio server for crashy/);
    assert.match(body.error?.message ?? '', /exited \(code 1\)/);
    assert.match(body.error?.message ?? '', /before answering initialize/);
    assert.match(body.error?.message ?? '', /3 starts/);
    // Backoff 50 ms then 100 ms: it really waited for the retries before answering.
    assert.ok(Date.now() - started >= 150, `answered after ${Date.now() - started} ms`);

    assert.equal(await childPid('slow', sid), pid, 'the other session is undisturbed');
  } finally {
    assert.equal(await del('slow', sid), 200);
  }
  await waitFor(() => proxy.supervisor.childCount() === 0, 5000, 'no children left');
});

test('a child that dies before answering initialize is started again with the same initialize', async () => {
  const r = await rawPost(mcp('crashfirst'), INIT_BODY);
  const body = (await r.json()) as RpcBody;
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.id, 1);
  const sid = r.headers.get('mcp-session-id')!;
  try {
    // The second child got the client's own initialize (id 1), not a proxy re-initialize.
    const s = await seen('crashfirst', sid, 'probe');
    assert.deepEqual(s.seen, [{ id: 1, method: 'initialize' }, { id: 'probe', method: 'seen' }]);
  } finally {
    assert.equal(await del('crashfirst', sid), 200);
  }
});

test('a child flooding a client that does not read: the proxy\'s memory stays bounded', async () => {
  const sid = await rawSession(mcp('flood'));
  // The downstream GET stream is opened and then not read: the socket fills, uWS holds, the
  // worker runs out of credit and stops reading the child's stdout.
  let received = 0;
  let res: http.IncomingMessage | undefined;
  const req = http.get(mcp('flood'), { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }, (r) => {
    res = r;
    r.on('data', (c: Buffer) => {
      received += c.length;
    });
    r.pause();
  });
  req.on('error', () => undefined);
  try {
    await waitFor(() => res !== undefined, 5000, 'GET stream headers');
    assert.equal(res!.statusCode, 200);
    await sleep(500);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    // The child writes ~64 KiB lines as fast as it can; unpaused this is hundreds of MB a second.
    await sleep(2500);
    const rssAfter = process.memoryUsage().rss;
    const grownMiB = (rssAfter - rssBefore) / (1024 * 1024);
    assert.ok(grownMiB < 64, `proxy RSS grew by ${grownMiB.toFixed(1)} MiB while the client did not read`);

    // It was a real flood, held back, not a stall: reading again lets it flow.
    const before = received;
    res!.resume();
    await waitFor(() => received - before > 8 * 1024 * 1024, 10_000, 'the flood to flow once the client reads');
  } finally {
    req.destroy();
    assert.equal(await del('flood', sid), 200);
  }
});

test('200 sessions opened and closed leave no child process behind', async () => {
  const total = 200;
  const concurrency = 10;
  const pids: number[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) {
      next++;
      const sid = await rawSession(mcp('slow'));
      pids.push(await childPid('slow', sid));
      assert.equal(await del('slow', sid), 200);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  assert.equal(pids.length, total);
  assert.equal(new Set(pids).size, total, 'one child per session');
  // DELETE answers once the worker closed the upstream session, child exit included.
  const alive = pids.filter(pidAlive);
  assert.deepEqual(alive, [], 'children still running after their sessions were deleted');
  assert.equal(proxy.supervisor.childCount(), 0);
});

describe('a client that vanishes mid-request', () => {
  test('is logged, and the proxy keeps serving that session and others', async () => {
    const sid = await rawSession(mcp('slow'));
    const ac = new AbortController();
    const gone = rpc('slow', sid, 'vanish', 'sleep', { ms: 400 }, ac.signal);
    let probes = 0;
    await waitFor(async () => (await seen('slow', sid, `probe-${++probes}`)).seen.some((m) => m.id === 'vanish'), 5000, 'the child to receive the slow request');
    ac.abort();
    await assert.rejects(gone, { name: 'AbortError' });
    await waitFor(() => mainLog.some((l) => l.msg === 'request' && l.session === sessionTag(sid) && l.status === 499), 5000, 'the abort to be logged');

    // The child's late reply lands nowhere; nothing breaks.
    await sleep(600);
    const other = await rawSession(mcp('slow'));
    assert.ok((await childPid('slow', other)) > 0);
    const again = await rpc('slow', sid, 'again', 'sleep', { ms: 10 });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.result, { slept: 10 });
    assert.equal(await del('slow', other), 200);
    assert.equal(await del('slow', sid), 200);
  });
});
