import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { HttpDestination, Timeouts } from '../src/config/types.js';
import { ErrorCode, ProxyError } from '../src/errors.js';
import { closeAllPools } from '../src/upstream/http-pool.js';
import { StreamableHttpClient } from '../src/upstream/streamable-http-client.js';
import { MAX_RESUMES_WITHOUT_PROGRESS } from '../src/upstream/streamable-http-exchange.js';
import type { ExchangeHandlers, ReplySink } from '../src/upstream/types.js';
import { startStreamableUpstream, type SdkUpstream } from './helpers/sdk-upstream.js';

const log = pino({ level: 'silent' });

function dest(url: string, timeouts: Partial<Timeouts> = {}): HttpDestination {
  return {
    name: 't',
    transport: 'streamable_http',
    url,
    headers: { 'X-Upstream-Token': 'configured-secret' },
    connectKey: 'k',
    timeouts: { connectMs: 2000, firstByteMs: 5000, idleMs: 5000, endpointMs: 2000, requestMs: 10000, maxRequestMs: 60000, ...timeouts },
  };
}

type Outcome = { kind: 'json'; body: string } | { kind: 'end' } | { kind: 'accepted' } | { kind: 'fail'; err: ProxyError };

/** A ReplySink that records every call; `answer(i)` decides what event() returns for event i. */
class RecordingSink implements ReplySink {
  closed = false;
  started = false;
  events: string[] = [];
  resumeFn: (() => void) | undefined;
  readonly done: Promise<Outcome>;
  private settle!: (o: Outcome) => void;
  calls = 0;
  constructor(private readonly answer: (i: number) => boolean = () => true) {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }
  json(body: string): void {
    this.calls++;
    this.settle({ kind: 'json', body });
  }
  startStream(): void {
    this.calls++;
    this.started = true;
  }
  event(json: string): boolean {
    this.calls++;
    this.events.push(json);
    return this.answer(this.events.length);
  }
  onResume(fn: () => void): void {
    this.resumeFn = fn;
  }
  end(): void {
    this.calls++;
    this.settle({ kind: 'end' });
  }
  accepted(): void {
    this.calls++;
    this.settle({ kind: 'accepted' });
  }
  fail(err: ProxyError): void {
    this.calls++;
    this.settle({ kind: 'fail', err });
  }
}

class RecordingHandlers implements ExchangeHandlers {
  messages: string[] = [];
  closed: Array<ProxyError | null> = [];
  onServerMessage(json: string): void {
    this.messages.push(json);
  }
  onClosed(err: ProxyError | null): void {
    this.closed.push(err);
  }
}

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';
const call = (id: number | string, name: string, text: string): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { text } } });

async function send(client: StreamableHttpClient, json: string, sink = new RecordingSink()): Promise<[Outcome, RecordingSink]> {
  client.request(json, sink);
  return [await sink.done, sink];
}

function failCode(o: Outcome): string {
  assert.equal(o.kind, 'fail', `expected a failure, got ${JSON.stringify(o)}`);
  return (o as { err: ProxyError }).err.code;
}

async function rawServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += String(c);
  return s;
}

const toClose: Array<() => Promise<void>> = [];
after(async () => {
  for (const f of toClose.reverse()) await f();
  await closeAllPools();
});

