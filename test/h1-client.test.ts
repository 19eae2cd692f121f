/**
 * The upstream HTTP/1.1 client (src/upstream/h1/), on real sockets: framing split at every byte,
 * keep-alive reuse and its bound, deadlines, a server that closes, header injection refused,
 * aborts. The proxy-level behaviour (stale retry, resumption, backpressure) is in the
 * proxy-upstream-* and streamable-http-client tests, which run on this client too.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { H1ErrorCode } from '../src/upstream/h1/errors.js';
import { HeaderBlock } from '../src/upstream/h1/headers.js';
import { ResponseParser } from '../src/upstream/h1/parser.js';
import { H1Pool, type PoolOptions } from '../src/upstream/h1/pool.js';
import { request } from '../src/upstream/h1/request.js';
import type { DispatchController, DispatchOptions } from '../src/upstream/h1/types.js';

const OPTS: PoolOptions = { connections: 4, connectTimeoutMs: 2000, tcpKeepAliveMs: 30_000, keepAliveMs: 4000, keepAliveMarginMs: 1000, keepAliveMaxMs: 60_000 };

interface Parsed { status: number; headers: Record<string, unknown>; keepAlive: boolean; body: string; ends: number }

function parseAll(parts: Buffer[]): Parsed {
  const out: Parsed = { status: 0, headers: {}, keepAlive: false, body: '', ends: 0 };
  const p = new ResponseParser({
    onHead: (s, h, k) => Object.assign(out, { status: s, headers: h, keepAlive: k }),
    onBody: (c) => { out.body += c.toString('latin1'); },
    onEnd: () => { out.ends++; },
  });
  p.reset();
  for (const b of parts) p.feed(b);
  if (out.ends === 0) p.close();
  return out;
}

const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a\r\nset-cookie: b\r\nX-Pad:  v  \r\n\r\n'
  + '5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n';

describe('h1 parser', () => {
  test('chunked (extensions, trailers), split at every byte and at random points, gives one body', () => {
    const whole = Buffer.from(CHUNKED, 'latin1');
    const ref = parseAll([whole]);
    assert.deepEqual([ref.status, ref.body, ref.ends, ref.keepAlive], [200, 'hello0123456789', 1, true]);
    assert.deepEqual(ref.headers['set-cookie'], ['a', 'b']);
    assert.equal(ref.headers['x-pad'], 'v');
    const bareLf = parseAll([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA: b\n\n')]);
    assert.deepEqual([bareLf.body, bareLf.ends], ['x', 1]);
    for (let i = 1; i < whole.length; i++) assert.deepEqual(parseAll([whole.subarray(0, i), whole.subarray(i)]), ref, `split at ${i}`);
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: whole.length - 1 }), { maxLength: 8 }), (cuts) => {
      const at = [...new Set(cuts)].sort((a, b) => a - b);
      const parts: Buffer[] = [];
      let prev = 0;
      for (const c of [...at, whole.length]) {
        parts.push(whole.subarray(prev, c));
        prev = c;
      }
      assert.deepEqual(parseAll(parts), ref);
    }));
  });

  test('Content-Length, close-delimited, 204, 1xx interim heads, HTTP/1.0 and Connection: close', () => {
    assert.deepEqual(parseAll([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc')]).body, 'abc');
    const close = parseAll([Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil close')]);
    assert.deepEqual([close.body, close.keepAlive, close.ends], ['until close', false, 1]);
    assert.deepEqual(parseAll([Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')]).ends, 1);
    const interim = parseAll([Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n')]);
    assert.deepEqual([interim.status, interim.ends], [202, 1]);
    assert.equal(parseAll([Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')]).keepAlive, false);
    assert.equal(parseAll([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')]).keepAlive, false);
  });

  test('malformed responses are H1_PARSE errors', () => {
    const bad = [
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 2000 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n',
      'HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      'HTTP/1.1 101 Switching\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abc\r\n',
      `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`,
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ${'a'.repeat(5000)}\r\n\r\n`,
    ];
    for (const text of bad) {
      assert.throws(() => parseAll([Buffer.from(text)]), (e: { code?: string }) => e.code === H1ErrorCode.Parse, text.slice(0, 60));
    }
  });
});

/** A raw server: `reply(socket, requestText)` answers each complete request head (+ body). */
async function rawServer(reply: (s: Socket, req: string, n: number) => void): Promise<{ port: number; sockets: Socket[]; requests: string[]; server: Server }> {
  const sockets: Socket[] = [];
  const requests: string[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const req = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        requests.push(req);
        reply(s, req, requests.length);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, sockets, requests, server };
}

const ok = (body: string): string => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

interface Outcome { status?: number; body: string; err?: Error & { code?: string }; controller?: DispatchController }

