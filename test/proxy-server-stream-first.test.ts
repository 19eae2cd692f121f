/**
 * A server message sent on the upstream's standalone GET stream right after initialize reaches the
 * client (found as a 30 s hang of proxy-server-messages.test.ts in a full run): the proxy opens
 * that stream when the client's notifications/initialized goes by, and a tools/call that followed
 * at once could reach the upstream first. The TypeScript SDK server drops a message for a
 * standalone stream it does not have yet, so the tool's sampling request was lost and the call
 * never ended. Requests now wait (at most SERVER_STREAM_HOLD_MS) for the GET to be answered.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callText, connectSse, connectStreamable } from './helpers/mcp-client.js';
import { httpYaml, startTestProxy } from './helpers/proxy.js';
import { type SdkUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';
import type { ProxyHandle } from '../src/proxy.js';
import { SERVER_STREAM_HOLD_MS } from '../src/upstream/streamable-http-client.js';

/** The upstream answers its GET this late: well inside the hold, far longer than a POST takes. */
const GET_DELAY_MS = 300;

let upstream: SdkUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startStreamableUpstream({ enableJsonResponse: false, getDelayMs: GET_DELAY_MS });
  proxy = await startTestProxy(httpYaml('slowget', upstream.url));
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

test('the hold is longer than the slow GET of this test (else the test proves nothing)', () => {
  assert.ok(SERVER_STREAM_HOLD_MS > GET_DELAY_MS * 2);
});

test('legacy SSE client: sampling on the upstream GET stream during the first call after initialize', { timeout: 15_000 }, async () => {
  const c = await connectSse(`${proxy.url}/slowget/sse`, { onSampling: (p) => `sampled:${p}` });
  try {
    assert.equal(await callText(c.client, 'ask_unrelated', { text: 'first' }), 'sampled:first');
  } finally {
    await c.close();
  }
});

test('Streamable HTTP client: the same, and later calls are not held', { timeout: 15_000 }, async () => {
  const c = await connectStreamable(`${proxy.url}/slowget/mcp`, { onSampling: (p) => `sampled:${p}` });
  try {
    assert.equal(await callText(c.client, 'ask_unrelated', { text: 'one' }), 'sampled:one');
    // The stream is up now: a call goes straight through (no GET_DELAY_MS wait each time).
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) assert.equal(await callText(c.client, 'echo', { text: `e${i}` }), `e${i}`);
    assert.ok(Date.now() - t0 < GET_DELAY_MS * 3, `5 calls took ${Date.now() - t0} ms`);
  } finally {
    await c.close();
  }
});
