/**
 * Errors the proxy decides itself, before anything is forwarded, still answer with the request's
 * id when the body had a usable one (issue 8, item 9): a client matches the error to its request
 * instead of seeing `"id": null`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { httpYaml, rawPost, startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let upstream: RunningUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startCounterHttp();
  proxy = await startTestProxy(httpYaml('web', upstream.url));
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

async function idOf(r: Response): Promise<unknown> {
  return ((await r.json()) as { id: unknown }).id;
}

test('a request without a session id is answered with its id', async () => {
  const r = await rawPost(`${proxy.url}/web/mcp`, '{"jsonrpc":"2.0","id":41,"method":"tools/list"}');
  assert.equal(r.status, 400);
  assert.equal(await idOf(r), 41);
});

test('a request for an unknown session is answered with its id (string ids too)', async () => {
  const r = await rawPost(`${proxy.url}/web/mcp`, '{"jsonrpc":"2.0","id":"req-7","method":"tools/list"}', { 'mcp-session-id': 'f'.repeat(32) });
  assert.equal(r.status, 404);
  assert.equal(await idOf(r), 'req-7');
});

test('an invalid request that still has a usable id is answered with it; a parse error with null', async () => {
  const bad = await rawPost(`${proxy.url}/web/mcp`, '{"jsonrpc":"1.0","id":0,"method":"tools/list"}');
  assert.equal(bad.status, 400);
  assert.equal(await idOf(bad), 0);
  const parse = await rawPost(`${proxy.url}/web/mcp`, '{"jsonrpc":"2.0","id":3,');
  assert.equal(parse.status, 400);
  assert.equal(await idOf(parse), null);
});
