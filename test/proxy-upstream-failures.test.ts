/**
 * HTTP upstreams failing, proven through the whole proxy: a legacy SSE stream that drops mid-session,
 * a legacy POST never answered on the stream, and Streamable HTTP upstreams that are down, hang, or
 * answer 500. Each failure must reach the client as a JSON-RPC error with the status of the WIRE
 * table, in bounded time, while the proxy keeps serving everyone else.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type RawLegacyUpstream, startRawLegacyUpstream } from './fixtures/raw-legacy-upstream.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { INIT_BODY, rawPost, rawSession, startTestProxy, waitFor } from './helpers/proxy.js';
import { type SdkUpstream, startLegacySseUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';
import type { ProxyHandle } from '../src/proxy.js';

interface RpcBody {
  id?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { code?: string } };
}

function dest(name: string, transport: string, url: string, timeouts = ''): string {
  return `  ${name}:\n    transport: ${transport}\n    url: ${url}\n${timeouts ? `    timeouts: { ${timeouts} }\n` : ''}`;
}

async function listenRaw(handler: http.RequestListener): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

async function shut(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port that nothing listens on: bound once, then released. */
async function closedPortUrl(): Promise<string> {
  const { url, server } = await listenRaw(() => undefined);
  await shut(server);
  return url;
}

let proxy: ProxyHandle;
let raw: RawLegacyUpstream;
let sdkLegacy: SdkUpstream;
let good: SdkUpstream;
let hang: { url: string; server: http.Server };
let fail500: { url: string; server: http.Server };
let hangingRequests = 0;

before(async () => {
  raw = await startRawLegacyUpstream();
  sdkLegacy = await startLegacySseUpstream();
  good = await startStreamableUpstream({ enableJsonResponse: true });
  hang = await listenRaw(() => {
    hangingRequests++; // accepted, read, never answered
  });
  fail500 = await listenRaw((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error'));
  });
  const down = await closedPortUrl();
  proxy = await startTestProxy(
    dest('legacy', 'sse', raw.url, 'request_ms: 500') +
      dest('legacysdk', 'sse', sdkLegacy.url) +
      dest('good', 'streamable_http', good.url) +
      dest('down', 'streamable_http', down, 'connect_ms: 20000, first_byte_ms: 20000') +
      dest('hang', 'streamable_http', hang.url, 'first_byte_ms: 300') +
      dest('err500', 'streamable_http', fail500.url),
  );
});
after(async () => {
  await proxy.close();
  await raw.close();
  await sdkLegacy.close();
  await good.close();
  await shut(hang.server);
  await shut(fail500.server);
});

const mcp = (d: string): string => `${proxy.url}/${d}/mcp`;

async function rpc(d: string, sid: string, id: number | string, method: string, params?: unknown): Promise<{ status: number; body: RpcBody; ms: number }> {
  const started = Date.now();
  const r = await rawPost(mcp(d), JSON.stringify({ jsonrpc: '2.0', id, method, params }), { 'mcp-session-id': sid });
  return { status: r.status, body: (await r.json()) as RpcBody, ms: Date.now() - started };
}

async function init(d: string): Promise<{ status: number; body: RpcBody; ms: number; sid: string | null }> {
  const started = Date.now();
  const r = await rawPost(mcp(d), INIT_BODY);
  const body = (await r.json()) as RpcBody;
  return { status: r.status, body, ms: Date.now() - started, sid: r.headers.get('mcp-session-id') };
}

