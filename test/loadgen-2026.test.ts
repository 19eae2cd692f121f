/**
 * The load generator's session-less 2026-07-28 mode (bench/loadtest/sessionless-2026-session.ts)
 * and the 2026 fast upstream of bench:compare's row (p): every reply is checked, directly and
 * through the proxy's pass-through, and the mode refuses a target that does not speak 2026.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFastUpstream, type FastUpstream } from '../examples/fast-upstream.js';
import { startFastUpstream2026, type FastUpstream2026 } from '../bench/loadtest/fast-upstream-2026.js';
import { runLoad } from '../bench/loadtest/run.js';
import { startTestProxy } from './helpers/proxy.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import type { ProxyHandle } from '../src/proxy.js';

describe('load generator, session-less 2026-07-28 calls', () => {
  let up: FastUpstream2026;
  let legacy: FastUpstream;
  let proxy: ProxyHandle;
  before(async () => {
    up = await startFastUpstream2026();
    legacy = await startFastUpstream({ port: 0, host: '127.0.0.1' });
    proxy = await startTestProxy(`  fast2026:\n    transport: streamable_http\n    protocol: 2026\n    url: ${up.url}\n`);
  });
  after(async () => {
    await proxy.close();
    up.close();
    legacy.close();
  });

  test('the 2026 fast upstream answers with resultType and refuses other versions with -32022', async () => {
    const ok = await post2026(up.url, body2026(1, 'tools/call', { name: 'echo', arguments: { text: 'hi' } }), headers2026('tools/call', 'echo'));
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { jsonrpc: '2.0', id: 1, result: { resultType: 'complete', content: [{ type: 'text', text: 'hi' }] } });
    const old = await post2026(up.url, body2026(2, 'tools/list'), headers2026('tools/list', undefined, { 'mcp-protocol-version': '2025-11-25' }));
    assert.equal(old.status, 400);
    assert.equal(((await old.json()) as { error: { code: number } }).error.code, -32022);
  });

  test('direct and through the pass-through, every reply verifies and the count is exact', async () => {
    for (const url of [up.url, `${proxy.url}/fast2026/mcp`]) {
      const r = await runLoad({ url, transport: 'streamable-2026', sessions: 3, concurrency: 2, requests: 150, payload: 300, threads: 1 });
      assert.equal(r.counts.ok, 150, url);
      assert.equal(r.counts.total, 150);
      assert.equal(r.sessionsFailed, 0);
      assert.equal(r.counts.errors + r.counts.lost + r.counts.mismatched, 0);
    }
    assert.equal([...proxy.core.store.all()].length, 0, 'no downstream session was made');
  });

  test('a session-era target fails the setup check instead of counting wrong replies as load', async () => {
    const r = await runLoad({ url: legacy.url, transport: 'streamable-2026', sessions: 2, concurrency: 1, requests: 10, threads: 1 });
    assert.equal(r.sessionsFailed, 2);
    assert.equal(r.counts.ok, 0);
  });
});
