import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { patchLegacyResponse } from '../src/era/legacy-response.js';
import { type SdkUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';

describe('patchLegacyResponse (B1: session-era responses made valid for 2026 clients)', () => {
  let up: SdkUpstream;
  let sid = '';
  const post = async (body: object): Promise<string> => {
    const res = await fetch(up.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', accept: 'application/json, text/event-stream',
        ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } : {}),
      },
      body: JSON.stringify(body),
    });
    sid ||= res.headers.get('mcp-session-id') ?? '';
    return res.text();
  };
  before(async () => {
    up = await startStreamableUpstream({ enableJsonResponse: true });
    await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  });
  after(async () => {
    await up.close();
  });

  test('a real tools/list result gains resultType, ttlMs and cacheScope and keeps everything else', async () => {
    const frame = await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const p = patchLegacyResponse(frame, 'tools/list');
    assert.equal(p.status, 200);
    const orig = JSON.parse(frame) as { result: Record<string, unknown> };
    const patched = JSON.parse(p.frame) as { result: Record<string, unknown> };
    assert.ok((patched.result.tools as unknown[]).length >= 2);
    assert.deepEqual(patched.result, { ...orig.result, resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
  });

  test('a real tools/call result gains only resultType; an unknown method asks for 404', async () => {
    const frame = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
    const p = patchLegacyResponse(frame, 'tools/call');
    assert.deepEqual(JSON.parse(p.frame), { ...JSON.parse(frame), result: { ...JSON.parse(frame).result, resultType: 'complete' } });
    const nf = await post({ jsonrpc: '2.0', id: 3, method: 'nope/nothing' });
    assert.equal((JSON.parse(nf) as { error: { code: number } }).error.code, -32601);
    const q = patchLegacyResponse(nf, 'nope/nothing');
    assert.equal(q.status, 404);
    assert.equal(q.frame, nf);
  });

  test('-32002 becomes -32602; an existing resultType, empty results and odd frames are handled', () => {
    const e = patchLegacyResponse('{"jsonrpc":"2.0","id":4,"error":{"message":"Resource not found","code": -32002,"data":{"uri":"x"}}}', 'resources/read');
    assert.deepEqual(JSON.parse(e.frame), { jsonrpc: '2.0', id: 4, error: { message: 'Resource not found', code: -32602, data: { uri: 'x' } } });
    assert.deepEqual(JSON.parse(patchLegacyResponse('{"jsonrpc":"2.0","id":5,"result":{ }}', 'ping').frame).result, { resultType: 'complete' });
    const kept = '{"jsonrpc":"2.0","id":6,"result":{"resultType":"input_required","requestState":"x"}}';
    assert.equal(patchLegacyResponse(kept, 'tools/call').frame, kept);
    for (const odd of ['[]', '{"jsonrpc":"2.0","method":"n"}', '{"result":[]}', '{"result":1}']) assert.equal(patchLegacyResponse(odd, 'x').frame, odd);
  });

  test('on generated results the patch equals JSON.parse + the added members', () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 6 }), json, { maxKeys: 5 }), fc.constantFrom('tools/list', 'tools/call', 'resources/read'), (result, method) => {
      const frame = JSON.stringify({ jsonrpc: '2.0', id: 1, result });
      const got = JSON.parse(patchLegacyResponse(frame, method).frame) as { result: Record<string, unknown> };
      const want: Record<string, unknown> = { ...(JSON.parse(frame) as { result: Record<string, unknown> }).result };
      if (!Object.hasOwn(want, 'resultType')) want.resultType = 'complete';
      if (method !== 'tools/call') {
        if (!Object.hasOwn(want, 'ttlMs')) want.ttlMs = 0;
        if (!Object.hasOwn(want, 'cacheScope')) want.cacheScope = 'private';
      }
      assert.deepEqual(got.result, want);
    }), { numRuns: 1500, seed: 3 });
  });
});
