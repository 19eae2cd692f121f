/**
 * W3C trace context through a real proxy to real SDK upstreams (Streamable HTTP and legacy SSE):
 * the client's traceparent (header, or `_meta` in the body) reaches the upstream as a child of
 * the proxy's span, one is started when absent or malformed, and the request's log line carries
 * the trace id and the proxy's span id.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { parseConfigText } from '../src/config/load.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { validTraceparent } from '../src/observability/trace.js';
import { type SdkUpstream, type SeenRequest, startLegacySseUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';
import { answerOf, configFromYaml, httpYaml, rawPost, rawSession, waitFor } from './helpers/proxy.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TP = `00-${TRACE_ID}-${PARENT}-01`;

let httpUp: SdkUpstream;
let sseUp: SdkUpstream;
let proxy: ProxyHandle;
const logLines: Array<Record<string, unknown>> = [];

before(async () => {
  httpUp = await startStreamableUpstream({ enableJsonResponse: true });
  sseUp = await startLegacySseUpstream();
  const config = configFromYaml(`listen: { host: 127.0.0.1, port: 0 }\nworkers: 1\nlog_level: info\ndestinations:\n${
    httpYaml('web', httpUp.url)}${httpYaml('legacy', sseUp.url, 'sse')}`);
  // The main thread's log, in process: request lines are written there (Core.finished).
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  proxy = await startProxy(config, { log });
});
after(async () => {
  await proxy.close();
  await httpUp.close();
  await sseUp.close();
});

let nextId = 100;
function echoBody(meta?: string): string {
  const m = meta === undefined ? '' : `,"_meta":${meta}`;
  return `{"jsonrpc":"2.0","id":${++nextId},"method":"tools/call","params":{"name":"echo","arguments":{"text":"t${nextId}"}${m}}}`;
}

/** POST a tools/call through the proxy; returns the upstream's view of it and the proxy's log line. */
async function call(up: SdkUpstream, dest: string, sid: string, headers: Record<string, string>, body = echoBody()): Promise<{ seen: SeenRequest; line: Record<string, unknown> }> {
  const id = nextId;
  const before = up.seen.length;
  const lines = logLines.length;
  const r = await rawPost(`${proxy.url}/${dest}/mcp`, body, { 'mcp-session-id': sid, ...headers });
  assert.equal(r.status, 200);
  const answer = await answerOf<{ result?: { content: Array<{ text: string }> } }>(r, id);
  assert.equal(answer.result?.content[0]?.text, `t${id}`);
  const posts = up.seen.slice(before).filter((s) => s.method === 'POST');
  assert.equal(posts.length, 1, 'one upstream POST for the call');
  await waitFor(() => logLines.slice(lines).some((l) => l.msg === 'request' && l.method === 'tools/call'), 5000, 'request line');
  const line = logLines.slice(lines).find((l) => l.msg === 'request' && l.method === 'tools/call')!;
  return { seen: posts[0]!, line };
}

function upstreamTraceparent(s: SeenRequest): string {
  const v = s.headers.traceparent;
  assert.equal(typeof v, 'string', 'the upstream got a traceparent header');
  assert.ok(validTraceparent(v as string), `valid: ${String(v)}`);
  return v as string;
}

