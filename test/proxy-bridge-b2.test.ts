/**
 * B2 bridge (issue 10): session-era clients (the real SDK Client, 2025-11-25, and raw 2025-06-18
 * POSTs) on a `protocol: 2026` destination served by the raw 2026-07-28 fixture. Before B2 the
 * proxy forwarded the client's `initialize` to the 2026-only upstream, which refused it (400
 * -32020, no MCP-Protocol-Version header), so no session-era client could use such a destination.
 * Now the proxy answers initialize from `server/discover` and speaks 2026 upstream: _meta spliced,
 * Mcp-* headers, MRTR rounds as elicitation requests, cancellation, listen-backed subscriptions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { type Raw2026Upstream, type Recorded, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { callText } from './helpers/mcp-client.js';
import { INIT_BODY, rawPost, startTestProxy, waitFor } from './helpers/proxy.js';
import { V2026, body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import type { ProxyHandle } from '../src/proxy.js';

const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const INFO = 'io.modelcontextprotocol/clientInfo';
const LEVEL = 'io.modelcontextprotocol/logLevel';

let up: Raw2026Upstream;
let proxy: ProxyHandle;
let url: string;
let briefUrl: string;
let stretchUrl: string;

before(async () => {
  up = await startRaw2026Upstream({ bridgeTools: true });
  proxy = await startTestProxy(`  modern:\n    transport: streamable_http\n    url: ${up.url}\n    protocol: 2026\n`
    + `  brief:\n    transport: streamable_http\n    url: ${up.url}\n    protocol: 2026\n    timeouts: { request_ms: 300, max_request_ms: 800 }\n`
    + `  stretch:\n    transport: streamable_http\n    url: ${up.url}\n    protocol: 2026\n    timeouts: { request_ms: 300, max_request_ms: 5000 }\n`);
  url = `${proxy.url}/modern/mcp`;
  briefUrl = `${proxy.url}/brief/mcp`;
  stretchUrl = `${proxy.url}/stretch/mcp`;
});
after(async () => {
  await proxy.close();
  await up.close();
});

interface Opened { client: Client; transport: StreamableHTTPClientTransport; asked: string[]; close(): Promise<void> }

/** An SDK client (2025-11-25) that declares elicitation and answers each question with `answer(n)`. */
async function open(name: string, opts: { elicitation?: boolean; answer?: (message: string) => string | Promise<string>; url?: string } = {}): Promise<Opened> {
  const caps = opts.elicitation === false ? {} : { elicitation: {} };
  const client = new Client({ name, version: '1.0.0' }, { capabilities: caps });
  const asked: string[] = [];
  if (opts.elicitation !== false) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      const message = req.params.message;
      asked.push(message);
      return { action: 'accept', content: { answer: opts.answer ? await opts.answer(message) : `re ${message}` } };
    });
  }
  const transport = new StreamableHTTPClientTransport(new URL(opts.url ?? url));
  await client.connect(transport);
  // DELETE first: a client that only closes leaves its session to the idle reaper.
  return { client, transport, asked, close: async () => {
    await transport.terminateSession();
    await client.close();
  } };
}

function metaOf(r: Recorded): Record<string, unknown> {
  const msg = JSON.parse(r.body) as { params?: { _meta?: Record<string, unknown> } };
  return msg.params?._meta ?? {};
}

/** Recorded upstream tools/call requests whose arguments contain `text`. */
function callsWith(text: string): Recorded[] {
  return up.requests.filter((r) => r.rpcMethod === 'tools/call' && r.body.includes(text));
}

