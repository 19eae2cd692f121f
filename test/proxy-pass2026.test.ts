/**
 * MCP 2026-07-28 pass-through (issue 10, first slice): raw 2026 clients (fetch) through a real
 * proxy with 2 workers to the raw 2026 fixture upstream, next to a session-era destination served
 * by the SDK counter server. Proves: discover / tools / resources / prompts pass through with the
 * validated headers and no session; header/body mismatches are refused before anything is routed;
 * MRTR round trips across workers; 50 concurrent calls; listen streams and client-close cancels
 * upstream; 2025 SDK and 2026 raw clients side by side; a 2026 request to a session-era
 * destination is bridged (B1, proxy-bridge2026.test.ts); the request log line says era 2026.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { configFromYaml, waitFor } from './helpers/proxy.js';
import { SseReader, V2026, body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

let up: Raw2026Upstream;
let legacy: RunningUpstream;
let proxy: ProxyHandle;
let url: string;
let legacyUrl: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  up = await startRaw2026Upstream({ keepaliveMs: 50 });
  legacy = await startCounterHttp();
  const yaml = `listen: { host: 127.0.0.1, port: 0 }
workers: 2
log_level: info
destinations:
  modern:
    transport: streamable_http
    url: ${up.url}
    protocol: 2026
  old:
    transport: streamable_http
    url: ${legacy.url}
  brief:
    transport: streamable_http
    url: ${up.url}
    protocol: 2026
    timeouts: { request_ms: 400 }
  gone:
    transport: streamable_http
    url: http://127.0.0.1:${await closedPort()}/mcp
    protocol: 2026
`;
  const config = configFromYaml(yaml);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          if (j.msg === 'request' && logLines.length < 5000) logLines.push(j);
        } catch {
          // not a JSON line
        }
      }
      cb();
    },
  });
  proxy = await startProxy(config, { log: pino({ level: 'info' }, sink) });
  url = `${proxy.url}/modern/mcp`;
  legacyUrl = `${proxy.url}/old/mcp`;
});
after(async () => {
  await proxy.close();
  await up.close();
  await legacy.close();
});

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Per-worker count of upstream replies for the 2026 destination (worker stats latency histograms). */
async function servedCounts(): Promise<number[]> {
  const stats = await proxy.core.workerStats();
  return stats.map((s) => {
    let n = 0;
    for (const [dest, , h] of s?.latency ?? []) if (dest === 'modern') n += h.count;
    return n;
  });
}

/** The worker that served `run` (its count rose by one); the proxy must be otherwise idle. */
async function servedBy<T>(run: () => Promise<T>): Promise<{ worker: number; value: T }> {
  const before = await servedCounts();
  const value = await run();
  const after = await servedCounts();
  const rose = after.map((n, i) => n - (before[i] ?? 0));
  assert.equal(rose.reduce((a, b) => a + b, 0), 1, `exactly one upstream reply counted: ${JSON.stringify(rose)}`);
  return { worker: rose.findIndex((d) => d === 1), value };
}

async function rpc(res: Response): Promise<Rpc> {
  return (await res.json()) as Rpc;
}

function recordsWithId(id: unknown): number {
  return up.requests.filter((r) => r.id === id).length;
}

