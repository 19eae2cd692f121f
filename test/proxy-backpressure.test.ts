/**
 * Backpressure end to end: a client that stops reading a large SSE reply must pause the upstream
 * (what the upstream manages to send stays bounded), and once it reads again every event arrives,
 * in order. Upstream is a raw HTTP server so the test can see exactly how much it was allowed to send.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { scrape, total } from './helpers/prom.js';
import { httpYaml, rawPost, startTestProxy, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

const EVENTS = 4000;
const EVENT_TEXT = 'x'.repeat(16 * 1024);
let server: http.Server;
let proxy: ProxyHandle;
let sentBytes = 0;
let finished = false;
/** Replies whose connection closed before the upstream finished writing them. */
let upstreamCut = 0;

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(req.method === 'DELETE' ? 200 : 405).end();
        return;
      }
      const msg = JSON.parse(body) as { id?: number; method: string };
      if (msg.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'big', version: '1' } } }));
        return;
      }
      if (msg.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let done = false;
      res.on('close', () => {
        if (!done) upstreamCut++;
      });
      let i = 0;
      const pump = (): void => {
        while (i < EVENTS) {
          const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: i, message: EVENT_TEXT } });
          const chunk = `event: message\ndata: ${note}\n\n`;
          i++;
          sentBytes += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { done: true } })}\n\n`);
        done = true;
        finished = true;
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  proxy = await startTestProxy(httpYaml('big', `http://127.0.0.1:${port}/mcp`));
});
after(async () => {
  await proxy.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/**
 * A new session, then the big tools/call, read with node:http rather than fetch: fetch drains a
 * body into memory whether or not anyone reads it, which would hide the backpressure under test.
 */
async function openBigReply(url: string): Promise<http.IncomingMessage> {
  const init = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }));
  const sid = init.headers.get('mcp-session-id')!;
  await init.text();
  const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'big', arguments: {} } });
  return new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

test('a client that stops reading pauses the upstream; nothing is lost when it resumes', async () => {
  const res = await openBigReply(`${proxy.url}/big/mcp`);
  assert.equal(res.statusCode, 200);
  res.pause();
  // Read nothing for a while: the upstream must be held back well short of the full reply.
  await new Promise((r) => setTimeout(r, 1500));
  const total = EVENTS * (EVENT_TEXT.length + 100);
  assert.ok(!finished, `upstream must not be able to finish while the client is not reading (sent ${sentBytes})`);
  assert.ok(sentBytes < total / 2, `upstream sent ${sentBytes} of ~${total} bytes while the client read nothing`);

  // Now read everything: every progress event in order, then the result.
  res.setEncoding('utf8');
  let buf = '';
  let next = 0;
  let gotResult = false;
  for await (const chunk of res as AsyncIterable<string>) {
    buf += chunk;
    let idx: number;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      const data = ev.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (!data) continue;
      const m = JSON.parse(data) as { method?: string; params?: { progress: number }; id?: number };
      if (m.method === 'notifications/progress') {
        assert.equal(m.params!.progress, next, 'events arrive in order, none lost');
        next++;
      } else if (m.id === 2) gotResult = true;
    }
  }
  assert.equal(next, EVENTS);
  assert.ok(gotResult);
  await waitFor(() => finished, 2000, 'upstream to finish');
});

test('a reader that stays behind past slow_reader_ms is disconnected; other sessions go on', async () => {
  const port = (server.address() as AddressInfo).port;
  const strict = await startTestProxy(httpYaml('big', `http://127.0.0.1:${port}/mcp`), 'limits: { slow_reader_ms: 400 }\n');
  try {
    const url = `${strict.url}/big/mcp`;
    const res = await openBigReply(url);
    res.pause();
    const cutBefore = upstreamCut;
    // The client never reads: the proxy must cut it and release its upstream exchange, not hold
    // both forever. (The client itself only sees the end once it reads: the FIN queues behind
    // the data it has not read.)
    await waitFor(() => upstreamCut > cutBefore, 5000, 'the upstream exchange to be released');
    // Reading now yields a truncated stream: no result for id 2.
    res.resume();
    res.setEncoding('utf8');
    let text = '';
    await new Promise<void>((resolve) => {
      res.on('data', (c: string) => (text += c.length > 200 ? c.slice(-200) : c));
      res.on('close', () => resolve());
      res.on('error', () => resolve());
      res.on('end', () => resolve());
    });
    assert.ok(!text.includes('"id":2'), 'the cut stream carries no result');
    // Operators see the cut: one slow-reader cut, and the exchange counted as a 503 tools/call.
    const m = await scrape(strict.url);
    assert.equal(total(m, 'mithril_slow_reader_cuts_total', { dest: 'big' }), 1);
    assert.equal(total(m, 'mithril_requests_total', { dest: 'big', method: 'tools/call', status: '503' }), 1);
    // The session is still usable by a reader that keeps up.
    const ok = await rawPost(url, '{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}');
    assert.equal(ok.status, 200);
    await ok.text();
  } finally {
    await strict.close();
  }
});