describe('legacy SSE upstream', () => {
  test('a stream that drops mid-session fails pending requests and ends the downstream session', async () => {
    const sid = await rawSession(mcp('legacy'));
    assert.deepEqual((await rpc('legacy', sid, 2, 'echo', { text: 'hi' })).body.result, { text: 'hi' });
    // The session's server-message stream, to see it end with the session.
    const get = await fetch(mcp('legacy'), { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    assert.equal(get.status, 200);
    const reader = get.body!.getReader();
    const streamEnded = (async () => {
      while (!(await reader.read()).done);
      return true;
    })();

    const pending = rpc('legacy', sid, 3, 'never');
    await waitFor(() => raw.posted.includes('never'), 5000, 'the upstream to receive the request');
    raw.dropStreams();
    const failed = await pending;
    assert.equal(failed.status, 502);
    assert.equal(failed.body.id, 3);
    assert.equal(failed.body.error?.code, -32001);
    assert.equal(failed.body.error?.data?.code, 'E_UPSTREAM_CLOSED');
    // E_UPSTREAM_CLOSED, not E_UPSTREAM_TIMEOUT: it failed on the drop, not at request_ms.
    assert.match(failed.body.error?.message ?? '', /legacy SSE stream dropped/);

    assert.equal(await streamEnded, true, 'the downstream GET stream ended');
    const gone = await rpc('legacy', sid, 4, 'echo', { text: 'again' });
    assert.equal(gone.status, 404, 'the client must re-initialize');
    assert.equal(gone.body.error?.code, -32002);

    const fresh = await rawSession(mcp('legacy'));
    assert.deepEqual((await rpc('legacy', fresh, 5, 'echo', { text: 'new' })).body.result, { text: 'new' });
    await fetch(mcp('legacy'), { method: 'DELETE', headers: { 'mcp-session-id': fresh } });
  });

  test('an SDK client sees 404 after the SDK server ends its stream, and re-initializes', async () => {
    const a = await connectStreamable(mcp('legacysdk'));
    try {
      assert.equal(await callText(a.client, 'echo', { text: 'before' }), 'before');
      const sid = a.sessionId()!;
      await sdkLegacy.dropStreams();
      await waitFor(async () => (await rpc('legacysdk', sid, 'p', 'ping')).status === 404, 5000, 'the session to end');
      await assert.rejects(callText(a.client, 'echo', { text: 'after' }));
    } finally {
      await a.close();
    }
    const b = await connectStreamable(mcp('legacysdk'));
    try {
      assert.equal(await callText(b.client, 'echo', { text: 'fresh' }), 'fresh');
    } finally {
      await b.transport.terminateSession();
      await b.close();
    }
  });

  test('a POST accepted with 202 but never answered times out with E_UPSTREAM_TIMEOUT (504)', async () => {
    const sid = await rawSession(mcp('legacy'));
    const r = await rpc('legacy', sid, 7, 'never');
    assert.equal(r.status, 504);
    assert.equal(r.body.id, 7);
    assert.equal(r.body.error?.code, -32001);
    assert.equal(r.body.error?.data?.code, 'E_UPSTREAM_TIMEOUT');
    assert.match(r.body.error?.message ?? '', /within 500 ms/);
    assert.ok(r.ms >= 500, `answered after ${r.ms} ms, before request_ms`);
    // A timeout is about one request: the session goes on.
    assert.deepEqual((await rpc('legacy', sid, 8, 'echo', { text: 'still here' })).body.result, { text: 'still here' });
    await fetch(mcp('legacy'), { method: 'DELETE', headers: { 'mcp-session-id': sid } });
  });
});

describe('Streamable HTTP upstream', () => {
  test('down, hanging, or answering 500: initialize fails with the right status; other sessions keep working', async () => {
    const other = await connectStreamable(mcp('good'));
    try {
      assert.equal(await callText(other.client, 'echo', { text: 'one' }), 'one');

      const down = await init('down');
      assert.equal(down.status, 502);
      assert.equal(down.sid, null);
      assert.equal(down.body.id, 1);
      assert.equal(down.body.error?.code, -32001);
      assert.equal(down.body.error?.data?.code, 'E_UPSTREAM_CONNECT');
      assert.match(down.body.error?.message ?? '', /ECONNREFUSED/);
      assert.ok(down.ms < 20_000, 'refused at once, not after a timeout');

      const hanging = init('hang');
      // While that initialize waits for its first byte, the other session is served.
      await waitFor(() => hangingRequests === 1, 5000, 'the hanging upstream to receive the request');
      assert.equal(await callText(other.client, 'echo', { text: 'two' }), 'two');
      const h = await hanging;
      assert.equal(h.status, 504);
      assert.equal(h.sid, null);
      assert.equal(h.body.error?.code, -32001);
      assert.equal(h.body.error?.data?.code, 'E_UPSTREAM_TIMEOUT');
      assert.match(h.body.error?.message ?? '', /first-byte/);
      assert.ok(h.ms >= 300, `answered after ${h.ms} ms, before first_byte_ms`);

      const e = await init('err500');
      assert.equal(e.status, 502);
      assert.equal(e.sid, null);
      assert.equal(e.body.error?.code, -32001);
      assert.equal(e.body.error?.data?.code, 'E_UPSTREAM_STATUS');
      assert.match(e.body.error?.message ?? '', /500/);

      assert.equal(await callText(other.client, 'echo', { text: 'three' }), 'three');
      // No failed initialize left a session behind; only the good one is open.
      assert.equal(proxy.core.store.size, 1);
    } finally {
      await other.transport.terminateSession();
      await other.close();
    }
  });
});
