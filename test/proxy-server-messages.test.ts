/**
 * Every server→client message reaches the owning client on a stream it is actually reading, and
 * flow-control credit is never lost across streams (issue 8, defects 1–3):
 *  - a legacy HTTP+SSE client in front of a Streamable HTTP upstream gets a server request the
 *    upstream sends on its standalone GET stream (the proxy opens that stream for legacy sessions);
 *  - a Streamable HTTP client that opens no GET stream gets server requests and notifications on
 *    the POST reply they arrive during (stdio upstream: they are unmatched channel messages);
 *  - a client that opens and drops its GET stream again and again does not strand the upstream.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { callText, connectSse } from './helpers/mcp-client.js';
import { httpYaml, rawPost, rawSession, startTestProxy, waitFor } from './helpers/proxy.js';
import { type SdkUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';
import type { ProxyHandle } from '../src/proxy.js';

const EMITTER = fileURLToPath(new URL('../../test/fixtures/stdio/emitter.mjs', import.meta.url));

let upstream: SdkUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startStreamableUpstream({ enableJsonResponse: false });
  const emitter = `  emit:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EMITTER)}]\n    timeouts: { request_ms: 4000 }\n`;
  proxy = await startTestProxy(httpYaml('web', upstream.url) + emitter);
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

/** Reads SSE `data:` messages from a streaming fetch body, one parsed JSON-RPC message at a time. */
async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      const data = ev.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) yield JSON.parse(data) as Record<string, unknown>;
    }
  }
}

describe('server requests reach clients that read no GET stream', () => {
  test('legacy SSE client × Streamable HTTP upstream: a sampling request sent on the upstream GET stream', { timeout: 30_000 }, async () => {
    const c = await connectSse(`${proxy.url}/web/sse`, { onSampling: (p) => `sampled:${p}` });
    try {
      assert.equal(await callText(c.client, 'ask_unrelated', { text: 'legacy' }), 'sampled:legacy');
    } finally {
      await c.close();
    }
  });

  test('Streamable HTTP client without GET × Streamable HTTP upstream: the unrelated request comes on the POST stream', { timeout: 30_000 }, async () => {
    const url = `${proxy.url}/web/mcp`;
    const sid = await rawSession(url);
    const r = await rawPost(url, '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask_unrelated","arguments":{"text":"nog"}}}', { 'mcp-session-id': sid });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    let result: unknown;
    for await (const m of sseMessages(r.body!)) {
      if (m.method === 'sampling/createMessage') {
        const answer = { jsonrpc: '2.0', id: m.id, result: { role: 'assistant', model: 'm', content: { type: 'text', text: 'from-post-stream' } } };
        const a = await rawPost(url, JSON.stringify(answer), { 'mcp-session-id': sid });
        assert.equal(a.status, 202);
        await a.text();
      } else if (m.id === 5) {
        result = m.result;
        break;
      }
    }
    assert.deepEqual((result as { content: unknown[] }).content, [{ type: 'text', text: 'from-post-stream' }]);
  });

  test('Streamable HTTP client without GET × stdio upstream: sampling during tools/call, and a notification', { timeout: 30_000 }, async () => {
    const url = `${proxy.url}/emit/mcp`;
    const sid = await rawSession(url);
    const r = await rawPost(url, '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"ask","arguments":{}}}', { 'mcp-session-id': sid });
    assert.equal(r.status, 200);
    let text = '';
    for await (const m of sseMessages(r.body!)) {
      if (m.method === 'sampling/createMessage') {
        const a = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { role: 'assistant', model: 'm', content: { type: 'text', text: 'yes' } } }), { 'mcp-session-id': sid });
        assert.equal(a.status, 202);
        await a.text();
      } else if (m.id === 9) {
        text = ((m.result as { content: Array<{ text: string }> }).content[0]!).text;
        break;
      }
    }
    assert.equal(text, 'yes');

    const n = await rawPost(url, '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"emit","arguments":{"size":100}}}', { 'mcp-session-id': sid });
    const seen: string[] = [];
    for await (const m of sseMessages(n.body!)) {
      seen.push(typeof m.method === 'string' ? m.method : `id:${String(m.id)}`);
      if (m.id === 10) break;
    }
    assert.deepEqual(seen, ['notifications/message', 'id:10']);
  });
});

/** Opens the session's GET stream with node:http (fetch would buffer what the test does not read). */
function openGet(url: string, sid: string): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }, (res) => resolve({ req, res }));
    req.on('error', reject);
  });
}

test('a GET stream dropped again and again never strands the upstream (credit is paid when a stream ends)', { timeout: 30_000 }, async () => {
  const url = `${proxy.url}/emit/mcp`;
  const sid = await rawSession(url);
  const EVENT = 56_000;
  // 25 rounds × 56 KB left unacknowledged would be 1.4 MB: past the 1 MiB window, so before the
  // fix the child's stdout stayed paused and the next call timed out.
  for (let round = 0; round <= 25; round++) {
    let get: { req: http.ClientRequest; res: http.IncomingMessage } | undefined;
    await waitFor(async () => {
      const g = await openGet(url, sid);
      if (g.res.statusCode === 200) {
        get = g;
        return true;
      }
      g.req.destroy(); // 409 while the proxy has not yet seen the previous stream close
      return false;
    }, 5000, `GET stream (round ${round})`);
    let received = 0;
    const got = new Promise<void>((resolve) => {
      get!.res.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= EVENT) resolve();
      });
    });
    const call = await rawPost(url, `{"jsonrpc":"2.0","id":${100 + round},"method":"tools/call","params":{"name":"emit","arguments":{"size":${EVENT}}}}`, { 'mcp-session-id': sid });
    assert.equal(call.status, 200, `round ${round}: ${await call.clone().text()}`);
    await call.text();
    await got;
    get!.req.destroy();
  }
});
