/**
 * Every Streamable HTTP status rule, each on its own, against a real proxy and a real upstream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { INIT_BODY, httpYaml, rawPost, rawSession, startTestProxy } from './helpers/proxy.js';
import { expectedFront } from './helpers/front.js';
import type { ProxyHandle } from '../src/proxy.js';

let upstream: RunningUpstream;
let proxy: ProxyHandle;
let url: string;

before(async () => {
  upstream = await startCounterHttp();
  proxy = await startTestProxy(httpYaml('web', upstream.url), 'limits: { max_body_bytes: 65536 }\nallowed_origins: [https://inspector.example]\n');
  url = `${proxy.url}/web/mcp`;
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

async function errorCode(r: Response): Promise<number> {
  const body = (await r.json()) as { error?: { code: number } };
  assert.ok(body.error, 'a JSON-RPC error body');
  return body.error.code;
}

const LIST = '{"jsonrpc":"2.0","id":7,"method":"tools/list"}';

describe('POST', () => {
  test('initialize without a session id mints a 128-bit id and returns the upstream result', async () => {
    const r = await rawPost(url, INIT_BODY);
    assert.equal(r.status, 200);
    const sid = r.headers.get('mcp-session-id');
    assert.match(sid ?? '', /^[0-9a-f]{32}$/);
    const text = await r.text();
    assert.match(text, /"serverInfo"/);
    assert.match(text, /"protocolVersion"/);
  });

  test('initialize with a stale session id starts a new session', async () => {
    const stale = 'ffffffffffffffffffffffffffffffff';
    const r = await rawPost(url, INIT_BODY, { 'mcp-session-id': stale });
    assert.equal(r.status, 200);
    await r.text();
    const sid = r.headers.get('mcp-session-id');
    assert.ok(sid && sid !== stale);
    const list = await rawPost(url, LIST, { 'mcp-session-id': sid });
    assert.equal(list.status, 200);
    await list.text();
  });

  test('a request without a session id is 400', async () => {
    const r = await rawPost(url, LIST);
    assert.equal(r.status, 400);
    assert.equal(await errorCode(r), -32600);
  });

  test('an unknown session id is 404', async () => {
    const r = await rawPost(url, LIST, { 'mcp-session-id': '0123456789abcdef0123456789abcdef' });
    assert.equal(r.status, 404);
    assert.equal(await errorCode(r), -32002);
  });

  test('an Accept without text/event-stream is 406', async () => {
    const r = await rawPost(url, INIT_BODY, { accept: 'application/json' });
    assert.equal(r.status, 406);
    await r.text();
  });

  test('a non-JSON Content-Type is 415', async () => {
    const r = await rawPost(url, INIT_BODY, { 'content-type': 'text/plain' });
    assert.equal(r.status, 415);
    await r.text();
  });

  test('an unsupported MCP-Protocol-Version is 400', async () => {
    const sid = await rawSession(url);
    const r = await rawPost(url, LIST, { 'mcp-session-id': sid, 'mcp-protocol-version': '1999-01-01' });
    assert.equal(r.status, 400);
    await r.text();
    const ok = await rawPost(url, LIST, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    assert.equal(ok.status, 200);
    await ok.text();
  });

  test('notifications and responses answer 202 with no body', async () => {
    const sid = await rawSession(url);
    const n = await rawPost(url, '{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}', { 'mcp-session-id': sid });
    assert.equal(n.status, 202);
    assert.equal(await n.text(), '');
  });

  test('malformed JSON is 400 with a parse error', async () => {
    const sid = await rawSession(url);
    const r = await rawPost(url, '{"jsonrpc":"2.0",', { 'mcp-session-id': sid });
    assert.equal(r.status, 400);
    assert.equal(await errorCode(r), -32700);
  });

  test('a batch is rejected (no batches since 2025-06-18)', async () => {
    const sid = await rawSession(url);
    const r = await rawPost(url, `[${LIST}]`, { 'mcp-session-id': sid });
    assert.equal(r.status, 400);
    assert.equal(await errorCode(r), -32600);
  });

  test('an oversized body is 413 and the session keeps working', async () => {
    const sid = await rawSession(url);
    const big = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(100_000) } } });
    const r = await rawPost(url, big, { 'mcp-session-id': sid });
    assert.equal(r.status, 413);
    await r.text();
    const ok = await rawPost(url, LIST, { 'mcp-session-id': sid });
    assert.equal(ok.status, 200);
    await ok.text();
  });

  test('JSON-RPC ids 0 and "" are forwarded and answered with the same id', async () => {
    const sid = await rawSession(url);
    for (const id of [0, '']) {
      const r = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'z' } } }), { 'mcp-session-id': sid });
      assert.equal(r.status, 200);
      const text = await r.text();
      const json = text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6);
      assert.deepEqual((JSON.parse(json) as { id: unknown }).id, id);
    }
  });

  test('a session id from one destination is unknown on another', async () => {
    const sid = await rawSession(url);
    const r = await rawPost(`${proxy.url}/nope/mcp`, LIST, { 'mcp-session-id': sid });
    assert.equal(r.status, 404);
    await r.text();
  });
});

describe('GET and DELETE', () => {
  test('GET without a session id is 405 with Allow: POST, DELETE', async () => {
    const r = await fetch(url, { headers: { accept: 'text/event-stream' } });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST, DELETE');
    await r.text();
  });

  test('GET with a session id opens an SSE stream; a second one is refused', async () => {
    const sid = await rawSession(url);
    const ac = new AbortController();
    const r = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid }, signal: ac.signal });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const second = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    assert.equal(second.status, 409);
    await second.text();
    ac.abort();
    await r.body?.cancel().catch(() => {});
  });

  test('GET with an unknown session id is 404', async () => {
    const r = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': 'ab'.repeat(16) } });
    assert.equal(r.status, 404);
    await r.text();
  });

  test('DELETE without a session id is 400, with an unknown one 404', async () => {
    const a = await fetch(url, { method: 'DELETE' });
    assert.equal(a.status, 400);
    await a.text();
    const b = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': 'cd'.repeat(16) } });
    assert.equal(b.status, 404);
    await b.text();
  });
});

describe('Origin (DNS rebinding protection)', () => {
  test('a foreign browser Origin is 403; loopback and allowed origins pass; no Origin passes', async () => {
    const evil = await rawPost(url, INIT_BODY, { origin: 'http://evil.example' });
    assert.equal(evil.status, 403);
    assert.equal(((await evil.json()) as { error: { data: { code: string } } }).error.data.code, 'E_FORBIDDEN_ORIGIN');
    for (const origin of ['http://localhost:6274', 'http://127.0.0.1:3000', 'https://inspector.example']) {
      const r = await rawPost(url, INIT_BODY, { origin });
      assert.equal(r.status, 200, origin);
      await r.text();
    }
    const none = await rawPost(url, INIT_BODY);
    assert.equal(none.status, 200);
    await none.text();
  });
});

describe('CORS for browser clients from allowed origins', () => {
  const origin = 'http://localhost:6274';

  test('a preflight from an allowed origin is 204 with the methods and MCP headers', async () => {
    const r = await fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, mcp-session-id' } });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), origin);
    assert.match(r.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /mcp-session-id/);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /mcp-protocol-version/);
  });

  test('a preflight from a foreign origin is 403', async () => {
    const r = await fetch(url, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    await r.text();
  });

  test('replies, errors and streams carry the CORS headers and expose Mcp-Session-Id', async () => {
    const init = await rawPost(url, INIT_BODY, { origin });
    assert.equal(init.status, 200);
    assert.equal(init.headers.get('access-control-allow-origin'), origin);
    assert.match(init.headers.get('access-control-expose-headers') ?? '', /mcp-session-id/);
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    const missing = await rawPost(url, LIST, { origin, 'mcp-session-id': 'ab'.repeat(16) });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('access-control-allow-origin'), origin);
    await missing.text();
    const ac = new AbortController();
    const stream = await fetch(url, { headers: { origin, accept: 'text/event-stream', 'mcp-session-id': sid }, signal: ac.signal });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('access-control-allow-origin'), origin);
    ac.abort();
    await stream.body?.cancel().catch(() => {});
  });

  test('requests without Origin carry no CORS headers', async () => {
    const r = await rawPost(url, INIT_BODY);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    await r.text();
  });
});

describe('routing', () => {
  test('an unknown destination is 404 with a JSON body', async () => {
    const r = await rawPost(`${proxy.url}/nope/mcp`, INIT_BODY);
    assert.equal(r.status, 404);
    assert.equal((await r.json() as { destination: string }).destination, 'nope');
  });

  test('a wrong method is 405 with Allow', async () => {
    const r = await fetch(url, { method: 'PUT', body: '{}' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST, DELETE');
    await r.text();
  });

  test('/healthz reports ok and which front serves', async () => {
    const r = await fetch(`${proxy.url}/healthz`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { status: string; front: string; binding: string; native: boolean };
    assert.equal(body.status, 'ok');
    const front = expectedFront();
    assert.equal(body.front, front);
    assert.match(body.binding, front === 'uws' ? /uws|uWebSockets/i : /^node:http@/);
    assert.equal(body.native, front === 'uws');
  });

  test('/metrics is Prometheus text and counts requests', async () => {
    const r = await fetch(`${proxy.url}/metrics`);
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.match(text, /^# HELP mithril_requests_total/m);
    assert.match(text, /mithril_requests_total\{dest="web",method="initialize",status="200",era="2025"\} \d+/);
  });
});
