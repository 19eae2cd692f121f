/**
 * B1 bridge (issue 10): raw 2026-07-28 clients (fetch) through a real proxy with 2 workers to
 * session-era SDK counter servers — one over Streamable HTTP, one as a stdio child. The proxy
 * answers server/discover from the upstream's initialize, keeps one upstream session per
 * (authenticated client, destination), rewrites ids so one client's concurrent calls never
 * collide, and patches results for 2026 (resultType, error codes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningUpstream, counterServerPath, startCounterHttp } from './helpers/counter-upstream.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { callText } from './helpers/mcp-client.js';
import { configFromYaml } from './helpers/proxy.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } };

const ALICE = 'bridge-alice-0123456789abcdef00';
const BOB = 'bridge-bob-0123456789abcdef0000';
process.env.MT_BRIDGE_ALICE = ALICE;
process.env.MT_BRIDGE_BOB = BOB;

let legacy: RunningUpstream;
let proxy: ProxyHandle;

before(async () => {
  legacy = await startCounterHttp();
  const yaml = `listen: { host: 127.0.0.1, port: 0 }
workers: 2
log_level: warn
auth:
  clients:
    alice: { token: "\${env:MT_BRIDGE_ALICE}", destinations: ["*"] }
    bob: { token: "\${env:MT_BRIDGE_BOB}", destinations: ["*"] }
destinations:
  web:
    transport: streamable_http
    url: ${legacy.url}
  child:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(counterServerPath())}, --stdio]
`;
  proxy = await startProxy(configFromYaml(yaml), {});
});
after(async () => {
  await proxy.close();
  await legacy.close();
});

const as = (token: string, method: string, name?: string): Record<string, string> => ({ ...headers2026(method, name), authorization: `Bearer ${token}` });

async function call(dest: string, token: string, id: string | number, method: string, params: Record<string, unknown> = {}): Promise<{ status: number; rpc: Rpc; sid: string | null; sse: boolean }> {
  const name = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined;
  const res = await post2026(`${proxy.url}/${dest}/mcp`, body2026(id, method, params), as(token, method, name));
  const text = await res.text();
  const json = text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? 'data: {}').slice(6);
  return { status: res.status, rpc: JSON.parse(json) as Rpc, sid: res.headers.get('mcp-session-id'), sse: !text.startsWith('{') };
}

const value = (r: Rpc): number => (r.result?.structuredContent as { value: number }).value;

for (const dest of ['web', 'child']) {
  describe(`B1 bridge: 2026 clients to a session-era ${dest === 'web' ? 'Streamable HTTP' : 'stdio'} upstream`, () => {
    test('server/discover is answered from the upstream initialize result', async () => {
      const r = await call(dest, ALICE, 'd1', 'server/discover');
      assert.equal(r.status, 200);
      assert.equal(r.sid, null, 'a 2026 reply mints no session');
      assert.equal(r.rpc.id, 'd1');
      assert.equal(r.rpc.result?.resultType, 'complete');
      assert.ok((r.rpc.result?.supportedVersions as string[]).includes('2026-07-28'));
      assert.ok((r.rpc.result?.capabilities as Record<string, unknown>).tools, 'the upstream tools capability');
      const info = (r.rpc.result?._meta as Record<string, { name: string }>)['io.modelcontextprotocol/serverInfo'];
      assert.equal(typeof info?.name, 'string');
    });

    test('tools/list and tools/call carry resultType and the client id; state is kept per client', async () => {
      const list = await call(dest, ALICE, 'l1', 'tools/list');
      assert.equal(list.rpc.id, 'l1');
      assert.equal(list.rpc.result?.resultType, 'complete');
      assert.equal(list.rpc.result?.ttlMs, 0);
      assert.ok((list.rpc.result?.tools as { name: string }[]).some((t) => t.name === 'increment'));
      const a0 = value((await call(dest, ALICE, 1, 'tools/call', { name: 'get', arguments: {} })).rpc);
      const b0 = value((await call(dest, BOB, 1, 'tools/call', { name: 'get', arguments: {} })).rpc);
      for (let i = 0; i < 3; i++) await call(dest, ALICE, 2, 'tools/call', { name: 'increment', arguments: {} });
      const a = await call(dest, ALICE, 3, 'tools/call', { name: 'get', arguments: {} });
      const b = await call(dest, BOB, 3, 'tools/call', { name: 'get', arguments: {} });
      assert.equal(a.rpc.id, 3);
      assert.equal(a.rpc.result?.resultType, 'complete');
      assert.equal(value(a.rpc), a0 + 3, 'alice keeps her upstream session');
      assert.equal(value(b.rpc), b0, 'bob never sees alice\'s state');
    });

    test('20 concurrent calls with the same id from one client all get their own answer', async () => {
      const before = value((await call(dest, BOB, 'x', 'tools/call', { name: 'get', arguments: {} })).rpc);
      const all = await Promise.all(Array.from({ length: 20 }, () => call(dest, BOB, 7, 'tools/call', { name: 'increment', arguments: {} })));
      for (const r of all) {
        assert.equal(r.status, 200);
        assert.equal(r.rpc.id, 7);
        assert.equal(r.rpc.result?.resultType, 'complete');
      }
      const seen = all.map((r) => value(r.rpc)).sort((x, y) => x - y);
      assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => before + i + 1), 'each increment answered once, none lost or duplicated');
    });

    test('unknown method: -32601 with the id (404 when the upstream answered with a JSON body); the next call still works', async () => {
      const r = await call(dest, ALICE, 'u1', 'nosuch/method');
      // An upstream that answers on an SSE stream has had its 200 sent before the error is seen.
      assert.equal(r.status, r.sse ? 200 : 404);
      assert.equal(r.rpc.id, 'u1');
      assert.equal(r.rpc.error?.code, -32601);
      const ok = await call(dest, ALICE, 'u2', 'tools/list');
      assert.equal(ok.status, 200);
    });
  });
}

describe('B1 bridge next to the session era', () => {
  test('a 2025 SDK client and a 2026 raw client on the same destination at once, each with its own state', async () => {
    const client = new Client({ name: 'bridge-test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${proxy.url}/web/mcp`), { requestInit: { headers: { authorization: `Bearer ${ALICE}` } } });
    await client.connect(transport);
    const sdk = { client, sessionId: () => transport.sessionId, close: () => client.close() };
    try {
      const bridged0 = value((await call('web', ALICE, 's0', 'tools/call', { name: 'get', arguments: {} })).rpc);
      const [sdkCount, bridged] = await Promise.all([
        (async () => {
          for (let i = 0; i < 5; i++) await callText(sdk.client, 'increment');
          return callText(sdk.client, 'get');
        })(),
        Promise.all(Array.from({ length: 5 }, (_, i) => call('web', ALICE, `s${i + 1}`, 'tools/call', { name: 'increment', arguments: {} }))),
      ]);
      assert.equal(sdkCount, '5', 'the 2025 session has its own upstream session');
      assert.ok(sdk.sessionId());
      assert.ok(bridged.every((r) => r.status === 200 && r.rpc.result?.resultType === 'complete'));
      const after = value((await call('web', ALICE, 's9', 'tools/call', { name: 'get', arguments: {} })).rpc);
      assert.equal(after, bridged0 + 5);
    } finally {
      await sdk.close();
    }
  });

  test('without credentials a bridged request is refused like any other', async () => {
    const res = await post2026(`${proxy.url}/web/mcp`, body2026('n1', 'tools/list'), headers2026('tools/list'));
    await res.arrayBuffer();
    assert.equal(res.status, 401);
  });
});
