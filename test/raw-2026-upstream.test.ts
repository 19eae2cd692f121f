/**
 * The raw 2026-07-28 fixture behaves as the spec says, checked with plain fetch. Other tests lean on
 * it (pass-through, bridges), so what it answers must be what a 2026 server answers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { SseReader, V2026, body2026, headers2026, post2026 } from './helpers/raw-2026.js';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

describe('raw 2026-07-28 upstream fixture', () => {
  let up: Raw2026Upstream;
  before(async () => {
    up = await startRaw2026Upstream({ keepaliveMs: 50 });
  });
  after(async () => {
    await up.close();
  });

  test('server/discover answers versions, capabilities, serverInfo and cache fields; no session id is minted', async () => {
    const res = await post2026(up.url, body2026(1, 'server/discover'), headers2026('server/discover', undefined, { 'mcp-session-id': 'abc' }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('mcp-session-id'), null);
    const j = (await res.json()) as Rpc;
    assert.equal(j.id, 1);
    assert.deepEqual(j.result?.supportedVersions, [V2026]);
    assert.equal(j.result?.resultType, 'complete');
    assert.equal(typeof j.result?.ttlMs, 'number');
    assert.equal(j.result?.cacheScope, 'public');
    assert.deepEqual((j.result?._meta as Record<string, unknown>)['io.modelcontextprotocol/serverInfo'], { name: 'raw-2026', version: '1.0.0' });
  });

  test('GET and DELETE answer 405 with Allow: POST', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(up.url, { method, headers: { accept: 'text/event-stream' } });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'POST');
      await res.arrayBuffer();
    }
  });

  test('tools/list and tools/call echo', async () => {
    const list = (await (await post2026(up.url, body2026(2, 'tools/list'), headers2026('tools/list'))).json()) as Rpc;
    const names = (list.result?.tools as { name: string }[]).map((t) => t.name);
    assert.deepEqual(names, ['echo', 'ask', 'route', 'slow']);
    const res = await post2026(up.url, body2026(3, 'tools/call', { name: 'echo', arguments: { text: 'hi' } }), headers2026('tools/call', 'echo'));
    assert.equal(res.status, 200);
    const j = (await res.json()) as Rpc;
    assert.deepEqual(j.result?.content, [{ type: 'text', text: 'hi' }]);
  });

  test('header/body mismatches and missing headers answer 400 HeaderMismatch (-32020)', async () => {
    const call = body2026(4, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
    const cases: [string, Record<string, string>][] = [
      ['no Mcp-Method', headers2026('tools/call', 'echo', { 'mcp-method': null })],
      ['wrong Mcp-Method', headers2026('tools/call', 'echo', { 'mcp-method': 'tools/list' })],
      ['no Mcp-Name', headers2026('tools/call')],
      ['wrong Mcp-Name', headers2026('tools/call', 'other')],
      ['no MCP-Protocol-Version', headers2026('tools/call', 'echo', { 'mcp-protocol-version': null })],
    ];
    for (const [what, h] of cases) {
      const res = await post2026(up.url, call, h);
      assert.equal(res.status, 400, what);
      const j = (await res.json()) as Rpc;
      assert.equal(j.error?.code, -32020, what);
      assert.equal(j.id, 4, what);
    }
    // _meta version differing from the header is a mismatch too.
    const body = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2025-11-25', 'io.modelcontextprotocol/clientCapabilities': {} } } });
    const res = await post2026(up.url, body, headers2026('tools/list'));
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Rpc).error?.code, -32020);
  });

  test('unsupported version answers 400 -32022 listing the supported ones; missing _meta fields answer 400 -32602', async () => {
    const res = await post2026(up.url, body2026(6, 'tools/list'), headers2026('tools/list', undefined, { 'mcp-protocol-version': '1900-01-01' }));
    assert.equal(res.status, 400);
    const j = (await res.json()) as Rpc;
    assert.equal(j.error?.code, -32022);
    assert.deepEqual(j.error?.data, { supported: [V2026], requested: '1900-01-01' });
    const noCaps = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V2026 } } });
    const r2 = await post2026(up.url, noCaps, headers2026('tools/list'));
    assert.equal(r2.status, 400);
    assert.equal(((await r2.json()) as Rpc).error?.code, -32602);
  });

  test('removed and unknown methods answer 404 -32601; notifications 202', async () => {
    for (const m of ['ping', 'initialize', 'nope/nothing']) {
      const res = await post2026(up.url, body2026(8, m), headers2026(m));
      assert.equal(res.status, 404, m);
      assert.equal(((await res.json()) as Rpc).error?.code, -32601, m);
    }
    const n = await post2026(up.url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }), headers2026('notifications/cancelled'));
    assert.equal(n.status, 202);
  });

  test('resources/read with a non-ASCII uri in the base64 Mcp-Name form; prompts/get', async () => {
    const uri = 'mem://café';
    const encoded = '=?base64?' + Buffer.from(uri).toString('base64') + '?=';
    const res = await post2026(up.url, body2026(9, 'resources/read', { uri }), headers2026('resources/read', encoded));
    assert.equal(res.status, 200);
    const j = (await res.json()) as Rpc;
    assert.equal((j.result?.contents as { text: string }[])[0]?.text, 'crème');
    assert.equal(j.result?.cacheScope, 'private');
    const p = (await (await post2026(up.url, body2026(10, 'prompts/get', { name: 'greet', arguments: { who: 'Ada' } }), headers2026('prompts/get', 'greet'))).json()) as Rpc;
    assert.match(JSON.stringify(p.result?.messages), /Say hello to Ada/);
  });

  test('Mcp-Param-Region is required and checked for the x-mcp-header tool', async () => {
    const b = body2026(11, 'tools/call', { name: 'route', arguments: { region: 'us-west1', query: 'q' } });
    const good = await post2026(up.url, b, headers2026('tools/call', 'route', { 'mcp-param-region': 'us-west1' }));
    assert.equal(good.status, 200);
    assert.match(JSON.stringify(await good.json()), /region us-west1/);
    const missing = await post2026(up.url, b, headers2026('tools/call', 'route'));
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as Rpc).error?.code, -32020);
    const wrong = await post2026(up.url, b, headers2026('tools/call', 'route', { 'mcp-param-region': 'eu-west1' }));
    assert.equal(wrong.status, 400);
  });

  test('MRTR: ask answers input_required with an elicitation and requestState, and completes on the retry', async () => {
    const caps = { elicitation: {} };
    const noCap = await post2026(up.url, body2026(12, 'tools/call', { name: 'ask', arguments: { question: 'colour?' } }), headers2026('tools/call', 'ask'));
    assert.equal(noCap.status, 400);
    assert.equal(((await noCap.json()) as Rpc).error?.code, -32021);

    const first = (await (await post2026(up.url, body2026(13, 'tools/call', { name: 'ask', arguments: { question: 'colour?' } }, caps), headers2026('tools/call', 'ask'))).json()) as Rpc;
    assert.equal(first.result?.resultType, 'input_required');
    const reqs = first.result?.inputRequests as Record<string, { method: string }>;
    assert.equal(reqs.answer?.method, 'elicitation/create');
    const state = first.result?.requestState;
    assert.equal(typeof state, 'string');

    const retry = body2026(14, 'tools/call', {
      name: 'ask', arguments: { question: 'colour?' }, requestState: state,
      inputResponses: { answer: { action: 'accept', content: { answer: 'blue' } } },
    }, caps);
    const done = (await (await post2026(up.url, retry, headers2026('tools/call', 'ask'))).json()) as Rpc;
    assert.equal(done.id, 14);
    assert.equal(done.result?.resultType, 'complete');
    assert.deepEqual(done.result?.content, [{ type: 'text', text: 'answer: blue' }]);

    const forged = body2026(15, 'tools/call', { name: 'ask', arguments: { question: 'colour?' }, requestState: String(state).slice(0, -2) + 'xx', inputResponses: {} }, caps);
    const bad = (await (await post2026(up.url, forged, headers2026('tools/call', 'ask'))).json()) as Rpc;
    assert.equal(bad.error?.code, -32602);
  });

  test('a streamed call sends progress then the result; closing the stream cancels it', async () => {
    const b = body2026(16, 'tools/call', { name: 'slow', arguments: { steps: 2, delayMs: 10 }, _meta: { progressToken: 'p1' } });
    const res = await post2026(up.url, b, headers2026('tools/call', 'slow'));
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const rd = new SseReader(res);
    assert.equal(((await rd.next()) as { method: string }).method, 'notifications/progress');
    assert.equal(((await rd.next()) as { method: string }).method, 'notifications/progress');
    assert.equal(((await rd.next()) as Rpc).id, 16);

    const ac = new AbortController();
    const long = await post2026(up.url, body2026(17, 'tools/call', { name: 'slow', arguments: { steps: 100, delayMs: 50 } }), headers2026('tools/call', 'slow'), ac.signal);
    assert.equal(long.status, 200);
    ac.abort();
    const end = Date.now() + 5000;
    while (!up.cancelled.includes(17) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.ok(up.cancelled.includes(17), 'closing the response stream cancels the request');
  });

  test('subscriptions/listen: acknowledgement first, opted-in notifications tagged with the subscription id, graceful end', async () => {
    const b = body2026('sub-1', 'subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: ['mem://greeting'] } });
    const res = await post2026(up.url, b, headers2026('subscriptions/listen'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const rd = new SseReader(res);
    const ack = (await rd.next()) as { method: string; params: { _meta: Record<string, unknown>; notifications: unknown } };
    assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
    assert.equal(ack.params._meta['io.modelcontextprotocol/subscriptionId'], 'sub-1');
    assert.deepEqual(ack.params.notifications, { toolsListChanged: true, resourceSubscriptions: ['mem://greeting'] });
    assert.equal(up.notify('prompts'), 0, 'not opted in');
    assert.equal(up.notify('tools'), 1);
    const n = (await rd.next()) as { method: string; params: { _meta: Record<string, unknown> } };
    assert.equal(n.method, 'notifications/tools/list_changed');
    assert.equal(n.params._meta['io.modelcontextprotocol/subscriptionId'], 'sub-1');
    up.notify({ uri: 'mem://greeting' });
    assert.equal(((await rd.next()) as { method: string }).method, 'notifications/resources/updated');
    up.endListens();
    const last = (await rd.next()) as Rpc;
    assert.equal(last.id, 'sub-1');
    assert.equal(last.result?.resultType, 'complete');
    assert.equal(await rd.next(), null);
    assert.ok(rd.comments.length >= 0);
  });

  test('every request is recorded with its headers', () => {
    const r = up.requests.find((x) => x.rpcMethod === 'resources/read');
    assert.ok(r);
    assert.equal(r.headers['mcp-method'], 'resources/read');
    assert.match(String(r.headers['mcp-name']), /^=\?base64\?/);
  });
});