describe('StreamableHttpClient against the SDK server (JSON replies)', () => {
  let up: SdkUpstream;

  test('initialize captures the session id and protocol version; later requests carry them', async () => {
    up = await startStreamableUpstream({ enableJsonResponse: true });
    toClose.push(() => up.close());
    const handlers = new RecordingHandlers();
    const client = new StreamableHttpClient(dest(up.url), handlers, log);

    const [init] = await send(client, INIT);
    assert.equal(init.kind, 'json');
    const initBody = JSON.parse((init as { body: string }).body) as { id: number; result: { protocolVersion: string } };
    assert.equal(initBody.id, 0);

    await client.post(INITIALIZED);
    const [list] = await send(client, '{"jsonrpc":"2.0","id":"a","method":"tools/list"}');
    assert.equal(list.kind, 'json');
    const tools = (JSON.parse((list as { body: string }).body) as { result: { tools: Array<{ name: string }> } }).result.tools;
    assert.deepEqual(tools.map((t) => t.name).sort(), ['ask_unrelated', 'echo', 'notify']);

    const [echo] = await send(client, call(7, 'echo', 'h\u00e9llo'));
    assert.deepEqual(JSON.parse((echo as { body: string }).body), {
      jsonrpc: '2.0',
      id: 7,
      result: { content: [{ type: 'text', text: 'h\u00e9llo' }] },
    });

    const posts = up.seen.filter((r) => r.method === 'POST');
    assert.equal(posts.length, 4);
    const [first, ...later] = posts;
    assert.equal(first?.headers['mcp-session-id'], undefined);
    assert.equal(first?.headers['mcp-protocol-version'], undefined);
    const session = later[0]?.headers['mcp-session-id'];
    assert.equal(typeof session, 'string');
    for (const r of later) {
      assert.equal(r.headers['mcp-session-id'], session);
      assert.equal(r.headers['mcp-protocol-version'], initBody.result.protocolVersion);
    }
    for (const r of posts) {
      assert.equal(r.headers['x-upstream-token'], 'configured-secret');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers.accept, 'application/json, text/event-stream');
    }

    // close() DELETEs the session upstream and reports onClosed(null) once, however often it is called.
    await Promise.all([client.close(), client.close()]);
    await client.close();
    assert.deepEqual(up.closedSessions, [session]);
    const del = up.seen.filter((r) => r.method === 'DELETE');
    assert.equal(del.length, 1);
    assert.equal(del[0]?.headers['mcp-session-id'], session);
    assert.deepEqual(handlers.closed, [null]);

    const [afterClose] = await send(client, call(8, 'echo', 'x'));
    assert.equal(failCode(afterClose), ErrorCode.UpstreamClosed);
  });

  test('a notification sent through request() is answered 202 -> accepted()', async () => {
    const client = new StreamableHttpClient(dest(up.url), new RecordingHandlers(), log);
    await send(client, INIT);
    const [o, sink] = await send(client, INITIALIZED);
    assert.equal(o.kind, 'accepted');
    assert.equal(sink.calls, 1);
    await client.close();
  });
});

describe('StreamableHttpClient against the SDK server (SSE replies)', () => {
  test('initialize and a tool call with a progress notification arrive as SSE events', async () => {
    const up = await startStreamableUpstream({ enableJsonResponse: false });
    toClose.push(() => up.close());
    const client = new StreamableHttpClient(dest(up.url), new RecordingHandlers(), log);

    const [init, initSink] = await send(client, INIT);
    assert.equal(init.kind, 'end');
    assert.equal(initSink.started, true);
    assert.equal(initSink.events.length, 1);
    const version = (JSON.parse(initSink.events[0] as string) as { result: { protocolVersion: string } }).result.protocolVersion;

    await client.post(INITIALIZED);
    const [o, sink] = await send(client, call('c1', 'notify', 'line one\nline two'));
    assert.equal(o.kind, 'end');
    assert.equal(sink.events.length, 2);
    assert.deepEqual(JSON.parse(sink.events[0] as string), {
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: 'line one\nline two' },
    });
    assert.deepEqual(JSON.parse(sink.events[1] as string), {
      jsonrpc: '2.0',
      id: 'c1',
      result: { content: [{ type: 'text', text: 'done' }] },
    });
    const last = up.seen.filter((r) => r.method === 'POST').at(-1);
    assert.equal(last?.headers['mcp-protocol-version'], version);
    await client.close();
    assert.equal(up.closedSessions.length, 1);
  });
});