let webSid = '';
test('a client traceparent reaches the upstream as a child of the proxy span; the log line names both', async () => {
  webSid = await rawSession(`${proxy.url}/web/mcp`);
  const { seen, line } = await call(httpUp, 'web', webSid, { traceparent: TP, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' });
  const tp = upstreamTraceparent(seen);
  assert.equal(tp.slice(3, 35), TRACE_ID, 'same trace-id');
  assert.notEqual(tp.slice(36, 52), PARENT, 'the parent is the proxy span, not the client');
  assert.equal(tp.slice(53), '01', 'same flags');
  assert.equal(seen.headers.tracestate, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'tracestate unchanged');
  assert.equal(line.trace, TRACE_ID);
  assert.equal(line.span, tp.slice(36, 52), 'the log line names the span the upstream saw as its parent');
  // The initialize and notifications/initialized POSTs were traced too (started: no header).
  const inits = httpUp.seen.filter((s) => s.method === 'POST');
  for (const s of inits) upstreamTraceparent(s);
});

test('no traceparent: the proxy starts one, sends it upstream and logs it', async () => {
  const a = await call(httpUp, 'web', webSid, {});
  const b = await call(httpUp, 'web', webSid, {});
  const ta = upstreamTraceparent(a.seen);
  const tb = upstreamTraceparent(b.seen);
  assert.notEqual(ta.slice(3, 35), tb.slice(3, 35), 'a new trace per request');
  assert.equal(a.line.trace, ta.slice(3, 35));
  assert.equal(a.line.span, ta.slice(36, 52));
  assert.equal(b.line.trace, tb.slice(3, 35));
  assert.equal(a.seen.headers.tracestate, undefined, 'nothing to pass on');
});

test('a malformed traceparent is treated as absent (and its tracestate dropped)', async () => {
  const malformed = [`00-${'0'.repeat(32)}-${PARENT}-01`, TP.toUpperCase(), `ff-${TRACE_ID}-${PARENT}-01`, `00-${TRACE_ID}-${PARENT}-1`, 'not-a-trace'];
  for (const bad of malformed) {
    const { seen, line } = await call(httpUp, 'web', webSid, { traceparent: bad, tracestate: 'congo=t61rcWkgMzE' });
    const tp = upstreamTraceparent(seen);
    assert.notEqual(tp.slice(3, 35), TRACE_ID.toLowerCase(), bad);
    assert.notEqual(tp.slice(3, 35), '0'.repeat(32), bad);
    assert.equal(seen.headers.tracestate, undefined, `tracestate of a malformed traceparent is dropped (${bad})`);
    assert.equal(line.trace, tp.slice(3, 35));
  }
});

test('_meta.traceparent in the body is used when there is no header; the body goes upstream unchanged', async () => {
  const { seen, line } = await call(httpUp, 'web', webSid, {}, echoBody(`{"traceparent":"${TP}"}`));
  const tp = upstreamTraceparent(seen);
  assert.equal(tp.slice(3, 35), TRACE_ID);
  assert.notEqual(tp.slice(36, 52), PARENT);
  assert.equal(line.trace, TRACE_ID);
  // A header wins over the body.
  const other = `00-${'ab'.repeat(16)}-${PARENT}-00`;
  const both = await call(httpUp, 'web', webSid, { traceparent: other }, echoBody(`{"traceparent":"${TP}"}`));
  assert.equal(upstreamTraceparent(both.seen).slice(3, 35), 'ab'.repeat(16));
  assert.ok(upstreamTraceparent(both.seen).endsWith('-00'), 'flags kept (unsampled)');
});

test('a legacy SSE upstream gets the trace on its message POSTs', async () => {
  const sid = await rawSession(`${proxy.url}/legacy/mcp`);
  const { seen, line } = await call(sseUp, 'legacy', sid, { traceparent: TP, tracestate: 'k=v' });
  assert.match(seen.url, /^\/messages\?sessionId=/);
  const tp = upstreamTraceparent(seen);
  assert.equal(tp.slice(3, 35), TRACE_ID);
  assert.notEqual(tp.slice(36, 52), PARENT);
  assert.equal(seen.headers.tracestate, 'k=v');
  assert.equal(line.trace, TRACE_ID);
  assert.equal(line.span, tp.slice(36, 52));
});

test('a legacy SSE client\'s traceparent on POST /message reaches the upstream', async () => {
  const ac = new AbortController();
  const res = await fetch(`${proxy.url}/web/sse`, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const readUntil = async (re: RegExp): Promise<RegExpExecArray> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = re.exec(buf);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${re} on the stream: ${buf}`);
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      buf += dec.decode(value, { stream: true });
    }
  };
  try {
    const endpoint = (await readUntil(/event: endpoint\ndata: (\S+)/))[1]!;
    const msgUrl = new URL(endpoint, `${proxy.url}/web/sse`).href;
    const post = async (body: string, headers: Record<string, string> = {}): Promise<void> => {
      const r = await fetch(msgUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      assert.equal(r.status, 202);
      await r.text();
    };
    await post('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"legacy","version":"1"}}}');
    await readUntil(/"id":1[,}]/);
    await post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    const before = httpUp.seen.length;
    const lines = logLines.length;
    await post('{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"legacy-down"}}}', { traceparent: TP });
    await readUntil(/legacy-down/);
    // The 202 of notifications/initialized comes before it is forwarded: pick the call's POST by its trace.
    const seen = httpUp.seen.slice(before).filter((s) => s.method === 'POST' && String(s.headers.traceparent).includes(TRACE_ID));
    assert.equal(seen.length, 1, 'the call, and only the call, carries the client trace');
    const tp = upstreamTraceparent(seen[0]!);
    assert.equal(tp.slice(3, 35), TRACE_ID);
    assert.notEqual(tp.slice(36, 52), PARENT);
    await waitFor(() => logLines.slice(lines).some((l) => l.method === 'tools/call' && l.trace === TRACE_ID), 5000, 'legacy request line');
  } finally {
    ac.abort();
    await reader.cancel().catch(() => undefined);
  }
});

test('traceparent and tracestate cannot be configured as upstream headers (the proxy sets them)', () => {
  for (const name of ['traceparent', 'TraceState']) {
    const r = parseConfigText(`destinations:\n  web:\n    transport: streamable_http\n    url: http://127.0.0.1:1/mcp\n    headers: { ${name}: x }\n`, { source: null, baseDir: process.cwd() });
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.ok(r.problems.some((p) => p.includes(name) && /set by the proxy/.test(p)), r.problems.join('\n'));
  }
});
