/**
 * Graceful shutdown: close() lets a request in flight finish, refuses new sessions meanwhile,
 * answers what outlives the drain with a 503 JSON-RPC error (never a reset or a hang), and leaves
 * no child process behind.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { INIT_BODY, pidAlive, rawPost, startTestProxy, waitFor } from './helpers/proxy.js';

const SLOW = fileURLToPath(new URL('../../test/fixtures/stdio/slow-server.mjs', import.meta.url));
const slowYaml = `  slow:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(SLOW)}]\n`;

async function session(url: string): Promise<{ sid: string; pid: number }> {
  const r = await rawPost(url, INIT_BODY);
  assert.equal(r.status, 200);
  const body = (await r.json()) as { result: { pid: number } };
  return { sid: r.headers.get('mcp-session-id')!, pid: body.result.pid };
}

const sleepCall = (id: number, ms: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'sleep', params: { ms } });

test('a request in flight finishes during the drain; new sessions are refused; children end', async () => {
  const proxy = await startTestProxy(slowYaml);
  const url = `${proxy.url}/slow/mcp`;
  const { sid, pid } = await session(url);
  const inflight = rawPost(url, sleepCall(2, 600), { 'mcp-session-id': sid });
  await new Promise((r) => setTimeout(r, 100));
  const closing = proxy.close({ drainMs: 5000 });
  await waitFor(() => proxy.core.draining, 1000, 'draining');
  // The connection pool may still reach the proxy: a new session must be refused, not started.
  const refused = await rawPost(url, INIT_BODY).catch(() => undefined);
  if (refused) {
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { data: { code: string } } }).error.data.code, 'E_SHUTTING_DOWN');
  }
  const done = await inflight;
  assert.equal(done.status, 200, 'the request in flight completed');
  assert.match(await done.text(), /"id":2/);
  await closing;
  await waitFor(() => !pidAlive(pid), 5000, 'the child to end');
});

test('a request that outlives the drain is answered 503, not reset', async () => {
  const proxy = await startTestProxy(slowYaml);
  const url = `${proxy.url}/slow/mcp`;
  const { sid, pid } = await session(url);
  const inflight = rawPost(url, sleepCall(3, 10_000), { 'mcp-session-id': sid });
  await new Promise((r) => setTimeout(r, 100));
  await proxy.close({ drainMs: 300 });
  const r = await inflight;
  assert.equal(r.status, 503);
  const body = (await r.json()) as { id: number; error: { data: { code: string } } };
  assert.equal(body.id, 3);
  assert.equal(body.error.data.code, 'E_SHUTTING_DOWN');
  await waitFor(() => !pidAlive(pid), 5000, 'the child to end');
});