describe('StreamableHttpClient against raw upstreams', () => {
  test('backpressure: event() returning false stops delivery and the upstream blocks until onResume', async () => {
    const total = 16_000;
    const pad = 'x'.repeat(1000);
    let serverBlocked!: () => void;
    const blocked = new Promise<void>((resolve) => (serverBlocked = resolve));
    let serverFinished = false;
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(async () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let i = 0; i < total; i++) {
          // No `id:` fields: a stream with ids that ends without the answer is resumed (GET +
          // Last-Event-ID), which this raw server does not implement.
          if (!res.write(`data: {"n":${i},"pad":"${pad}"}\n\n`)) {
            serverBlocked();
            await new Promise((resolve) => res.once('drain', resolve));
          }
        }
        serverFinished = true;
        res.end();
      });
    });
    toClose.push(() => shut(server));
    let saturated = true;
    const sink = new RecordingSink((i) => i !== 1 || !saturated);
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    client.request(call(1, 'echo', 'x'), sink);

    await blocked;
    // Let the sockets settle: whatever could still flow has flowed by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sink.events.length, 1, 'no event may reach a saturated sink');
    assert.equal(serverFinished, false, 'the upstream must be held back, not buffered without bound');
    assert.ok(sink.resumeFn, 'the client registered onResume');

    saturated = false;
    sink.resumeFn();
    const o = await sink.done;
    assert.equal(o.kind, 'end');
    assert.equal(sink.events.length, total);
    sink.events.forEach((e, i) => assert.equal((JSON.parse(e) as { n: number }).n, i));
    await client.close();
  });

  test('a closed port fails with E_UPSTREAM_CONNECT (request and post)', async () => {
    const { url, server } = await rawServer(() => undefined);
    await shut(server);
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    const [o] = await send(client, INIT);
    assert.equal(failCode(o), ErrorCode.UpstreamConnect);
    await assert.rejects(client.post(INITIALIZED), (e: ProxyError) => e.code === ErrorCode.UpstreamConnect);
    await client.close();
  });

  test('an upstream that never answers fails with E_UPSTREAM_TIMEOUT after firstByteMs', async () => {
    let closedByClient = false;
    const { url, server } = await rawServer((req) => {
      req.resume();
      req.socket.on('close', () => (closedByClient = true));
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url, { firstByteMs: 200 }), new RecordingHandlers(), log);
    const [o] = await send(client, INIT);
    assert.equal(failCode(o), ErrorCode.UpstreamTimeout);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(closedByClient, true, 'the timed-out request was aborted');
    await client.close();
  });

  test('silence inside a reply stream fails with E_UPSTREAM_TIMEOUT after idleMs', async () => {
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"first":true}\n\n');
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url, { idleMs: 200 }), new RecordingHandlers(), log);
    const [o, sink] = await send(client, call(1, 'echo', 'x'));
    assert.deepEqual(sink.events, ['{"first":true}']);
    assert.equal(failCode(o), ErrorCode.UpstreamTimeout);
    await client.close();
  });

  test('500 fails with E_UPSTREAM_STATUS; 200 with a wrong content type with E_UPSTREAM_PROTOCOL', async () => {
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then((body) => {
        if (body.includes('"wrong"')) res.writeHead(200, { 'content-type': 'text/plain' }).end('hi');
        else res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    const [o] = await send(client, INIT);
    assert.equal(failCode(o), ErrorCode.UpstreamStatus);
    assert.deepEqual((o as { err: ProxyError }).err.detail, { status: 500 });
    assert.equal((o as { err: ProxyError }).err.message, 'upstream answered 500');
    const [p] = await send(client, call('wrong', 'echo', 'x'));
    assert.equal(failCode(p), ErrorCode.UpstreamProtocol);
    await assert.rejects(client.post(INITIALIZED), (e: ProxyError) => e.code === ErrorCode.UpstreamStatus);
    await client.close();
  });

  test('404 on a known session: E_UPSTREAM_CLOSED, onClosed(err), later requests fail at once', async () => {
    let posts = 0;
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        posts++;
        if (req.headers['mcp-session-id'] === undefined) {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's-1' });
          res.end('{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}}');
        } else {
          res.writeHead(404).end();
        }
      });
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new StreamableHttpClient(dest(url), handlers, log);
    assert.equal((await send(client, INIT))[0].kind, 'json');
    const [o] = await send(client, call(1, 'echo', 'x'));
    assert.equal(failCode(o), ErrorCode.UpstreamClosed);
    assert.equal(handlers.closed.length, 1);
    assert.equal(handlers.closed[0]?.code, ErrorCode.UpstreamClosed);
    const [again] = await send(client, call(2, 'echo', 'x'));
    assert.equal(failCode(again), ErrorCode.UpstreamClosed);
    assert.equal(posts, 2, 'no request is sent to a session known to be gone');
    await client.close();
    assert.equal(handlers.closed.length, 1, 'onClosed is reported once');
    assert.equal(posts, 2, 'no DELETE for a session the upstream already forgot');
  });

  test('a sink that closes mid-stream aborts the upstream request', async () => {
    let upstreamSawClose!: () => void;
    const sawClose = new Promise<void>((resolve) => (upstreamSawClose = resolve));
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let n = 0;
        const timer = setInterval(() => res.write(`data: {"n":${n++}}\n\n`), 10);
        res.on('close', () => {
          clearInterval(timer);
          upstreamSawClose();
        });
      });
    });
    toClose.push(() => shut(server));
    const sink = new RecordingSink((i) => {
      if (i === 2) sink.closed = true;
      return true;
    });
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    client.request(call(1, 'echo', 'x'), sink);
    await sawClose;
    assert.equal(sink.events.length, 2);
    const callsAtClose = sink.calls;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sink.calls, callsAtClose, 'a closed sink gets no further calls');
    await client.close();
  });

  test('a sink closed before the reply head arrives gets nothing, and the reply is dropped', async () => {
    let answered!: () => void;
    const wasAnswered = new Promise<void>((resolve) => (answered = resolve));
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: {"late":true}\n\n');
          answered();
        }, 50);
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    for (const sink of [new RecordingSink(), new RecordingSink()]) {
      client.request(call(1, 'echo', 'x'), sink);
      sink.closed = true;
    }
    await wasAnswered;
    await new Promise((resolve) => setTimeout(resolve, 100));
    await client.close();
  });

  test('close() with a hanging upstream still resolves, fails in-flight requests, and tried DELETE', async () => {
    const methods: string[] = [];
    const { url, server } = await rawServer((req, res) => {
      methods.push(`${req.method} ${req.headers['mcp-session-id'] ?? '-'}`);
      void readBody(req).then((body) => {
        if (req.method === 'POST' && body.includes('"initialize"')) {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'hang-1' });
          res.end('{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}}');
        }
        // Everything else (the tool call, the DELETE) is never answered.
      });
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new StreamableHttpClient(dest(url), handlers, log);
    await send(client, INIT);
    const pending = new RecordingSink();
    client.request(call(1, 'echo', 'x'), pending);
    while (methods.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await client.close();
    assert.equal(failCode(await pending.done), ErrorCode.UpstreamClosed);
    assert.deepEqual(methods, ['POST -', 'POST hang-1', 'DELETE hang-1']);
    assert.deepEqual(handlers.closed, [null]);
  });
});