describe('2026-07-28 pass-through to a 2026 upstream', () => {
  test('server/discover passes through; no session is minted and the client session id is not forwarded', async () => {
    const res = await post2026(url, body2026('d1', 'server/discover'), headers2026('server/discover', undefined, { 'mcp-session-id': 'client-made-up' }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('mcp-session-id'), null);
    const j = await rpc(res);
    assert.equal(j.id, 'd1');
    assert.deepEqual(j.result?.supportedVersions, [V2026]);
    assert.equal(j.result?.cacheScope, 'public');
    const seen = up.requests.find((r) => r.id === 'd1');
    assert.ok(seen, 'the upstream got the request');
    assert.equal(seen.headers['mcp-protocol-version'], V2026);
    assert.equal(seen.headers['mcp-method'], 'server/discover');
    assert.equal(seen.headers['mcp-session-id'], undefined);
    assert.equal([...proxy.core.store.all()].length, 0, 'no downstream session exists');
  });

  test('tools/call echo; Mcp-Param-* and unknown Mcp-* headers are forwarded', async () => {
    const echo = await post2026(url, body2026(2, 'tools/call', { name: 'echo', arguments: { text: 'hi there' } }), headers2026('tools/call', 'echo'));
    assert.equal(echo.status, 200);
    assert.deepEqual((await rpc(echo)).result?.content, [{ type: 'text', text: 'hi there' }]);

    const body = body2026('r1', 'tools/call', { name: 'route', arguments: { region: 'eu-west', query: 'q' } });
    const routed = await post2026(url, body, headers2026('tools/call', 'route', { 'mcp-param-region': 'eu-west', 'mcp-x-trace': 'abc' }));
    assert.equal(routed.status, 200);
    assert.deepEqual((await rpc(routed)).result?.content, [{ type: 'text', text: 'region eu-west: q' }]);
    const seen = up.requests.find((r) => r.id === 'r1');
    assert.equal(seen?.headers['mcp-param-region'], 'eu-west');
    assert.equal(seen?.headers['mcp-x-trace'], 'abc');
    assert.equal(seen?.body, body, 'the body reached the upstream byte for byte');

    // The upstream's own header check still applies to the mirrored parameter it designates.
    const wrong = await post2026(url, body2026('r2', 'tools/call', { name: 'route', arguments: { region: 'eu-west' } }), headers2026('tools/call', 'route', { 'mcp-param-region': 'us' }));
    assert.equal(wrong.status, 400);
    assert.equal((await rpc(wrong)).error?.code, -32020);
  });

  test('Mcp-Name / Mcp-Method that disagree with the body: 400 -32020 with the id, and the upstream never sees it', async () => {
    const cases: [string, Record<string, string>][] = [
      ['wrong-name', headers2026('tools/call', 'not-echo')],
      ['wrong-method', headers2026('tools/call', 'echo', { 'mcp-method': 'tools/list' })],
      ['no-name', headers2026('tools/call')],
      ['no-method', headers2026('tools/call', 'echo', { 'mcp-method': null })],
    ];
    for (const [id, h] of cases) {
      const res = await post2026(url, body2026(id, 'tools/call', { name: 'echo', arguments: { text: 'x' } }), h);
      assert.equal(res.status, 400, id);
      const j = await rpc(res);
      assert.equal(j.id, id);
      assert.equal(j.error?.code, -32020, id);
      assert.equal(j.error?.data?.code, 'E_HEADER_MISMATCH');
      assert.equal(recordsWithId(id), 0, `${id} must not reach the upstream`);
    }
    // A repeated routed header is refused too (two readers could each take a different copy).
    const dup = await fetch(url, {
      method: 'POST',
      headers: [['content-type', 'application/json'], ['accept', 'application/json, text/event-stream'], ['mcp-protocol-version', V2026],
        ['mcp-method', 'tools/call'], ['mcp-name', 'echo'], ['mcp-name', 'other']],
      body: body2026('dup', 'tools/call', { name: 'echo', arguments: { text: 'x' } }),
    });
    assert.equal(dup.status, 400);
    assert.equal((await rpc(dup)).error?.code, -32020);
    assert.equal(recordsWithId('dup'), 0);
  });

  test('era problems and removed methods answer with the 2026 codes, before routing', async () => {
    const noMeta = await post2026(url, JSON.stringify({ jsonrpc: '2.0', id: 'nm', method: 'tools/list', params: {} }), headers2026('tools/list'));
    assert.equal(noMeta.status, 400);
    assert.equal((await rpc(noMeta)).error?.code, -32602);
    const ping = await post2026(url, body2026('p', 'ping'), headers2026('ping'));
    assert.equal(ping.status, 404);
    const pj = await rpc(ping);
    assert.equal(pj.id, 'p');
    assert.equal(pj.error?.code, -32601);
    // No header but a 2026 body: the required header is missing.
    const noHeader = await post2026(url, body2026('nh', 'tools/list'), headers2026('tools/list', undefined, { 'mcp-protocol-version': null }));
    assert.equal(noHeader.status, 400);
    assert.equal((await rpc(noHeader)).error?.code, -32020);
    for (const id of ['nm', 'p', 'nh']) assert.equal(recordsWithId(id), 0);
    // 2026 defines no client notifications on HTTP: acknowledged by the proxy, not forwarded.
    const before = up.requests.length;
    const note = await post2026(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/whatever' }), headers2026('notifications/whatever'));
    assert.equal(note.status, 202);
    await note.arrayBuffer();
    assert.equal(up.requests.length, before);
  });

  test('resources/read and prompts/get by Mcp-Name, including a non-ASCII name in base64', async () => {
    const r1 = await post2026(url, body2026(10, 'resources/read', { uri: 'mem://greeting' }), headers2026('resources/read', 'mem://greeting'));
    assert.equal(r1.status, 200);
    assert.equal(((await rpc(r1)).result?.contents as { text: string }[])[0]?.text, 'hello');

    const b64 = '=?base64?' + Buffer.from('mem://café', 'utf8').toString('base64') + '?=';
    const r2 = await post2026(url, body2026(11, 'resources/read', { uri: 'mem://café' }), headers2026('resources/read', b64));
    assert.equal(r2.status, 200);
    assert.equal(((await rpc(r2)).result?.contents as { text: string }[])[0]?.text, 'crème');
    assert.equal(up.requests.find((r) => r.id === 11)?.headers['mcp-name'], b64, 'the encoded form is forwarded as sent');

    // The same name as plain ASCII look-alike does not match the non-ASCII body.
    const r3 = await post2026(url, body2026(12, 'resources/read', { uri: 'mem://café' }), headers2026('resources/read', 'mem://cafe'));
    assert.equal(r3.status, 400);
    assert.equal((await rpc(r3)).error?.code, -32020);
    assert.equal(recordsWithId(12), 0);

    const p = await post2026(url, body2026(13, 'prompts/get', { name: 'greet', arguments: { who: 'Ada' } }), headers2026('prompts/get', 'greet'));
    assert.equal(p.status, 200);
    const msgs = (await rpc(p)).result?.messages as { content: { text: string } }[];
    assert.equal(msgs[0]?.content.text, 'Say hello to Ada');
  });

  test('MRTR: input_required, then the retry with inputResponses + requestState, served by different workers', async () => {
    const caps = { elicitation: {} };
    const first = await servedBy(async () => {
      const res = await post2026(url, body2026('m1', 'tools/call', { name: 'ask', arguments: { question: 'your name?' } }, caps), headers2026('tools/call', 'ask'));
      assert.equal(res.status, 200);
      return rpc(res);
    });
    const result = first.value.result as { resultType: string; requestState: string; inputRequests: Record<string, unknown> };
    assert.equal(result.resultType, 'input_required');
    assert.ok(result.inputRequests.answer);
    assert.equal(typeof result.requestState, 'string');
    const second = await servedBy(async () => {
      const res = await post2026(url, body2026('m2', 'tools/call', {
        name: 'ask', arguments: { question: 'your name?' },
        inputResponses: { answer: { action: 'accept', content: { answer: 'Ada' } } }, requestState: result.requestState,
      }, caps), headers2026('tools/call', 'ask'));
      assert.equal(res.status, 200);
      return rpc(res);
    });
    assert.deepEqual(second.value.result?.content, [{ type: 'text', text: 'answer: Ada' }]);
    assert.notEqual(first.worker, second.worker, 'the retry landed on the other worker and still succeeded');
  });

  test('50 concurrent session-less calls all get their own answer, spread over both workers', async () => {
    const before = await servedCounts();
    const n = 50;
    const answers = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const res = await post2026(url, body2026(`c${i}`, 'tools/call', { name: 'echo', arguments: { text: `call ${i}` } }), headers2026('tools/call', 'echo'));
      assert.equal(res.status, 200);
      return rpc(res);
    }));
    for (let i = 0; i < n; i++) {
      assert.equal(answers[i]?.id, `c${i}`);
      assert.deepEqual(answers[i]?.result?.content, [{ type: 'text', text: `call ${i}` }]);
    }
    const after = await servedCounts();
    const per = after.map((c, i) => c - (before[i] ?? 0));
    assert.equal(per.reduce((a, b) => a + b, 0), n);
    assert.ok(per.every((c) => c > 0), `both workers served some: ${JSON.stringify(per)}`);
  });

  test('subscriptions/listen streams notifications; closing the client stream ends the upstream stream', async () => {
    const ac = new AbortController();
    const res = await post2026(url, body2026('L1', 'subscriptions/listen', { notifications: { toolsListChanged: true } }),
      headers2026('subscriptions/listen'), ac.signal);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = new SseReader(res);
    const ack = (await reader.next()) as { method: string; params: Record<string, unknown> };
    assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
    await waitFor(() => up.listenStreams() === 1, 5000, 'upstream listen stream');
    assert.equal(up.notify('tools'), 1);
    const note = (await reader.next()) as { method: string; params: { _meta: Record<string, unknown> } };
    assert.equal(note.method, 'notifications/tools/list_changed');
    assert.equal(note.params._meta['io.modelcontextprotocol/subscriptionId'], 'L1');
    ac.abort();
    await waitFor(() => up.listenStreams() === 0, 10_000, 'upstream listen stream closed after the client left');
  });

  test('a listen stream well past the credit window keeps flowing (credit is paid back for session-less replies)', async () => {
    const ac = new AbortController();
    const res = await post2026(url, body2026('L2', 'subscriptions/listen', { notifications: { promptsListChanged: true } }),
      headers2026('subscriptions/listen'), ac.signal);
    assert.equal(res.status, 200);
    const reader = new SseReader(res);
    assert.equal(((await reader.next()) as { method: string }).method, 'notifications/subscriptions/acknowledged');
    await waitFor(() => up.listenStreams() === 1, 5000, 'upstream listen stream');
    // ~140 characters each: 12000 of them are ~1.6 MiB, past the 1 MiB window (threads/flow.ts).
    const total = 12_000;
    for (let sent = 0; sent < total; sent += 1000) {
      for (let k = 0; k < 1000; k++) up.notify('prompts');
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < total; i++) {
      const m = (await reader.next(30_000)) as { method: string } | null;
      assert.equal(m?.method, 'notifications/prompts/list_changed', `message ${i}`);
    }
    ac.abort();
    await waitFor(() => up.listenStreams() === 0, 10_000, 'upstream listen stream closed');
  });

  test('closing a streamed tools/call cancels it upstream (the upstream records the cancellation)', async () => {
    const ac = new AbortController();
    const res = await post2026(url, body2026('slow1', 'tools/call', { name: 'slow', arguments: { steps: 200, delayMs: 50 }, _meta: { progressToken: 'pt' } }),
      headers2026('tools/call', 'slow'), ac.signal);
    assert.equal(res.status, 200);
    const reader = new SseReader(res);
    const progress = (await reader.next()) as { method: string };
    assert.equal(progress.method, 'notifications/progress');
    ac.abort();
    await waitFor(() => up.cancelled.includes('slow1'), 10_000, 'upstream saw the stream close');
  });

  test('request_ms bounds a 2026 call (504-class -31001 on its stream, cancelled upstream); subscriptions/listen is exempt', async () => {
    const briefUrl = `${proxy.url}/brief/mcp`;
    const ac = new AbortController();
    const listen = await post2026(briefUrl, body2026('L3', 'subscriptions/listen', { notifications: { resourcesListChanged: true } }),
      headers2026('subscriptions/listen'), ac.signal);
    const lr = new SseReader(listen);
    assert.equal(((await lr.next()) as { method: string }).method, 'notifications/subscriptions/acknowledged');

    const res = await post2026(briefUrl, body2026('slow2', 'tools/call', { name: 'slow', arguments: { steps: 100, delayMs: 50 } }), headers2026('tools/call', 'slow'));
    assert.equal(res.status, 200, 'the stream had started');
    const last = (await new SseReader(res).next(10_000)) as Rpc;
    assert.equal(last.id, 'slow2');
    assert.equal(last.error?.code, -31001);
    assert.equal(last.error?.data?.code, 'E_UPSTREAM_TIMEOUT');
    await waitFor(() => up.cancelled.includes('slow2'), 10_000, 'upstream saw the timed-out call cancelled');

    // The listen stream outlived request_ms (400 ms) and still delivers.
    assert.ok(up.notify('resources') >= 1);
    assert.equal(((await lr.next()) as { method: string }).method, 'notifications/resources/list_changed');
    ac.abort();
    await waitFor(() => up.listenStreams() === 0, 10_000, 'listen closed');
  });

  test('an unreachable 2026 upstream: 502 with -31001 and the request id', async () => {
    const res = await post2026(`${proxy.url}/gone/mcp`, body2026('g1', 'tools/list'), headers2026('tools/list'));
    assert.equal(res.status, 502);
    const j = await rpc(res);
    assert.equal(j.id, 'g1');
    assert.equal(j.error?.code, -31001);
    assert.equal(j.error?.data?.code, 'E_UPSTREAM_CONNECT');
  });

  test('GET and DELETE with a 2026 MCP-Protocol-Version: 405 Allow: POST', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(url, { method, headers: { accept: 'text/event-stream', 'mcp-protocol-version': V2026 } });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'POST');
      await res.arrayBuffer();
    }
  });

  test('a 2025 SDK client and a 2026 raw client on the same proxy at once', async () => {
    const sdk = await connectStreamable(legacyUrl);
    try {
      const [counts, echoes] = await Promise.all([
        (async () => {
          for (let i = 0; i < 10; i++) await callText(sdk.client, 'increment');
          return callText(sdk.client, 'get');
        })(),
        Promise.all(Array.from({ length: 10 }, async (_, i) => {
          const r = await post2026(url, body2026(`mix${i}`, 'tools/call', { name: 'echo', arguments: { text: `m${i}` } }), headers2026('tools/call', 'echo'));
          return ((await rpc(r)).result?.content as { text: string }[])[0]?.text;
        })),
      ]);
      assert.equal(counts, '10');
      assert.deepEqual(echoes, Array.from({ length: 10 }, (_, i) => `m${i}`));
      assert.ok(sdk.sessionId(), 'the 2025 client still got its session');
    } finally {
      await sdk.close();
    }
  });

  test('a 2026 request to a session-era destination is bridged (proxy-bridge2026.test.ts has the rest): no session id, resultType complete', async () => {
    const initsBefore = legacy.stats.initializeCount;
    const res = await post2026(legacyUrl, body2026('old1', 'tools/list'), headers2026('tools/list'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('mcp-session-id'), null);
    const text = await res.text();
    const j = JSON.parse(text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6)) as Rpc;
    assert.equal(j.id, 'old1');
    assert.equal(j.result?.resultType, 'complete');
    assert.equal(legacy.stats.initializeCount, initsBefore + 1, 'the bridge opened one upstream session with its own initialize');
  });

  test('the request log line carries era 2026 (and not for session-era requests)', async () => {
    const res = await post2026(url, body2026('log1', 'tools/list'), headers2026('tools/list'));
    await res.arrayBuffer();
    const mine = (l: Record<string, unknown>): boolean => l.method === 'tools/list' && l.dest === 'modern' && l.status === 200;
    await waitFor(() => logLines.some(mine), 5000, '2026 request line');
    const line = logLines.find(mine);
    assert.equal(line?.era, '2026');
    assert.equal(line?.sid, undefined);
    assert.equal(line?.status, 200);
    const bridged = logLines.find((l) => l.dest === 'old' && l.method === 'tools/list' && l.sid === undefined && l.session === undefined);
    assert.equal(bridged?.era, '2026');
    assert.ok(logLines.some((l) => l.dest === 'old' && l.method === 'tools/call' && l.era === undefined && typeof l.session === 'string' && l.sid === undefined), 'session-era lines carry the session tag, no era');
  });
});

describe('config: destinations.NAME.protocol', () => {
  test('defaults to 2025; 2026 only with streamable_http', () => {
    const base = 'listen: { host: 127.0.0.1, port: 0 }\ndestinations:\n';
    assert.equal(configFromYaml(`${base}  a: { transport: streamable_http, url: "http://127.0.0.1:1/mcp" }\n`).destinations.a?.protocol, '2025');
    assert.equal(configFromYaml(`${base}  a: { transport: streamable_http, url: "http://127.0.0.1:1/mcp", protocol: 2026 }\n`).destinations.a?.protocol, '2026');
    assert.equal(configFromYaml(`${base}  a: { transport: streamable_http, url: "http://127.0.0.1:1/mcp", protocol: "2026" }\n`).destinations.a?.protocol, '2026');
    assert.throws(() => configFromYaml(`${base}  a: { transport: stdio, command: node, protocol: 2026 }\n`), /protocol 2026 needs transport streamable_http/);
    assert.throws(() => configFromYaml(`${base}  a: { transport: streamable_http, url: "http://127.0.0.1:1/mcp", protocol: 2024 }\n`), /protocol/);
  });
});