function send(pool: H1Pool, o: Partial<DispatchOptions> = {}, hooks: { onStart?: (c: DispatchController) => void; onData?: (c: DispatchController) => void } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    pool.dispatch({ path: '/mcp', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', headersTimeout: 2000, bodyTimeout: 2000, ...o }, {
      onRequestStart: (c) => { out.controller = c; hooks.onStart?.(c); },
      onResponseStart: (_c, s) => { out.status = s; },
      onResponseData: (c, chunk) => { out.body += chunk.toString(); hooks.onData?.(c); },
      onResponseEnd: () => resolve(out),
      onResponseError: (_c, err) => resolve({ ...out, err }),
    });
  });
}

describe('h1 pool on real sockets', () => {
  test('keep-alive: sequential requests share one socket; Connection: close opens a new one', async () => {
    const srv = await rawServer((s, _req, n) => s.write(n === 3 ? `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nc${n}` : ok(`r${n}`)));
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    for (let i = 1; i <= 3; i++) assert.equal((await send(pool)).body, i === 3 ? 'c3' : `r${i}`);
    assert.equal(srv.sockets.length, 1);
    assert.equal((await send(pool)).body, 'r4');
    assert.equal(srv.sockets.length, 2);
    assert.match(srv.requests[0]!, /^POST \/mcp HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\ncontent-type: application\/json\r\ncontent-length: 2\r\n\r\n\{\}$/);
    await pool.close();
  });

  test('the connection bound: a third concurrent request waits for a free connection (FIFO), then runs', async () => {
    const held: Socket[] = [];
    const srv = await rawServer((s, _req, n) => (n <= 2 ? held.push(s) : s.write(ok(`r${n}`))));
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, { ...OPTS, connections: 2 });
    const [p0, p1, p2] = [send(pool), send(pool), send(pool)];
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(srv.sockets.length, 2, 'no third connection');
    assert.equal(srv.requests.length, 2, 'the third request is not written yet');
    held[0]!.write(ok('first'));
    const results = await Promise.all([p0, p2]);
    assert.deepEqual(results.map((r) => r.body), ['first', 'r3']);
    held[1]!.write(ok('second'));
    assert.equal((await p1).body, 'second');
    await pool.close();
  });

  test('deadlines: no head → H1_HEADERS_TIMEOUT; silent body → H1_BODY_TIMEOUT; paused bodies do not time out', async () => {
    const srv = await rawServer((s, req) => {
      if (req.includes('/nohead')) return;
      if (req.includes('/silent')) return void s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab');
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab');
      setTimeout(() => s.write('cd'), 400);
    });
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    const t0 = Date.now();
    const nohead = await send(pool, { path: '/nohead', headersTimeout: 150 });
    assert.equal(nohead.err?.code, H1ErrorCode.HeadersTimeout);
    assert.ok(Date.now() - t0 < 1500);
    assert.equal((await send(pool, { path: '/silent', bodyTimeout: 150 })).err?.code, H1ErrorCode.BodyTimeout);
    // Paused right after the first bytes for longer than bodyTimeout, then resumed: completes.
    const paused = await send(pool, { path: '/paused', bodyTimeout: 200 }, {
      onData: (c) => {
        if (c.paused) return;
        c.pause();
        setTimeout(() => c.resume(), 500);
      },
    });
    assert.equal(paused.err, undefined);
    assert.equal(paused.body, 'abcd');
    await pool.close();
  });

  test('a server that closes: before the head → H1_CLOSED (the stale case), inside a body → H1_CLOSED', async () => {
    const srv = await rawServer((s, req) => {
      if (req.includes('/cut')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else s.destroy();
    });
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    assert.equal((await send(pool)).err?.code, H1ErrorCode.Closed);
    const cut = await send(pool, { path: '/cut' });
    assert.equal(cut.err?.code, H1ErrorCode.Closed);
    assert.equal(cut.body, 'abc');
    await pool.close();
  });

  test('connect refused → ECONNREFUSED', async () => {
    const srv = await rawServer(() => undefined);
    const port = srv.port;
    await new Promise<void>((r) => srv.server.close(() => r()));
    const pool = new H1Pool(`http://127.0.0.1:${port}`, OPTS);
    assert.equal((await send(pool)).err?.code, 'ECONNREFUSED');
    await pool.destroy();
  });

  test('header injection and client-owned headers are refused before anything is written', async () => {
    const srv = await rawServer((s, _r, n) => s.write(ok(`r${n}`)));
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    const refused: Array<Record<string, string>> = [{ 'x-a': 'v\r\nx-evil: 1' }, { 'content-length': '5' }, { connection: 'close' }, { Host: 'elsewhere' }, { 'bad name': 'v' }, { 'x-u': 'é' }];
    for (const headers of refused) {
      assert.throws(() => HeaderBlock.from(headers), (e: { code?: string }) => e.code === H1ErrorCode.InvalidHeader, JSON.stringify(headers));
      const r = await send(pool, { headers });
      assert.equal(r.err?.code, H1ErrorCode.InvalidHeader, JSON.stringify(headers));
    }
    assert.equal((await send(pool, { path: '/a b' })).err?.code, H1ErrorCode.InvalidHeader);
    assert.equal((await send(pool)).body, 'r1', 'only the valid request reached the server');
    assert.equal(srv.requests.length, 1);
    await pool.close();
  });

  test('abort: in onRequestStart leaves the connection clean for the next request; in flight it closes the connection', async () => {
    const held: Socket[] = [];
    const srv = await rawServer((s, req, n) => (req.includes('/hold') ? held.push(s) : s.write(ok(`r${n}`))));
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    assert.equal((await send(pool)).body, 'r1');
    const early = await send(pool, {}, { onStart: (c) => c.abort(Object.assign(new Error('stop'), { code: 'TEST_ABORT' })) });
    assert.equal(early.err?.code, 'TEST_ABORT');
    assert.equal(srv.requests.length, 1, 'nothing written for the aborted request');
    assert.equal((await send(pool)).body, 'r2');
    assert.equal(srv.sockets.length, 1, 'the same connection carried it');
    let ctl: DispatchController | undefined;
    let errorsSeen = 0;
    const inflight = send(pool, { path: '/hold' }, { onStart: (c) => { ctl = c; } });
    for (let k = 0; k < 100 && held.length === 0; k++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.length, 1, 'the held request reached the server');
    const serverSawClose = new Promise<void>((r) => held[0]!.once('close', () => r()));
    ctl!.abort(Object.assign(new Error('client left'), { code: 'TEST_GONE' }));
    ctl!.abort(new Error('twice'));
    const o = await inflight;
    if (o.err) errorsSeen++;
    assert.equal(o.err?.code, 'TEST_GONE');
    assert.equal(errorsSeen, 1);
    await serverSawClose;
    const next = `r${srv.requests.length + 1}`;
    assert.equal((await send(pool)).body, next, 'a new connection serves the next request');
    await pool.destroy();
  });

  test('abort inside onResponseData: the rest of that socket read is dropped, one error, the pool goes on', async () => {
    const srv = await rawServer((s, req, n) => s.write(req.includes('/two')
      ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n'
      : ok(`r${n}`)));
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    let errors = 0;
    const calls: string[] = [];
    const o = await new Promise<Outcome>((resolve) => {
      const out: Outcome = { body: '' };
      pool.dispatch({ path: '/two', method: 'GET', headers: {}, headersTimeout: 2000, bodyTimeout: 2000 }, {
        onResponseData: (c, chunk) => { calls.push('data'); out.body += chunk.toString(); c.abort(Object.assign(new Error('enough'), { code: 'TEST_ENOUGH' })); },
        onResponseEnd: () => { calls.push('end'); resolve(out); },
        onResponseError: (_c, err) => { calls.push('error'); errors++; resolve({ ...out, err }); },
      });
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([o.body, o.err?.code, errors, calls], ['abc', 'TEST_ENOUGH', 1, ['data', 'error']]);
    assert.equal((await send(pool)).body, 'r2');
    await pool.destroy();
  });

  test('request(): dump() drains a body so its connection is reused; an aborted signal rejects', async () => {
    const srv = await rawServer((s, _r, n) => s.write(ok('x'.repeat(1000) + n)));
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, OPTS);
    const res = await request(pool, { method: 'GET', path: '/', headers: {}, headersTimeout: 1000, bodyTimeout: 1000 });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const again = await request(pool, { method: 'GET', path: '/', headers: {}, headersTimeout: 1000, bodyTimeout: 1000 });
    let text = '';
    for await (const c of again.body) text += (c as Buffer).toString();
    assert.equal(text, 'x'.repeat(1000) + '2');
    assert.equal(srv.sockets.length, 1);
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await assert.rejects(request(pool, { method: 'GET', path: '/', headers: {}, signal: ac.signal, headersTimeout: 1000, bodyTimeout: 1000 }), /gone/);
    await pool.close();
  });

  test('destroy() fails what runs and what is queued with H1_POOL_CLOSED; a closed pool refuses new requests', async () => {
    const srv = await rawServer(() => undefined);
    const pool = new H1Pool(`http://127.0.0.1:${srv.port}`, { ...OPTS, connections: 1 });
    const a = send(pool);
    const b = send(pool);
    await new Promise((r) => setTimeout(r, 50));
    await pool.destroy();
    assert.deepEqual([(await a).err?.code, (await b).err?.code], [H1ErrorCode.PoolClosed, H1ErrorCode.PoolClosed]);
    assert.equal((await send(pool)).err?.code, H1ErrorCode.PoolClosed);
  });

  test('keepAliveMs follows the server hint minus the margin, within the maximum', () => {
    const pool = new H1Pool('http://127.0.0.1:1', OPTS);
    assert.equal(pool.keepAliveMs(undefined), 4000);
    assert.equal(pool.keepAliveMs('timeout=5'), 4000);
    assert.equal(pool.keepAliveMs('max=100, timeout=30'), 29_000);
    assert.equal(pool.keepAliveMs('timeout=600'), 60_000);
    assert.equal(pool.keepAliveMs('timeout=1'), 0);
  });
});