describe('StreamableHttpClient resuming a reply stream (2025-11-25 polling)', () => {
  test('resume GETs that bring nothing new are bounded: the call fails with E_UPSTREAM_CLOSED', async () => {
    const resumes: Array<string | undefined> = [];
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'GET') {
          const last = req.headers['last-event-id'];
          resumes.push(Array.isArray(last) ? last[0] : last);
          // A server that accepts the resume and hangs up at once, forever.
          res.writeHead(200, { 'content-type': 'text/event-stream' }).end(': nothing\n\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end('id: p1\nretry: 10\ndata: \n\n');
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    const [o] = await send(client, call(1, 'echo', 'x'));
    assert.equal(failCode(o), ErrorCode.UpstreamClosed);
    assert.equal(resumes.length, MAX_RESUMES_WITHOUT_PROGRESS + 1, 'the resume, then the bounded retries of it, each with Last-Event-ID');
    assert.ok(resumes.every((id) => id === 'p1'));
    await client.close();
  });

  test('a server that refuses the resume GET fails the call with its status, not a hang', async () => {
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'GET') return void res.writeHead(405).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end('id: p1\nretry: 10\ndata: \n\n');
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    const [o] = await send(client, call(2, 'echo', 'x'));
    assert.equal(failCode(o), ErrorCode.UpstreamStatus);
    await client.close();
  });

  test('a stream with ids that ends after its answer is simply over (no resume)', async () => {
    let gets = 0;
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'GET') {
          gets++;
          return void res.writeHead(405).end();
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' })
          .end('id: a1\ndata: \n\nid: a2\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\nid: a3\ndata: {"jsonrpc":"2.0","id":3,"result":{}}\n\n');
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url), new RecordingHandlers(), log);
    const [o, sink] = await send(client, call(3, 'echo', 'x'));
    assert.equal(o.kind, 'end');
    assert.equal(sink.events.length, 2);
    assert.equal(gets, 0);
    await client.close();
  });
});

