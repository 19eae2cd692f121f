/**
 * Graceful shutdown: close() lets a request in flight finish, refuses new sessions meanwhile,
 * answers what outlives the drain with a 503 JSON-RPC error (never a reset or a hang), and leaves
 * no child process behind.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
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

test('503s during the drain close their connection, so a reusing client meets no reset at exit', async () => {
  const proxy = await startTestProxy(slowYaml);
  const url = `${proxy.url}/slow/mcp`;
  const { sid } = await session(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (body: string): Promise<{ status: number; connection: string | undefined; socketClosed: Promise<void> }> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid } }, (res) => {
        const socket = req.socket!;
        const socketClosed = new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, socketClosed }));
      });
      req.on('error', reject);
      req.end(body);
    });
  try {
    // A kept-alive connection exists before the drain starts.
    const warm = await post(sleepCall(4, 1));
    assert.equal(warm.status, 200);
    const inflight = rawPost(url, sleepCall(5, 800), { 'mcp-session-id': sid });
    await new Promise((r) => setTimeout(r, 100));
    const closing = proxy.close({ drainMs: 3000 });
    await waitFor(() => proxy.core.shuttingDown || proxy.core.draining, 1000, 'draining');
    const refused = await post(INIT_BODY.replace('"id":1', '"id":6'));
    assert.equal(refused.status, 503);
    assert.equal(refused.connection, 'close');
    // The proxy ends the connection itself right after the answer.
    await Promise.race([refused.socketClosed, new Promise((_, rej) => setTimeout(() => rej(new Error('connection left open')), 2000))]);
    assert.equal((await inflight).status, 200);
    await closing;
  } finally {
    agent.destroy();
  }
});
