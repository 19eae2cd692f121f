import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { InitializeResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_VERSIONS } from '../src/era/detect.js';
import { discoverFromInitialize, initializeFromDiscover } from '../src/era/discover-bridge.js';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { type SdkUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';

describe('B1: server/discover answered from a session-era upstream initialize (real SDK server)', () => {
  let up: SdkUpstream;
  before(async () => {
    up = await startStreamableUpstream({ enableJsonResponse: true });
  });
  after(async () => {
    await up.close();
  });

  test('versions, capabilities, serverInfo and cache fields come out as a DiscoverResult', async () => {
    const res = await fetch(up.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    assert.equal(res.status, 200);
    const init = ((await res.json()) as { result: Record<string, unknown> }).result;
    const d = discoverFromInitialize(init);
    assert.ok(d.ok);
    assert.equal(d.result.resultType, 'complete');
    assert.deepEqual(d.result.supportedVersions, [...SUPPORTED_VERSIONS]);
    const caps = d.result.capabilities as Record<string, unknown>;
    assert.ok(caps.tools, 'the SDK server has tools');
    assert.ok(caps.logging, 'and logging');
    assert.deepEqual((d.result._meta as Record<string, unknown>)['io.modelcontextprotocol/serverInfo'], init.serverInfo);
    assert.equal(d.result.ttlMs, 0);
    assert.equal(d.result.cacheScope, 'private');
  });

  test('drops capabilities without a 2026 meaning and refuses a result that is not an initialize result', () => {
    const d = discoverFromInitialize({ protocolVersion: '2025-11-25', capabilities: { tools: {}, tasks: { list: {} }, weird: 1 }, serverInfo: { name: 'x' } });
    assert.ok(d.ok);
    assert.deepEqual(d.result.capabilities, { tools: {} });
    assert.equal(d.result._meta, undefined, 'serverInfo without a version is not an Implementation');
    assert.equal(discoverFromInitialize({}).ok, false);
    assert.equal(discoverFromInitialize(null).ok, false);
  });
});

describe('B2: initialize answered from a 2026 upstream server/discover (raw fixture)', () => {
  let up: Raw2026Upstream;
  before(async () => {
    up = await startRaw2026Upstream();
  });
  after(async () => {
    await up.close();
  });

  test('the translated result is a valid InitializeResult for the SDK, in the revision the client asked for', async () => {
    const res = await post2026(up.url, body2026(1, 'server/discover'), headers2026('server/discover'));
    const discover = ((await res.json()) as { result: Record<string, unknown> }).result;
    for (const [asked, want] of [['2025-06-18', '2025-06-18'], ['2025-11-25', '2025-11-25'], ['2031-01-01', '2025-11-25']]) {
      const r = initializeFromDiscover(discover, asked as string);
      assert.ok(r.ok);
      const parsed = InitializeResultSchema.safeParse(r.result);
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
      assert.equal(r.result.protocolVersion, want);
      assert.deepEqual(r.result.serverInfo, { name: 'raw-2026', version: '1.0.0' });
      assert.equal(r.result.instructions, 'raw 2026 test server');
      assert.ok((r.result.capabilities as Record<string, unknown>).tools);
    }
  });

  test('an upstream that does not list 2026-07-28 is not bridged', () => {
    assert.equal(initializeFromDiscover({ supportedVersions: ['2025-11-25'], capabilities: {} }, '2025-11-25').ok, false);
    assert.equal(initializeFromDiscover({ capabilities: {} }, '2025-11-25').ok, false);
    const fallback = initializeFromDiscover({ supportedVersions: ['2026-07-28'], capabilities: {} }, '2025-11-25');
    assert.ok(fallback.ok);
    assert.ok(InitializeResultSchema.safeParse(fallback.result).success);
  });
});