describe('StreamableHttpClient standalone GET stream', () => {
  test('405 -> no stream, quietly', async () => {
    const handlers = new RecordingHandlers();
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'GET') res.writeHead(405, { allow: 'POST' }).end();
        else res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'g' }).end('{"jsonrpc":"2.0","id":0,"result":{}}');
      });
    });
    toClose.push(() => shut(server));
    const client = new StreamableHttpClient(dest(url), handlers, log);
    await send(client, INIT);
    await client.openServerStream();
    assert.deepEqual(handlers.messages, []);
    assert.deepEqual(handlers.closed, []);
    await client.close();
  });

  test('messages arrive via onServerMessage; a dropped stream reconnects with Last-Event-ID', async () => {
    const gets: Array<string | undefined> = [];
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'POST') {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'g2' }).end('{"jsonrpc":"2.0","id":0,"result":{}}');
          return;
        }
        if (req.method !== 'GET') return void res.writeHead(200).end();
        const lastId = req.headers['last-event-id'];
        gets.push(Array.isArray(lastId) ? lastId[0] : lastId);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (gets.length === 1) {
          res.end('retry: 10\nid: e1\ndata: {"m":1}\n\nid: e2\ndata: {"m":2}\n\n');
        } else {
          res.write('id: e3\ndata: {"m":3}\n\n');
        }
      });
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new StreamableHttpClient(dest(url), handlers, log);
    await send(client, INIT);
    await client.openServerStream();
    while (handlers.messages.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(handlers.messages, ['{"m":1}', '{"m":2}', '{"m":3}']);
    assert.deepEqual(gets, [undefined, 'e2']);
    await client.close();
    assert.deepEqual(handlers.closed, [null]);
  });

  test('a stream that keeps failing is given up after bounded reconnects -> onClosed(err)', async () => {
    let gets = 0;
    let deletes = 0;
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'POST') {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'g3' }).end('{"jsonrpc":"2.0","id":0,"result":{}}');
          return;
        }
        if (req.method === 'DELETE') deletes++;
        if (req.method !== 'GET') return void res.writeHead(200).end();
        gets++;
        if (gets === 1) res.writeHead(200, { 'content-type': 'text/event-stream' }).end('retry: 10\n\n');
        else res.writeHead(503).end();
      });
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new StreamableHttpClient(dest(url), handlers, log);
    await send(client, INIT);
    await client.openServerStream();
    while (handlers.closed.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(handlers.closed[0]?.code, ErrorCode.UpstreamClosed);
    assert.equal(gets, 7, 'one stream that ended cleanly (no penalty), then six failures: five reconnects and the last');
    const [o] = await send(client, call(1, 'echo', 'x'));
    assert.equal(failCode(o), ErrorCode.UpstreamClosed);
    await client.close();
    assert.equal(handlers.closed.length, 1);
    assert.equal(deletes, 1, 'the upstream may still hold the session: close() DELETEs it');
  });

  test('pauseServerStream holds messages until resumeServerStream', async () => {
    let push!: (s: string) => void;
    const { url, server } = await rawServer((req, res) => {
      void readBody(req).then(() => {
        if (req.method === 'POST') {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'g4' }).end('{"jsonrpc":"2.0","id":0,"result":{}}');
          return;
        }
        if (req.method !== 'GET') return void res.writeHead(200).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        push = (s) => res.write(s);
      });
    });
    toClose.push(() => shut(server));
    const handlers = new RecordingHandlers();
    const client = new StreamableHttpClient(dest(url), handlers, log);
    await send(client, INIT);
    await client.openServerStream();
    push('data: {"m":1}\n\n');
    while (handlers.messages.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    client.pauseServerStream();
    push('data: {"m":2}\n\ndata: {"m":3}\n\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(handlers.messages, ['{"m":1}']);
    client.resumeServerStream();
    while (handlers.messages.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(handlers.messages, ['{"m":1}', '{"m":2}', '{"m":3}']);
    await client.close();
  });
});
