/**
 * B1 bridge for virtual servers (src/virtual/bridged.ts): raw 2026-07-28 clients through a real
 * proxy (2 workers) to a virtual server whose members are session-era servers: the SDK counter
 * over stdio and over Streamable HTTP, and the notifier over stdio. The proxy keeps one bridged
 * virtual session per (client, virtual name), initializes it itself, answers server/discover from
 * the merged initialize result, lists merged names, routes calls to the right member with that
 * client's member sessions, and serves subscriptions/listen from the members' notifications.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningUpstream, counterServerPath, startCounterHttp } from './helpers/counter-upstream.js';
import { notifierPath } from './fixtures/notifier-upstream.js';
import { type MrtrHttp, startMrtrHttp } from './fixtures/mrtr-upstream.js';
import { configFromYaml } from './helpers/proxy.js';
import { SseReader, body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';

type Rpc = { id?: unknown; method?: string; params?: Record<string, unknown> & { _meta?: Record<string, unknown> }; result?: Record<string, unknown>; error?: { code: number; message: string } };

const ALICE = 'vbridge-alice-0123456789abcdef0';
const BOB = 'vbridge-bob-0123456789abcdef000';
process.env.MT_VB_ALICE = ALICE;
process.env.MT_VB_BOB = BOB;

let web: RunningUpstream;
let mrtr: MrtrHttp;
let proxy: ProxyHandle;
const mrtrPath = new URL('./fixtures/mrtr-upstream.js', import.meta.url).pathname;

before(async () => {
  web = await startCounterHttp();
  mrtr = await startMrtrHttp();
  const yaml = `listen: { host: 127.0.0.1, port: 0 }
workers: 2
log_level: warn
auth:
  clients:
    alice: { token: "\${env:MT_VB_ALICE}", destinations: ["*"] }
    bob: { token: "\${env:MT_VB_BOB}", destinations: ["*"] }
virtual_servers:
  team:
    destinations: [cnt, web, note]
  asks:
    destinations: [mweb, mchild]
destinations:
  mweb:
    transport: streamable_http
    url: ${mrtr.url}
  mchild:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(mrtrPath)}, --stdio]
  cnt:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(counterServerPath())}, --stdio]
  web:
    transport: streamable_http
    url: ${web.url}
  note:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(notifierPath())}, --stdio]
`;
  proxy = await startProxy(configFromYaml(yaml), {});
});
after(async () => {
  await proxy.close();
  await web.close();
  await mrtr.close();
});

const as = (token: string, method: string, name?: string): Record<string, string> => ({ ...headers2026(method, name), authorization: `Bearer ${token}` });

async function call(token: string, id: string | number, method: string, params: Record<string, unknown> = {}): Promise<{ status: number; rpc: Rpc; sid: string | null }> {
  const name = typeof params.name === 'string' ? params.name : undefined;
  const res = await post2026(`${proxy.url}/team/mcp`, body2026(id, method, params), as(token, method, name));
  const text = await res.text();
  const json = text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? 'data: {}').slice(6);
  return { status: res.status, rpc: JSON.parse(json) as Rpc, sid: res.headers.get('mcp-session-id') };
}

const value = (r: Rpc): number => (r.result?.structuredContent as { value: number }).value;
const tool = async (token: string, name: string): Promise<number> => value((await call(token, `c-${name}`, 'tools/call', { name, arguments: {} })).rpc);

describe('B1 bridge: 2026 clients to a virtual server of session-era members', () => {
  test('server/discover is answered from the merged initialize result', async () => {
    const r = await call(ALICE, 'd1', 'server/discover');
    assert.equal(r.status, 200);
    assert.equal(r.sid, null, 'no session for a 2026 client');
    assert.equal(r.rpc.id, 'd1');
    assert.equal(r.rpc.result?.resultType, 'complete');
    assert.ok((r.rpc.result?.supportedVersions as string[]).includes('2026-07-28'));
    const caps = r.rpc.result?.capabilities as Record<string, { listChanged?: boolean }>;
    assert.ok(caps.tools, 'the merged tools capability');
    assert.equal(caps.tools?.listChanged, true, 'listChanged from the notifier member');
  });

  test('tools/list has the merged, member-prefixed names', async () => {
    const r = await call(ALICE, 'l1', 'tools/list');
    assert.equal(r.status, 200);
    assert.equal(r.rpc.id, 'l1');
    assert.equal(r.rpc.result?.resultType, 'complete');
    const names = (r.rpc.result?.tools as { name: string }[]).map((t) => t.name);
    for (const n of ['cnt__increment', 'cnt__get', 'web__increment', 'web__get', 'note__touch_tools']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);
    assert.ok(!names.includes('increment'), 'no unprefixed names');
  });

  test('tools/call goes to the named member; two clients have their own member sessions', async () => {
    const [ac0, aw0, bc0, bw0] = [await tool(ALICE, 'cnt__get'), await tool(ALICE, 'web__get'), await tool(BOB, 'cnt__get'), await tool(BOB, 'web__get')];
    for (let i = 0; i < 3; i++) await tool(ALICE, 'cnt__increment');
    await tool(ALICE, 'web__increment');
    const r = await call(ALICE, 7, 'tools/call', { name: 'cnt__get', arguments: {} });
    assert.equal(r.rpc.id, 7, 'the client id comes back');
    assert.equal(r.rpc.result?.resultType, 'complete');
    assert.equal(value(r.rpc), ac0 + 3, 'three increments on alice\'s cnt member');
    assert.equal(await tool(ALICE, 'web__get'), aw0 + 1, 'one on her web member');
    assert.equal(await tool(BOB, 'cnt__get'), bc0, 'bob\'s cnt session is his own');
    assert.equal(await tool(BOB, 'web__get'), bw0, 'bob\'s web session is his own');
  });

  test('an unknown member or method: -32602 / 404 -32601 with the client id', async () => {
    const missing = await call(ALICE, 'm1', 'tools/call', { name: 'nobody__x', arguments: {} });
    assert.equal(missing.rpc.id, 'm1');
    assert.equal(missing.rpc.error?.code, -32602);
    const unknown = await call(ALICE, 'm2', 'nosuch/method');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.rpc.error?.code, -32601);
  });

  test('subscriptions/listen on the virtual server carries a member\'s tools/list_changed', async () => {
    const ac = new AbortController();
    const res = await post2026(`${proxy.url}/team/mcp`, body2026('V1', 'subscriptions/listen', { notifications: { toolsListChanged: true } }), as(ALICE, 'subscriptions/listen'), ac.signal);
    assert.equal(res.status, 200);
    const reader = new SseReader(res);
    const ack = (await reader.next()) as Rpc;
    assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
    assert.deepEqual(ack.params?.notifications, { toolsListChanged: true });
    assert.equal((await call(ALICE, 'n1', 'tools/call', { name: 'note__touch_tools', arguments: {} })).rpc.result?.resultType, 'complete');
    const n = (await reader.next()) as Rpc;
    assert.equal(n.method, 'notifications/tools/list_changed');
    assert.equal(n.params?._meta?.['io.modelcontextprotocol/subscriptionId'], 'V1');
    ac.abort();
  });
});

describe('B1 MRTR through a virtual server', () => {
  const ask = async (id: string, name: string, extra: Record<string, unknown> = {}): Promise<Rpc> => {
    const params = { name, arguments: { q: `${name}?` }, ...extra };
    const res = await post2026(`${proxy.url}/asks/mcp`, body2026(id, 'tools/call', params, { elicitation: {} }), as(ALICE, 'tools/call', name));
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const json = text.startsWith('{') ? text : (text.split('\n').filter((l) => l.startsWith('data: ')).at(-1) ?? 'data: {}').slice(6);
    return JSON.parse(json) as Rpc;
  };
  for (const member of ['mweb', 'mchild']) {
    test(`a ${member === 'mweb' ? 'Streamable HTTP' : 'stdio'} member's elicitation becomes input_required; the retry gets the tool result`, async () => {
      const name = `${member}__ask`;
      const first = await ask(`${member}-1`, name);
      assert.equal(first.id, `${member}-1`);
      assert.equal(first.result?.resultType, 'input_required', JSON.stringify(first));
      const requests = first.result?.inputRequests as Record<string, { method: string; params?: { message?: string } }>;
      const [key, req] = Object.entries(requests)[0]!;
      assert.equal(req.method, 'elicitation/create');
      assert.equal(req.params?.message, `${name}?`);
      const done = await ask(`${member}-2`, name, { inputResponses: { [key]: { action: 'accept', content: { name: 'Vi' } } }, requestState: first.result?.requestState });
      assert.equal(done.id, `${member}-2`);
      assert.equal(done.result?.resultType, 'complete', JSON.stringify(done));
      assert.equal((done.result?.content as { text: string }[])[0]?.text, 'answer:Vi');
    });
  }
});
