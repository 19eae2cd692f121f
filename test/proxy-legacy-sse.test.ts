/**
 * Legacy HTTP+SSE on both sides: downstream SSE clients to every upstream kind, a Streamable HTTP
 * client to an SSE upstream, and the legacy endpoint's status rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningUpstream, counterServerPath, startCounterHttp, startCounterSse } from './helpers/counter-upstream.js';
import { callText, connectSse, connectStreamable } from './helpers/mcp-client.js';
import { httpYaml, startTestProxy, stdioCounterYaml, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let httpUp: RunningUpstream;
let sseUp: RunningUpstream;
let proxy: ProxyHandle;

before(async () => {
  httpUp = await startCounterHttp();
  sseUp = await startCounterSse();
  proxy = await startTestProxy(
    httpYaml('web', httpUp.url) + httpYaml('legacy', sseUp.url, 'sse') + stdioCounterYaml('local', counterServerPath()),
    'sse_keepalive_ms: 200\n',
  );
});
after(async () => {
  await proxy.close();
  await httpUp.close();
  await sseUp.close();
});

type Connect = (url: string) => Promise<{ client: Parameters<typeof callText>[0]; close(): Promise<void> }>;

async function isolation(url: string, connect: Connect): Promise<void> {
  const a = await connect(url);
  const b = await connect(url);
  try {
    for (let i = 0; i < 5; i++) await callText(a.client, 'increment');
    for (let i = 0; i < 3; i++) await callText(b.client, 'increment');
    assert.equal(await callText(a.client, 'get'), '5');
    assert.equal(await callText(b.client, 'get'), '3');
    const wa = JSON.parse(await callText(a.client, 'whoami')) as { instance: string };
    const wb = JSON.parse(await callText(b.client, 'whoami')) as { instance: string };
    assert.notEqual(wa.instance, wb.instance);
  } finally {
    await a.close();
    await b.close();
  }
}

describe('counter isolation through a downstream SSE client', () => {
  test('to a Streamable HTTP upstream', async () => {
    const before = httpUp.stats.sessionsCreated;
    await isolation(`${proxy.url}/web/sse`, connectSse);
    assert.equal(httpUp.stats.sessionsCreated - before, 2);
  });
  test('to a stdio upstream', async () => {
    await isolation(`${proxy.url}/local/sse`, connectSse);
  });
  test('to a legacy SSE upstream', async () => {
    const before = sseUp.stats.sessionsCreated;
    await isolation(`${proxy.url}/legacy/sse`, connectSse);
    assert.equal(sseUp.stats.sessionsCreated - before, 2);
  });
});

test('a Streamable HTTP client to a legacy SSE upstream keeps sessions apart', async () => {
  const before = sseUp.stats.sessionsCreated;
  await isolation(`${proxy.url}/legacy/mcp`, (u) => connectStreamable(u));
  assert.equal(sseUp.stats.sessionsCreated - before, 2);
});

test('closing the downstream SSE stream ends the upstream session', async () => {
  const closed = sseUp.stats.sessionsClosed;
  const c = await connectSse(`${proxy.url}/legacy/sse`);
  assert.equal(await callText(c.client, 'increment'), '1');
  await c.close();
  await waitFor(() => sseUp.stats.sessionsClosed === closed + 1, 5000, 'upstream session close');
});

test('notifications and sampling over a downstream SSE stream reach only their client', async () => {
  const logsA: unknown[] = [];
  const logsB: unknown[] = [];
  const a = await connectSse(`${proxy.url}/web/sse`, { onLog: (d) => logsA.push(d), onSampling: (p) => `A:${p}` });
  const b = await connectSse(`${proxy.url}/web/sse`, { onLog: (d) => logsB.push(d), onSampling: (p) => `B:${p}` });
  try {
    const [ra, rb, sa, sb] = await Promise.all([
      callText(a.client, 'notify', { count: 10, tag: 'a' }),
      callText(b.client, 'notify', { count: 10, tag: 'b' }),
      callText(a.client, 'ask', { prompt: 'x' }),
      callText(b.client, 'ask', { prompt: 'y' }),
    ]);
    assert.deepEqual([ra, rb, sa, sb], ['sent 10', 'sent 10', 'client said: A:x', 'client said: B:y']);
    await waitFor(() => logsA.length === 10 && logsB.length === 10, 5000, 'notifications');
    assert.ok(logsA.every((d) => (d as { tag: string }).tag === 'a'));
    assert.ok(logsB.every((d) => (d as { tag: string }).tag === 'b'));
  } finally {
    await a.close();
    await b.close();
  }
});

describe('legacy endpoint rules', () => {
  async function openRaw(): Promise<{ endpoint: string; reader: ReadableStreamDefaultReader<Uint8Array>; ac: AbortController; res: Response; text: () => string; read: () => Promise<void> }> {
    const ac = new AbortController();
    const res = await fetch(`${proxy.url}/web/sse`, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
    const reader = res.body!.getReader();
    let buf = '';
    const dec = new TextDecoder();
    const read = async (): Promise<void> => {
      const { value } = await reader.read();
      if (value) buf += dec.decode(value, { stream: true });
    };
    while (!/event: endpoint\ndata: (.*)\n/.test(buf)) await read();
    const endpoint = /event: endpoint\ndata: (.*)\n/.exec(buf)![1]!;
    return { endpoint, reader, ac, res, text: () => buf, read };
  }

  test('the endpoint event is relative, the stream is unbuffered and kept alive', async () => {
    const s = await openRaw();
    assert.match(s.endpoint, /^message\?sessionId=[0-9a-f]{32}$/);
    assert.equal(s.res.headers.get('x-accel-buffering'), 'no');
    assert.equal(s.res.headers.get('content-type'), 'text/event-stream');
    const before = (s.text().match(/: keepalive/g) ?? []).length;
    await waitFor(async () => {
      await s.read();
      return (s.text().match(/: keepalive/g) ?? []).length > before;
    }, 3000, 'a keep-alive comment');
    s.ac.abort();
  });

  test('POST with an unknown session is 404; bad JSON is 400 with a parse error', async () => {
    const unknown = await fetch(`${proxy.url}/web/message?sessionId=${'e'.repeat(32)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unknown.status, 404);
    await unknown.text();
    const s = await openRaw();
    const bad = await fetch(new URL(s.endpoint, `${proxy.url}/web/sse`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: number } }).error.code, -32700);
    s.ac.abort();
  });

  test('a POST for a stream whose client is gone is 404, not a hang', async () => {
    const s = await openRaw();
    const endpoint = new URL(s.endpoint, `${proxy.url}/web/sse`);
    s.ac.abort();
    await waitFor(async () => {
      const r = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
      await r.text();
      return r.status === 404;
    }, 5000, 'the session to end with its stream');
  });
});
