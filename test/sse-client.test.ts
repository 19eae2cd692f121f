import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { HttpDestination, Timeouts } from '../src/config/types.js';
import { ErrorCode, type ProxyError } from '../src/errors.js';
import { closeAllPools } from '../src/upstream/http-pool.js';
import { SseClient } from '../src/upstream/sse-client.js';
import type { ChannelHandlers } from '../src/upstream/types.js';
import { startLegacySseUpstream } from './helpers/sdk-upstream.js';

const log = pino({ level: 'silent' });

function dest(url: string, timeouts: Partial<Timeouts> = {}): HttpDestination {
  return {
    name: 'legacy',
    transport: 'sse',
    url,
    headers: { Authorization: 'Bearer upstream-own-token' },
    connectKey: 'k',
    timeouts: { connectMs: 2000, firstByteMs: 5000, idleMs: 5000, endpointMs: 2000, requestMs: 10000, maxRequestMs: 60000, ...timeouts },
  };
}

class RecordingHandlers implements ChannelHandlers {
  messages: string[] = [];
  log: string[] = [];
  interrupted: Array<[ProxyError, boolean]> = [];
  closed: Array<ProxyError | null> = [];
  onMessage(json: string): void {
    this.messages.push(json);
  }
  onInterrupted(err: ProxyError, willRecover: boolean): void {
    this.log.push('interrupted');
    this.interrupted.push([err, willRecover]);
  }
  onClosed(err: ProxyError | null): void {
    this.log.push('closed');
    this.closed.push(err);
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function rawServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});

const toClose: Array<() => Promise<void>> = [];
after(async () => {
  for (const f of toClose.reverse()) await f();
  await closeAllPools();
});

describe('SseClient against the SDK legacy SSE server', () => {
  test('relative endpoint, request round trip, server notification, configured headers', async () => {
    const up = await startLegacySseUpstream();
    toClose.push(() => up.close());
    const handlers = new RecordingHandlers();
    const client = new SseClient(dest(up.url), handlers, log);
    await client.start();
    const origin = new URL(up.url).origin;
    assert.match(client.endpointUrl ?? '', new RegExp(`^${origin}/messages\\?sessionId=[0-9a-f-]+$`));

    await client.send(INIT);
    await until(() => handlers.messages.length === 1);
    const init = JSON.parse(handlers.messages[0] as string) as { id: number; result: { protocolVersion: string } };
    assert.equal(init.id, 0);
    assert.equal(init.result.protocolVersion, '2024-11-05');

    await client.send('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    await client.send(JSON.stringify({ jsonrpc: '2.0', id: 'n1', method: 'tools/call', params: { name: 'notify', arguments: { text: 'hi\nthere' } } }));
    await until(() => handlers.messages.length === 3);
    assert.deepEqual(JSON.parse(handlers.messages[1] as string), {
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: 'hi\nthere' },
    });
    assert.deepEqual(JSON.parse(handlers.messages[2] as string), {
      jsonrpc: '2.0',
      id: 'n1',
      result: { content: [{ type: 'text', text: 'done' }] },
    });

    assert.equal(up.seen[0]?.method, 'GET');
    assert.equal(up.seen[0]?.headers.accept, 'text/event-stream');
    for (const r of up.seen) assert.equal(r.headers.authorization, 'Bearer upstream-own-token');
    for (const r of up.seen.slice(1)) {
      assert.equal(r.method, 'POST');
      assert.equal(r.headers['content-type'], 'application/json');
    }

    await client.close();
    await client.close();
    assert.deepEqual(handlers.closed, [null]);
    assert.deepEqual(handlers.interrupted, []);
    await assert.rejects(client.send(INIT), (e: ProxyError) => e.code === ErrorCode.UpstreamClosed);
  });

  test('the stream dropping -> onInterrupted(err, false) then onClosed(err); send rejects after', async () => {
    const up = await startLegacySseUpstream();
    toClose.push(() => up.close());
    const handlers = new RecordingHandlers();
    const client = new SseClient(dest(up.url), handlers, log);
    await client.start();
    await client.send(INIT);
    await until(() => handlers.messages.length === 1);
    await up.dropStreams();
    await until(() => handlers.closed.length === 1);
    assert.deepEqual(handlers.log, ['interrupted', 'closed']);
    assert.equal(handlers.interrupted[0]?.[0].code, ErrorCode.UpstreamClosed);
    assert.equal(handlers.interrupted[0]?.[1], false);
    assert.equal(handlers.closed[0]?.code, ErrorCode.UpstreamClosed);
    await assert.rejects(client.send(INIT), (e: ProxyError) => e.code === ErrorCode.UpstreamClosed);
    await client.close();
    assert.equal(handlers.closed.length, 1, 'a channel closes once');
  });
});

