/**
 * Issue 9's worker crash, through the whole proxy: deeply nested client JSON is refused at the
 * door with a JSON-RPC error carrying the request's id, and a deep-but-allowed initialize that is
 * replayed to a restarted stdio child leaves that session working and its worker (with the other
 * sessions on it) alive. One worker, so every session shares it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { MAX_DEPTH } from '../src/upstream/jsonrpc-envelope.js';
import { answerOf, configFromYaml, rawPost, waitFor } from './helpers/proxy.js';

function fixture(name: string): string {
  return fileURLToPath(new URL(`../../test/fixtures/stdio/${name}`, import.meta.url));
}

interface RpcBody {
  id?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { code?: string } };
}

let proxy: ProxyHandle;
const mainLog: Array<Record<string, unknown>> = [];

before(async () => {
  const yaml = 'listen: { host: 127.0.0.1, port: 0 }\nworkers: 1\nlog_level: silent\ndestinations:\n'
    + `  echo:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(fixture('echo-server.mjs'))}]\n`
    + '    stdio: { on_exit: restart, max_restarts: 3, restart_backoff_ms: 50, kill_grace_ms: 500 }\n';
  const log = pino({ level: 'info' }, { write: (s: string) => void mainLog.push(JSON.parse(s) as Record<string, unknown>) });
  proxy = await startProxy(configFromYaml(yaml), { log });
});
after(async () => {
  await proxy.close();
});

const url = (): string => `${proxy.url}/echo/mcp`;

/** An initialize in the SDK's key order (id last), with `levels` nested arrays in params. */
function deepInit(id: string, levels: number): string {
  return `{"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},`
    + `"clientInfo":{"name":"deep","version":"1"},"deep":${'['.repeat(levels)}${']'.repeat(levels)}},"jsonrpc":"2.0","id":"${id}"}`;
}

async function open(body: string): Promise<string> {
  const r = await rawPost(url(), body);
  assert.equal(r.status, 200, await r.clone().text());
  await r.arrayBuffer();
  const sid = r.headers.get('mcp-session-id')!;
  const n = await rawPost(url(), '{"jsonrpc":"2.0","method":"notifications/initialized"}', { 'mcp-session-id': sid });
  await n.arrayBuffer();
  return sid;
}

async function call(sid: string, id: string, method: string): Promise<{ status: number; body: RpcBody }> {
  const r = await rawPost(url(), JSON.stringify({ jsonrpc: '2.0', id, method }), { 'mcp-session-id': sid });
  return { status: r.status, body: await answerOf<RpcBody>(r, id) };
}

describe('deeply nested client JSON', () => {
  test('a 100k-deep initialize (200 KB) is 400 E_NESTING_TOO_DEEP with its id, and no session starts', async () => {
    const body = deepInit('deep-1', 100_000);
    assert.ok(body.length > 200_000);
    const r = await rawPost(url(), body);
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('mcp-session-id'), null);
    const b = (await r.json()) as RpcBody;
    assert.equal(b.id, 'deep-1');
    assert.equal(b.error?.code, -32600);
    assert.equal(b.error?.data?.code, 'E_NESTING_TOO_DEEP');
    assert.match(b.error!.message, new RegExp(`deeper than ${MAX_DEPTH}`));
  });

  test('a too-deep request inside a live session is refused the same way; the session goes on', async () => {
    const sid = await open(deepInit('ok-0', 4));
    const deep = `{"jsonrpc":"2.0","method":"tools/call","params":{"a":${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}},"id":42}`;
    const r = await rawPost(url(), deep, { 'mcp-session-id': sid });
    assert.equal(r.status, 400);
    const b = (await r.json()) as RpcBody;
    assert.equal(b.id, 42);
    assert.equal(b.error?.data?.code, 'E_NESTING_TOO_DEEP');
    assert.equal((await call(sid, 'after', 'pid')).status, 200);
  });

  test('a deep-but-allowed initialize survives its child crashing; other sessions on the worker are untouched', async () => {
    // MAX_DEPTH - 2 arrays inside params inside the message: exactly at the limit.
    const a = await open(deepInit('a-init', MAX_DEPTH - 2));
    const b = await open(deepInit('b-init', 3));
    const pidA = (await call(a, 'a1', 'pid')).body.result!.pid as number;
    const pidB = (await call(b, 'b1', 'pid')).body.result!.pid as number;
    process.kill(pidA, 'SIGKILL');
    // The restarted child was re-initialized with the replayed (id-rewritten) deep initialize.
    let stats: Record<string, unknown> | undefined;
    await waitFor(async () => {
      const r = await call(a, `a-stats-${Date.now()}`, 'stats');
      if (r.status !== 200 || r.body.result === undefined) return false;
      stats = r.body.result;
      return stats.pid !== pidA;
    }, 15_000, 'session A served by a restarted child');
    assert.deepEqual(stats!.initIds, ['mithril-reinit-1']);
    assert.equal(stats!.badLines, 0);
    const rb = await call(b, 'b2', 'pid');
    assert.equal(rb.status, 200, JSON.stringify(rb.body));
    assert.equal(rb.body.result!.pid, pidB, 'session B kept its child');
    const lost = mainLog.filter((l) => JSON.stringify(l).includes('E_WORKER_LOST') || /worker thread died/.test(String(l.msg)));
    assert.deepEqual(lost, []);
    const health = (await (await fetch(`${proxy.url}/healthz`)).json()) as Record<string, unknown>;
    assert.equal(health.status, 'ok');
  });
});
