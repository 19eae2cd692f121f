/**
 * /metrics answers an operator's questions with exact numbers across 2 workers: requests by
 * destination x JSON-RPC method x status (refused ones too), upstream latency counted in the
 * workers and merged at scrape time, sessions by destination and worker, stdio restarts and
 * unexpected exits, and the protocol era of each request (2025 session revisions / 2026-07-28).
 * A real proxy, real stdio children (the example counter server and the slow-server fixture),
 * the raw 2026 fixture upstream, raw JSON-RPC over fetch.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { counterServerPath } from './helpers/counter-upstream.js';
import { type Scrape, scrape, total } from './helpers/prom.js';
import { pidAlive, rawPost, rawSession, startTestProxy, stdioCounterYaml, waitFor } from './helpers/proxy.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import type { ProxyHandle } from '../src/proxy.js';

const SLOW_SERVER = fileURLToPath(new URL('../../test/fixtures/stdio/slow-server.mjs', import.meta.url));

let proxy: ProxyHandle;
let up2026: Raw2026Upstream;

before(async () => {
  up2026 = await startRaw2026Upstream();
  const modern = `  modern:\n    transport: streamable_http\n    url: ${up2026.url}\n    protocol: 2026\n`;
  const slow = `  slow:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(SLOW_SERVER)}]\n    stdio: { on_exit: restart, max_restarts: 3, restart_backoff_ms: 50, kill_grace_ms: 500 }\n`;
  proxy = await startTestProxy(stdioCounterYaml('local', counterServerPath()) + slow + modern);
});
after(async () => {
  await proxy.close();
  await up2026.close();
});

const mcp = (dest: string): string => `${proxy.url}/${dest}/mcp`;
let nextId = 100;

async function call(dest: string, sid: string | undefined, method: string, params: unknown = {}): Promise<{ status: number; text: string }> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params });
  const r = await rawPost(mcp(dest), body, sid ? { 'mcp-session-id': sid } : {});
  return { status: r.status, text: await r.text() };
}

test('42 tools/call over 6 sessions on 2 workers count 42 under method="tools/call"; latency counted in the workers is exact', async () => {
  const sids: string[] = [];
  for (let i = 0; i < 6; i++) sids.push(await rawSession(mcp('local')));
  const workers = new Set(sids.map((sid) => proxy.core.store.get(sid, 'local')!.worker));
  assert.deepEqual([...workers].sort(), [0, 1], 'sessions spread over both workers');

  const calls: Array<Promise<{ status: number; text: string }>> = [];
  for (let i = 0; i < 42; i++) calls.push(call('local', sids[i % sids.length], 'tools/call', { name: 'increment', arguments: {} }));
  for (const r of await Promise.all(calls)) assert.equal(r.status, 200, r.text);
  // Refused by the acceptor: still counted, under their method and status.
  assert.equal((await call('local', undefined, 'tools/call', { name: 'get', arguments: {} })).status, 400);
  assert.equal((await call('local', 'f'.repeat(32), 'tools/list')).status, 404);

  const m: Scrape = await scrape(proxy.url);
  assert.equal(m.families.get('mithril_requests_total'), 'counter');
  assert.equal(total(m, 'mithril_requests_total', { dest: 'local', method: 'tools/call', status: '200' }), 42);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'local', method: 'tools/call', status: '200', era: '2025' }), 42, 'session requests are era 2025');
  assert.equal(total(m, 'mithril_requests_total', { dest: 'local', method: 'tools/call', status: '400' }), 1);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'local', method: 'tools/list', status: '404' }), 1);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'local', method: 'initialize', status: '200' }), 6);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'local', method: 'notifications/initialized', status: '202' }), 6);

  // Every forwarded request (6 initialize + 42 calls) was timed by the worker that owns it.
  assert.equal(total(m, 'mithril_upstream_latency_seconds_count', { dest: 'local', transport: 'stdio' }), 48);
  assert.equal(total(m, 'mithril_upstream_latency_seconds_bucket', { dest: 'local', transport: 'stdio', le: '+Inf' }), 48);
  assert.ok(total(m, 'mithril_upstream_latency_seconds_sum', { dest: 'local' }) > 0);
  const perWorker = await proxy.core.workerStats();
  const counts = perWorker.map((s) => s?.latency.find(([d]) => d === 'local')?.[2].count ?? 0);
  assert.ok(counts[0]! > 0 && counts[1]! > 0, `both workers timed requests: ${counts.join(',')}`);
  assert.equal(counts[0]! + counts[1]!, 48);

  assert.equal(total(m, 'mithril_sessions', { dest: 'local' }), 6);
  assert.ok(total(m, 'mithril_sessions', { dest: 'local', worker: '0' }) > 0);
  assert.ok(total(m, 'mithril_sessions', { dest: 'local', worker: '1' }) > 0);
  assert.equal(total(m, 'mithril_inflight_requests'), 0);
  assert.equal(total(m, 'mithril_workers_up'), 2);

  // A second scrape does not double anything (snapshots are totals, not deltas).
  const again = await scrape(proxy.url);
  assert.equal(total(again, 'mithril_upstream_latency_seconds_count', { dest: 'local' }), 48);
  assert.equal(total(again, 'mithril_requests_total', { dest: 'local', method: 'tools/call', status: '200' }), 42);

  for (const sid of sids) await fetch(mcp('local'), { method: 'DELETE', headers: { 'mcp-session-id': sid } }).then((r) => r.arrayBuffer());
  const end = await scrape(proxy.url);
  assert.equal(total(end, 'mithril_requests_total', { dest: 'local', method: 'DELETE', status: '200' }), 6);
  assert.equal(total(end, 'mithril_sessions', { dest: 'local' }), 0);
  assert.equal(total(end, 'mithril_sessions_ended_total', { dest: 'local', reason: 'delete' }), 6);
});

test('stdio children killed under sessions on both workers: restarts and exits count exactly', async () => {
  const sids: string[] = [];
  for (let i = 0; i < 4; i++) sids.push(await rawSession(mcp('slow')));
  assert.deepEqual([...new Set(sids.map((sid) => proxy.core.store.get(sid, 'slow')!.worker))].sort(), [0, 1]);
  const pidOf = async (sid: string): Promise<number> => {
    const r = await call('slow', sid, 'pid');
    assert.equal(r.status, 200, r.text);
    return (JSON.parse(r.text) as { result: { pid: number } }).result.pid;
  };
  const before = await Promise.all(sids.map(pidOf));
  for (const pid of before) process.kill(pid, 'SIGKILL');
  await waitFor(() => before.every((p) => !pidAlive(p)), 10_000, 'killed children gone');
  // Each session gets a fresh child (re-initialized by the proxy) and keeps serving.
  await waitFor(async () => {
    const now = await Promise.all(sids.map((sid) => call('slow', sid, 'pid')));
    return now.every((r) => r.status === 200);
  }, 20_000, 'sessions served by restarted children');
  const after = await Promise.all(sids.map(pidOf));
  for (let i = 0; i < after.length; i++) assert.notEqual(after[i], before[i]);

  const m = await scrape(proxy.url);
  assert.equal(total(m, 'mithril_stdio_restarts_total', { dest: 'slow' }), 4);
  assert.equal(total(m, 'mithril_stdio_exits_total', { dest: 'slow' }), 4);
  assert.equal(total(m, 'mithril_stdio_restarts_total', { dest: 'local' }), 0);
  assert.equal(total(m, 'mithril_stdio_children'), 4);
  for (const sid of sids) await fetch(mcp('slow'), { method: 'DELETE', headers: { 'mcp-session-id': sid } }).then((r) => r.arrayBuffer());
});

test('a worker that dies keeps its counted numbers in the totals (counters never go backwards)', async () => {
  const m0 = await scrape(proxy.url);
  const latency0 = total(m0, 'mithril_upstream_latency_seconds_count');
  const restarts0 = total(m0, 'mithril_stdio_restarts_total');
  assert.ok(latency0 > 0 && restarts0 > 0);
  await proxy.supervisor.kill(0);
  await waitFor(() => proxy.supervisor.isUp(0), 10_000, 'worker 0 back');
  const m1 = await scrape(proxy.url);
  assert.equal(total(m1, 'mithril_upstream_latency_seconds_count'), latency0);
  assert.equal(total(m1, 'mithril_stdio_restarts_total'), restarts0);
  assert.equal(total(m1, 'mithril_workers_up'), 2);
});

test('auth failures and rate-limited requests count by reason/scope, with a bounded label set', async () => {
  const metrics = proxy.core.metrics;
  for (let i = 0; i < 3; i++) metrics.authFailure('invalid_token');
  metrics.authFailure('missing');
  for (let i = 0; i < 5; i++) metrics.rateLimited('client');
  // A module passing client-derived text cannot grow the series set: past 64 values, "other".
  for (let i = 0; i < 100; i++) metrics.authFailure(`junk-${i}`);
  const m = await scrape(proxy.url);
  assert.equal(total(m, 'mithril_auth_failures_total', { reason: 'invalid_token' }), 3);
  assert.equal(total(m, 'mithril_auth_failures_total', { reason: 'missing' }), 1);
  assert.equal(total(m, 'mithril_rate_limited_total', { scope: 'client' }), 5);
  const reasons = new Set(m.samples.filter((s) => s.name === 'mithril_auth_failures_total').map((s) => s.labels.reason));
  assert.equal(reasons.size, 65, '64 distinct reasons plus "other"');
  assert.equal(total(m, 'mithril_auth_failures_total'), 104);
});

test('the era label: 2026-07-28 requests count under era="2026" (forwarded and refused), session ones under "2025"; no other value', async () => {
  const url = mcp('modern');
  for (let i = 0; i < 3; i++) {
    const r = await post2026(url, body2026(`e${i}`, 'tools/call', { name: 'echo', arguments: { text: 'x' } }), headers2026('tools/call', 'echo'));
    assert.equal(r.status, 200);
    await r.text();
  }
  // Refused by the acceptor before routing: still a 2026 request.
  const bad = await post2026(url, body2026('e-bad', 'tools/call', { name: 'echo', arguments: { text: 'x' } }), headers2026('tools/call', 'not-echo'));
  assert.equal(bad.status, 400);
  await bad.text();
  // An unknown MCP-Protocol-Version is answered in the 2026 shape and counted there.
  const unknown = await rawPost(url, body2026('e-v', 'tools/list'), { 'mcp-protocol-version': '2099-01-01' });
  assert.equal(unknown.status, 400);
  await unknown.text();

  const m = await scrape(proxy.url);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'modern', method: 'tools/call', status: '200', era: '2026' }), 3);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'modern', method: 'tools/call', status: '400', era: '2026' }), 1);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'modern', status: '400', era: '2026' }), 2);
  assert.equal(total(m, 'mithril_requests_total', { dest: 'modern', era: '2025' }), 0);
  assert.equal(total(m, 'mithril_request_duration_seconds_count', { dest: 'modern', era: '2026' }), 5);
  assert.equal(total(m, 'mithril_request_duration_seconds_count', { dest: 'modern', era: '2025' }), 0);
  assert.ok(total(m, 'mithril_request_duration_seconds_count', { dest: 'local', era: '2025' }) > 0);
  const eras = new Set(m.samples.filter((s) => s.name === 'mithril_requests_total' || s.name.startsWith('mithril_request_duration_seconds')).map((s) => s.labels.era));
  assert.deepEqual([...eras].sort(), ['2025', '2026'], 'every request sample has an era, one of two');
});