describe('SseClient against raw upstreams', () => {
  test('no endpoint event within endpointMs -> E_UPSTREAM_TIMEOUT, and the stream is released', async () => {
    let released!: () => void;
    const wasReleased = new Promise<void>((resolve) => (released = resolve));
    const { base, server } = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': waiting\n\n');
      res.on('close', () => released());
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new SseClient(dest(`${base}/sse`, { endpointMs: 200 }), handlers, log);
    await assert.rejects(client.start(), (e: ProxyError) => e.code === ErrorCode.UpstreamTimeout);
    await wasReleased;
    assert.deepEqual(handlers.log, []);
  });

  test('endpoint resolution: absolute same-origin accepted, other origin refused', async () => {
    let endpoint = '';
    const { base, server } = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: endpoint\ndata: ${endpoint}\n\n`);
    });
    toClose.push(() => shut(server));

    endpoint = `${base}/elsewhere/msg?x=1`;
    const same = new SseClient(dest(`${base}/a/sse`), new RecordingHandlers(), log);
    await same.start();
    assert.equal(same.endpointUrl, `${base}/elsewhere/msg?x=1`);
    await same.close();

    endpoint = 'msg?s=2'; // relative to the path of the SSE URL
    const rel = new SseClient(dest(`${base}/a/sse`), new RecordingHandlers(), log);
    await rel.start();
    assert.equal(rel.endpointUrl, `${base}/a/msg?s=2`);
    await rel.close();

    endpoint = 'http://evil.example:9/steal';
    const other = new SseClient(dest(`${base}/a/sse`), new RecordingHandlers(), log);
    await assert.rejects(other.start(), (e: ProxyError) => e.code === ErrorCode.UpstreamProtocol);
  });

  test('connect failure, bad status, wrong content type', async () => {
    const { base, server } = await rawServer((req, res) => {
      if (req.url === '/bad') res.writeHead(401).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    toClose.push(() => shut(server));
    await assert.rejects(new SseClient(dest(`${base}/bad`), new RecordingHandlers(), log).start(), (e: ProxyError) =>
      e.code === ErrorCode.UpstreamStatus && e.detail?.status === 401,
    );
    await assert.rejects(new SseClient(dest(`${base}/json`), new RecordingHandlers(), log).start(), (e: ProxyError) =>
      e.code === ErrorCode.UpstreamProtocol,
    );
    const { base: closedBase, server: s2 } = await rawServer(() => undefined);
    await shut(s2);
    await assert.rejects(new SseClient(dest(`${closedBase}/sse`), new RecordingHandlers(), log).start(), (e: ProxyError) =>
      e.code === ErrorCode.UpstreamConnect,
    );
  });

  test('send: a non-2xx answer rejects with E_UPSTREAM_STATUS', async () => {
    const { base, server } = await rawServer((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: endpoint\ndata: /m\n\n');
      } else {
        req.resume();
        res.writeHead(400).end('no');
      }
    });
    toClose.push(() => shut(server));
    const client = new SseClient(dest(`${base}/sse`), new RecordingHandlers(), log);
    await client.start();
    await assert.rejects(client.send(INIT), (e: ProxyError) => e.code === ErrorCode.UpstreamStatus && e.detail?.status === 400);
    await client.close();
  });

  test('pause holds messages until resume; close releases the stream', async () => {
    let push!: (s: string) => void;
    let released!: () => void;
    const wasReleased = new Promise<void>((resolve) => (released = resolve));
    const { base, server } = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: endpoint\ndata: /m\n\n');
      push = (s) => res.write(s);
      res.on('close', () => released());
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new SseClient(dest(`${base}/sse`), handlers, log);
    await client.start();
    push('event: message\ndata: {"m":1}\n\n');
    await until(() => handlers.messages.length === 1);
    client.pause();
    push('data: {"m":2}\n\nevent: other\ndata: ignored\n\ndata: {"m":3}\n\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(handlers.messages, ['{"m":1}']);
    client.resume();
    await until(() => handlers.messages.length === 3);
    assert.deepEqual(handlers.messages, ['{"m":1}', '{"m":2}', '{"m":3}']);
    await client.close();
    await wasReleased;
    assert.deepEqual(handlers.log, ['closed']);
  });
});