describe('B2: session-era clients on a 2026-07-28 destination', () => {
  test('regression: a raw 2025-06-18 initialize is answered by the proxy from server/discover (it used to be relayed as the upstream\'s 400 -32020)', async () => {
    const before = up.requests.length;
    const r = await rawPost(url, INIT_BODY);
    assert.equal(r.status, 200);
    const sid = r.headers.get('mcp-session-id');
    assert.ok(sid, 'the proxy minted a session');
    const text = await r.text();
    const body = (text.startsWith('{') ? JSON.parse(text) : JSON.parse(text.split('\n').find((l) => l.startsWith('data: '))!.slice(6))) as {
      id: number; result: { protocolVersion: string; serverInfo: { name: string }; capabilities: Record<string, unknown>; instructions?: string };
    };
    assert.equal(body.id, 1);
    assert.equal(body.result.protocolVersion, '2025-06-18');
    assert.deepEqual(body.result.serverInfo, { name: 'raw-2026', version: '1.0.0' });
    assert.ok(body.result.capabilities.tools);
    assert.equal(body.result.instructions, 'raw 2026 test server');
    const seen = up.requests.slice(before);
    assert.deepEqual(seen.map((x) => x.rpcMethod), ['server/discover']);
    assert.equal(seen[0]?.headers['mcp-protocol-version'], V2026);
    assert.equal(seen[0]?.status, 200);
  });

  test('the SDK client connects: serverInfo, capabilities, instructions and the negotiated 2025-11-25 come from discover', async () => {
    const c = await open('b2-init');
    try {
      assert.deepEqual(c.client.getServerVersion(), { name: 'raw-2026', version: '1.0.0' });
      const caps = c.client.getServerCapabilities();
      assert.deepEqual(caps?.tools, { listChanged: true });
      assert.deepEqual(caps?.resources, { subscribe: true, listChanged: true });
      assert.equal(c.client.getInstructions(), 'raw 2026 test server');
      assert.equal(c.transport.protocolVersion, '2025-11-25');
      assert.ok(c.transport.sessionId, 'the client holds the proxy\'s session id');
    } finally {
      await c.close();
    }
  });

  test('tools/list, tools/call, resources/read, prompts/get and ping through the bridge, with 2026 _meta and headers upstream', async () => {
    const c = await open('b2-basic');
    try {
      const tools = await c.client.listTools();
      // badhdr's x-mcp-header is invalid: a 2026 client must drop it, so the bridge does.
      assert.deepEqual(tools.tools.map((t) => t.name), ['echo', 'ask', 'route', 'slow', 'ask2', 'nag']);
      const raw = await post2026(url, body2026(70, 'tools/list'), headers2026('tools/list'));
      const listed = ((await raw.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((t) => t.name);
      assert.ok(listed.includes('badhdr'), 'the upstream lists it (pass-through shows it)');
      assert.equal(await callText(c.client, 'echo', { text: 'b2-basic-hello' }), 'b2-basic-hello');
      const res = await c.client.readResource({ uri: 'mem://café' });
      assert.deepEqual(res.contents, [{ uri: 'mem://café', mimeType: 'text/plain', text: 'crème' }]);
      const prompt = await c.client.getPrompt({ name: 'greet', arguments: { who: 'b2' } });
      assert.deepEqual(prompt.messages, [{ role: 'user', content: { type: 'text', text: 'Say hello to b2' } }]);
      const before = up.requests.length;
      assert.deepEqual(await c.client.ping(), {});
      assert.equal(up.requests.length, before, 'ping is answered by the proxy');

      const [call] = callsWith('b2-basic-hello');
      assert.ok(call);
      assert.equal(call.status, 200);
      assert.equal(call.headers['mcp-method'], 'tools/call');
      assert.equal(call.headers['mcp-name'], 'echo');
      const meta = metaOf(call);
      assert.equal(meta[PV], V2026);
      assert.deepEqual(meta[CAPS], { elicitation: {} });
      assert.deepEqual(meta[INFO], { name: 'b2-basic', version: '1.0.0' });
      const read = up.requests.filter((r) => r.rpcMethod === 'resources/read').at(-1);
      assert.equal(read?.headers['mcp-name'], '=?base64?' + Buffer.from('mem://café').toString('base64') + '?=');
    } finally {
      await c.close();
    }
  });

  test('a tool that answers input_required: the SDK client\'s elicitation handler answers and the tool result arrives (one round)', async () => {
    const c = await open('b2-ask', { answer: () => 'forty-two' });
    try {
      assert.equal(await callText(c.client, 'ask', { question: 'b2 meaning?' }), 'answer: forty-two');
      assert.deepEqual(c.asked, ['b2 meaning?']);
      const rounds = callsWith('b2 meaning?');
      assert.equal(rounds.length, 2, 'the original request and one retry');
      const first = JSON.parse(rounds[0]!.body) as { id: unknown };
      const retry = JSON.parse(rounds[1]!.body) as { id: unknown; params: { inputResponses?: Record<string, unknown>; requestState?: unknown } };
      assert.notEqual(retry.id, first.id, 'the retry has a new id');
      assert.deepEqual(retry.params.inputResponses, { answer: { action: 'accept', content: { answer: 'forty-two' } } });
      assert.equal(typeof retry.params.requestState, 'string');
    } finally {
      await c.close();
    }
  });

  test('two input_required rounds in a row', async () => {
    const c = await open('b2-ask2', { answer: (m) => m.replace('question', 'answer') });
    try {
      assert.equal(await callText(c.client, 'ask2'), 'answers: answer 1, answer 2');
      assert.deepEqual(c.asked, ['question 1', 'question 2']);
    } finally {
      await c.close();
    }
  });

  test('an upstream that keeps answering input_required is cut after 8 rounds with a JSON-RPC error', async () => {
    const c = await open('b2-nag');
    try {
      await assert.rejects(c.client.callTool({ name: 'nag', arguments: {} }), (err: Error & { code?: number }) => {
        assert.match(err.message, /more than 8 times/);
        assert.equal(err.code, -32001);
        return true;
      });
      assert.equal(c.asked.length, 8);
    } finally {
      await c.close();
    }
  });

  test('Mcp-Param-* headers from the x-mcp-header specs of the session\'s tools/list', async () => {
    const c = await open('b2-route');
    try {
      await c.client.listTools();
      assert.equal(await callText(c.client, 'route', { region: 'eu-wést', query: 'b2-route-q' }), 'region eu-wést: b2-route-q');
      const [call] = callsWith('b2-route-q');
      assert.equal(call?.headers['mcp-param-region'], '=?base64?' + Buffer.from('eu-wést').toString('base64') + '?=');
      assert.equal(call?.headers['mcp-name'], 'route');
    } finally {
      await c.close();
    }
  });

  test('two SDK clients at once keep their own capabilities, clientInfo and logLevel', async () => {
    const a = await open('b2-a');
    const b = await open('b2-b', { elicitation: false });
    try {
      await a.client.setLoggingLevel('debug');
      await Promise.all([callText(a.client, 'echo', { text: 'from-b2-a' }), callText(b.client, 'echo', { text: 'from-b2-b' })]);
      const ma = metaOf(callsWith('from-b2-a')[0]!);
      const mb = metaOf(callsWith('from-b2-b')[0]!);
      assert.deepEqual(ma[CAPS], { elicitation: {} });
      assert.equal(ma[LEVEL], 'debug');
      assert.deepEqual(ma[INFO], { name: 'b2-a', version: '1.0.0' });
      assert.deepEqual(mb[CAPS], {});
      assert.equal(mb[LEVEL], undefined);
      assert.deepEqual(mb[INFO], { name: 'b2-b', version: '1.0.0' });
      assert.ok(!up.requests.some((r) => r.rpcMethod === 'logging/setLevel'), 'setLevel is not forwarded');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a raw 2026 client on the same destination at the same time still passes through', async () => {
    const c = await open('b2-side');
    try {
      const [sdkText, raw] = await Promise.all([
        callText(c.client, 'echo', { text: 'b2-side-sdk' }),
        post2026(url, body2026(7, 'tools/call', { name: 'echo', arguments: { text: 'b2-side-raw' } }), headers2026('tools/call', 'echo')),
      ]);
      assert.equal(sdkText, 'b2-side-sdk');
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get('mcp-session-id'), null);
      const body = (await raw.json()) as { id: number; result: { content: Array<{ text: string }> } };
      assert.equal(body.id, 7);
      assert.equal(body.result.content[0]?.text, 'b2-side-raw');
      assert.deepEqual(metaOf(callsWith('b2-side-raw')[0]!)[INFO], { name: 'raw-test', version: '1' });
    } finally {
      await c.close();
    }
  });

  test('notifications/cancelled from the client aborts the upstream request', async () => {
    const c = await open('b2-cancel');
    try {
      const ac = new AbortController();
      const p = c.client.callTool({ name: 'slow', arguments: { steps: 100, delayMs: 50 } }, undefined, { signal: ac.signal });
      await waitFor(() => up.requests.some((r) => r.rpcMethod === 'tools/call' && r.body.includes('"steps":100')), 5000, 'the slow call upstream');
      const id = up.requests.filter((r) => r.body.includes('"steps":100')).at(-1)!.id;
      ac.abort('test cancels');
      await assert.rejects(p);
      await waitFor(() => up.cancelled.includes(id), 5000, 'the upstream saw its stream closed');
    } finally {
      await c.close();
    }
  });

  test('resources/subscribe is served from subscriptions/listen and the update reaches the client without the subscriptionId', async () => {
    const c = await open('b2-sub');
    const updates: Array<Record<string, unknown>> = [];
    c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params as Record<string, unknown>);
    });
    try {
      const before = up.requests.length;
      assert.deepEqual(await c.client.subscribeResource({ uri: 'mem://greeting' }), {});
      assert.ok(!up.requests.slice(before).some((r) => r.rpcMethod === 'resources/subscribe'));
      await waitFor(() => up.notify({ uri: 'mem://greeting' }) > 0 || false, 5000, 'a listen with the subscription');
      await waitFor(() => updates.length > 0, 5000, 'the update notification');
      assert.deepEqual(updates[0], { uri: 'mem://greeting' });
      const listen = up.requests.filter((r) => r.rpcMethod === 'subscriptions/listen').at(-1)!;
      const params = (JSON.parse(listen.body) as { params: { notifications: { resourceSubscriptions?: string[] } } }).params;
      assert.deepEqual(params.notifications.resourceSubscriptions, ['mem://greeting']);
      assert.deepEqual(metaOf(listen)[INFO], { name: 'b2-sub', version: '1.0.0' });
    } finally {
      await c.close();
    }
  });
  test('progress notifications on the upstream reply stream reach the client, then the result', async () => {
    const c = await open('b2-progress');
    try {
      const seen: number[] = [];
      const r = await c.client.callTool({ name: 'slow', arguments: { steps: 3, delayMs: 10 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
      assert.deepEqual(seen, [1, 2, 3]);
      assert.deepEqual(r.content, [{ type: 'text', text: 'done after 3' }]);
    } finally {
      await c.close();
    }
  });

  test('an upstream error status (404 -32601) reaches the client as a JSON-RPC error, and the session lives on', async () => {
    const c = await open('b2-unknown');
    try {
      await assert.rejects(c.client.listResourceTemplates(), (err: Error & { code?: number }) => {
        assert.equal(err.code, -32601);
        assert.match(err.message, /Method not found/);
        return true;
      });
      const b = await open('b2-unknown-noelicit', { elicitation: false });
      try {
        // The upstream's 400 -32021 (the client declared no elicitation) as the JSON-RPC error it is.
        await assert.rejects(b.client.callTool({ name: 'ask', arguments: { question: 'q?' } }), (err: Error & { code?: number }) => {
          assert.equal(err.code, -32021);
          return true;
        });
      } finally {
        await b.close();
      }
      assert.equal(await callText(c.client, 'echo', { text: 'still-here' }), 'still-here');
    } finally {
      await c.close();
    }
  });

  test('a first tools/call without tools/list still carries Mcp-Param-* (the proxy lists tools once itself)', async () => {
    const c = await open('b2-route-cold');
    try {
      const before = up.requests.length;
      assert.equal(await callText(c.client, 'route', { region: 'us', query: 'b2-cold-q' }), 'region us: b2-cold-q');
      assert.equal(await callText(c.client, 'route', { region: 'ap', query: 'b2-cold-q2' }), 'region ap: b2-cold-q2');
      // (The client's GET stream opens a listen at its own pace: not part of this count.)
      const seen = up.requests.slice(before).map((r) => r.rpcMethod).filter((m) => m !== 'subscriptions/listen');
      assert.deepEqual(seen, ['tools/list', 'tools/call', 'tools/call'], 'one tools/list for the session');
      assert.equal(callsWith('b2-cold-q"')[0]?.headers['mcp-param-region'], 'us');
    } finally {
      await c.close();
    }
  });

  test('progress extends a call past request_ms (up to max_request_ms), as on session-era upstreams', async () => {
    const c = await open('b2-stretch', { url: stretchUrl });
    try {
      let seen = 0;
      const t0 = Date.now();
      const r = await c.client.callTool({ name: 'slow', arguments: { steps: 20, delayMs: 50 } }, undefined, { onprogress: () => seen++ });
      assert.ok(Date.now() - t0 > 300, 'the call outlived request_ms');
      assert.equal(seen, 20);
      assert.deepEqual(r.content, [{ type: 'text', text: 'done after 20' }]);
    } finally {
      await c.close();
    }
  });

  test('a client that never answers the elicitation is bounded by the request deadline (max_request_ms)', async () => {
    let release: (v: string) => void = () => {};
    const never = new Promise<string>((r) => {
      release = r;
    });
    const c = await open('b2-silent', { url: briefUrl, answer: () => never });
    try {
      const t0 = Date.now();
      await assert.rejects(c.client.callTool({ name: 'ask', arguments: { question: 'b2-silent?' } }), (err: Error & { code?: number }) => {
        assert.equal(err.code, -32001);
        assert.match(err.message, /max_request_ms/);
        return true;
      });
      assert.ok(Date.now() - t0 < 5000);
      assert.deepEqual(c.asked, ['b2-silent?']);
      assert.equal(callsWith('b2-silent?').length, 1, 'no retry without an answer');
    } finally {
      release('late');
      await c.close();
    }
  });

  test('notifications/cancelled alone (the reply stream still open) aborts upstream and ends the reply without a response', async () => {
    const init = await rawPost(url, INIT_BODY);
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    // Not awaited: the proxy answers the head only once the reply's shape is known.
    const callP = rawPost(url, JSON.stringify({ jsonrpc: '2.0', id: 'c-1', method: 'tools/call', params: { name: 'slow', arguments: { steps: 100, delayMs: 50 } } }), h);
    await waitFor(() => up.requests.some((r) => r.rpcMethod === 'tools/call' && r.id === 'c-1'), 5000, 'the call upstream');
    const n = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c-1', reason: 'test' } }), h);
    assert.equal(n.status, 202);
    await waitFor(() => up.cancelled.includes('c-1'), 5000, 'the upstream saw its stream closed');
    const call = await callP;
    assert.equal(call.status, 200);
    const rest = await call.text();
    assert.ok(!rest.includes('"id":"c-1"'), `no response for the cancelled request: ${rest}`);
    await (await fetch(url, { method: 'DELETE', headers: h })).text();
  });

  test('resources/unsubscribe reopens the listen without the URI; a gracefully ended listen is reopened', async () => {
    const c = await open('b2-unsub');
    const updates: string[] = [];
    c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    try {
      await c.client.subscribeResource({ uri: 'mem://b2-x' });
      await waitFor(() => up.notify({ uri: 'mem://b2-x' }) > 0, 5000, 'a listen with mem://b2-x');
      await waitFor(() => updates.length > 0, 5000, 'the first update');
      const listens = (): number => up.requests.filter((r) => r.rpcMethod === 'subscriptions/listen' && metaOf(r)[INFO] !== undefined && r.body.includes('b2-unsub')).length;
      const before = listens();
      up.endListens();
      await waitFor(() => listens() > before, 5000, 'the listen reopened after its graceful end');
      await waitFor(() => up.notify({ uri: 'mem://b2-x' }) > 0, 5000, 'the reopened listen has the subscription');
      await waitFor(() => updates.length > 1, 5000, 'an update through the reopened listen');
      await c.client.unsubscribeResource({ uri: 'mem://b2-x' });
      await waitFor(() => up.notify({ uri: 'mem://b2-x' }) === 0, 5000, 'no listen subscribed to mem://b2-x');
      // The old listen may be gone before its replacement arrives upstream: wait for the new one.
      const lastSubs = (): unknown => {
        const last = up.requests.filter((r) => r.rpcMethod === 'subscriptions/listen' && r.body.includes('b2-unsub')).at(-1)!;
        return (JSON.parse(last.body) as { params: { notifications: Record<string, unknown> } }).params.notifications.resourceSubscriptions;
      };
      await waitFor(() => lastSubs() === undefined, 5000, 'a listen reopened without mem://b2-x');
      assert.equal(lastSubs(), undefined);
    } finally {
      await c.close();
    }
  });

  test('a legacy HTTP+SSE client (GET /NAME/sse) is bridged the same way, elicitation included', async () => {
    const client = new Client({ name: 'b2-legacy-sse', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { answer: 'over sse' } }));
    const transport = new SSEClientTransport(new URL(`${proxy.url}/modern/sse`));
    await client.connect(transport);
    try {
      assert.deepEqual(client.getServerVersion(), { name: 'raw-2026', version: '1.0.0' });
      assert.equal(await callText(client, 'echo', { text: 'b2-legacy-echo' }), 'b2-legacy-echo');
      assert.equal(await callText(client, 'ask', { question: 'b2-legacy?' }), 'answer: over sse');
    } finally {
      await client.close();
    }
  });

  test('every session\'s listen ends upstream once its session is deleted', async () => {
    await waitFor(() => up.listenStreams() === 0, 5000, 'no listen left open');
  });

  test('after all of the above: the upstream never saw initialize, notifications/initialized or Mcp-Session-Id, and every POST carried MCP-Protocol-Version 2026-07-28', () => {
    assert.ok(up.requests.length > 50);
    for (const r of up.requests) {
      assert.notEqual(r.rpcMethod, 'initialize');
      assert.notEqual(r.rpcMethod, 'notifications/initialized');
      assert.equal(r.headers['mcp-session-id'], undefined);
      assert.equal(r.httpMethod, 'POST');
      assert.equal(r.headers['mcp-protocol-version'], V2026);
    }
  });
});
