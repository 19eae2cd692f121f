/**
 * An MCP-Protocol-Version the proxy does not serve is answered in the 2026-07-28 shape
 * (basic/transports/streamable-http "Protocol Version Header"): 400, -32022
 * UnsupportedProtocolVersion with the request's id, `data.supported` = every version served,
 * newest first, and `data.requested`. The same answer for session-era and 2026 destinations (the era of such a
 * request is unknown); a 2026 client can retry with a listed version, a session-era one just sees
 * the 400. Nothing reaches an upstream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { httpYaml, rawPost, rawSession, startTestProxy } from './helpers/proxy.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { SUPPORTED_VERSIONS } from '../src/era/detect.js';
import { ErrorCode } from '../src/errors.js';
import type { ProxyHandle } from '../src/proxy.js';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

let up: Raw2026Upstream;
let legacy: RunningUpstream;
let proxy: ProxyHandle;

before(async () => {
  up = await startRaw2026Upstream();
  legacy = await startCounterHttp();
  proxy = await startTestProxy(`${httpYaml('old', legacy.url)}  modern:\n    transport: streamable_http\n    url: ${up.url}\n    protocol: 2026\n`);
});
after(async () => {
  await proxy.close();
  await up.close();
  await legacy.close();
});

async function assertUnsupported(res: Response, requested: string, id: unknown): Promise<void> {
  assert.equal(res.status, 400);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const j = (await res.json()) as Rpc;
  assert.equal(j.id, id, 'the error carries the request id');
  assert.equal(j.error?.code, -32022);
  assert.equal(j.error?.data?.code, ErrorCode.UnsupportedProtocolVersion);
  assert.deepEqual(j.error?.data?.supported, [...SUPPORTED_VERSIONS]);
  assert.equal(j.error?.data?.requested, requested);
}

describe('an unknown MCP-Protocol-Version', () => {
  test('the list of supported versions is every served revision, newest first', () => {
    assert.deepEqual([...SUPPORTED_VERSIONS], ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);
  });

  test('to a 2026 destination: 400 -32022 with data.supported/requested; a retry with data.supported[0] is served', async () => {
    const url = `${proxy.url}/modern/mcp`;
    const seen = up.requests.length;
    await assertUnsupported(await post2026(url, body2026('v1', 'tools/list'), headers2026('tools/list', undefined, { 'mcp-protocol-version': '2099-01-01' })), '2099-01-01', 'v1');
    assert.equal(up.requests.length, seen, 'the upstream never saw it');
    const retry = await post2026(url, body2026('v2', 'tools/list'), headers2026('tools/list', undefined, { 'mcp-protocol-version': SUPPORTED_VERSIONS[0]! }));
    assert.equal(retry.status, 200);
    assert.ok(Array.isArray(((await retry.json()) as Rpc).result?.tools));
  });

  test('to a session-era destination, in and out of a session: the same 400; the session still works', async () => {
    const url = `${proxy.url}/old/mcp`;
    const list = '{"jsonrpc":"2.0","id":7,"method":"tools/list"}';
    await assertUnsupported(await rawPost(url, list, { 'mcp-protocol-version': '1999-01-01' }), '1999-01-01', 7);
    const sid = await rawSession(url);
    await assertUnsupported(await rawPost(url, list, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-13-01' }), '2025-13-01', 7);
    const ok = await rawPost(url, list, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    assert.equal(ok.status, 200);
    await ok.text();
  });
});
