/**
 * A worker thread that dies: its sessions answer 404 (clients re-initialize), its stdio children
 * are reaped, it is restarted, and the proxy keeps serving new sessions throughout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { counterServerPath } from './helpers/counter-upstream.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { pidAlive, rawPost, startTestProxy, stdioCounterYaml, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let proxy: ProxyHandle;

before(async () => {
  proxy = await startTestProxy(stdioCounterYaml('local', counterServerPath()));
});
after(async () => {
  await proxy.close();
});

test('a worker killed mid-run: the process keeps serving new sessions', async () => {
  const url = `${proxy.url}/local/mcp`;
  // Two sessions land on the two workers (least-loaded placement).
  const a = await connectStreamable(url);
  const b = await connectStreamable(url);
  const pidA = (JSON.parse(await callText(a.client, 'whoami')) as { pid: number }).pid;
  const workerA = proxy.core.table.lookup(a.sessionId()!);
  const workerB = proxy.core.table.lookup(b.sessionId()!);
  assert.notEqual(workerA, workerB, 'least-loaded placement spreads sessions');

  await proxy.supervisor.kill(workerA);

  // The dead worker's session is gone (404 -> the client must re-initialize) and its child reaped.
  const r = await rawPost(url, '{"jsonrpc":"2.0","id":5,"method":"tools/list"}', { 'mcp-session-id': a.sessionId()! });
  assert.equal(r.status, 404);
  await r.text();
  await waitFor(() => !pidAlive(pidA), 5000, 'the dead worker\'s child to be killed');

  // The other worker's session is untouched.
  assert.equal(await callText(b.client, 'increment'), '1');

  // New sessions work, including once the worker has been restarted.
  await waitFor(() => proxy.supervisor.isUp(workerA), 5000, 'worker restart');
  const c = await connectStreamable(url);
  const d = await connectStreamable(url);
  assert.equal(await callText(c.client, 'increment'), '1');
  assert.equal(await callText(d.client, 'increment'), '1');
  for (const x of [b, c, d]) {
    await x.transport.terminateSession();
    await x.close();
  }
  await a.close().catch(() => {});
});
