/**
 * Health probe after idle: an upstream session unused for health_probe_after_ms is pinged before
 * the next request. Alive -> the request goes through on the same upstream session. Lost (the
 * upstream restarted meanwhile) -> the client gets 404 and re-initializes, instead of a 502 on
 * every call of a session that can never work again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { httpYaml, rawPost, rawSession, startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let upstream: RunningUpstream;
let proxy: ProxyHandle;
let port: number;

before(async () => {
  upstream = await startCounterHttp();
  port = Number(new URL(upstream.url).port);
  proxy = await startTestProxy(httpYaml('web', upstream.url), 'health_probe_after_ms: 150\n');
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an idle but healthy upstream session is probed and kept', async () => {
  const c = await connectStreamable(`${proxy.url}/web/mcp`);
  assert.equal(await callText(c.client, 'increment'), '1');
  await sleep(300);
  assert.equal(await callText(c.client, 'increment'), '2', 'same upstream session after the probe');
  await c.transport.terminateSession();
  await c.close();
});

test('an upstream that lost the session while idle: 404, then a fresh session works', async () => {
  const url = `${proxy.url}/web/mcp`;
  const sid = await rawSession(url);
  const ok = await rawPost(url, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', { 'mcp-session-id': sid });
  assert.equal(ok.status, 200);
  await ok.text();
  // The upstream restarts on the same port and forgets every session.
  await upstream.close();
  upstream = await startCounterHttp({ port });
  await sleep(300);
  const lost = await rawPost(url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', { 'mcp-session-id': sid });
  assert.equal(lost.status, 404);
  assert.equal(((await lost.json()) as { error: { code: number } }).error.code, -32002);
  const fresh = await rawSession(url);
  const r = await rawPost(url, '{"jsonrpc":"2.0","id":4,"method":"tools/list"}', { 'mcp-session-id': fresh });
  assert.equal(r.status, 200);
  await r.text();
});
