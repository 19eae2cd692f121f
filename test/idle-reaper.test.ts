/**
 * Idle sessions end by themselves: a session with no traffic and no open stream for
 * session_idle_ms is closed (its upstream session too), and its id answers 404. A session with an
 * open stream is a connected client and is kept.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { httpYaml, rawPost, rawSession, startTestProxy, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let upstream: RunningUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startCounterHttp();
  proxy = await startTestProxy(httpYaml('web', upstream.url), 'session_idle_ms: 400\n');
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

test('an idle session without a stream is closed; one with an open stream is kept', async () => {
  const url = `${proxy.url}/web/mcp`;
  const closed = upstream.stats.sessionsClosed;
  const idle = await rawSession(url);
  const streaming = await rawSession(url);
  const ac = new AbortController();
  const stream = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': streaming }, signal: ac.signal });
  assert.equal(stream.status, 200);

  await waitFor(() => upstream.stats.sessionsClosed === closed + 1, 5000, 'the idle session to be reaped upstream');
  const r = await rawPost(url, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', { 'mcp-session-id': idle });
  assert.equal(r.status, 404);
  await r.text();
  const kept = await rawPost(url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', { 'mcp-session-id': streaming });
  assert.equal(kept.status, 200, 'a session with an open stream is not idle');
  await kept.text();
  ac.abort();
  await stream.body?.cancel().catch(() => {});
});
