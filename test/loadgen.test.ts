/**
 * The load generator against real servers on loopback: the fast upstream (every reply must verify)
 * and small raw node:http servers that corrupt, fail or drop chosen replies (each kind must be counted
 * in its own bucket, never hidden), plus the legacy HTTP+SSE transport.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFastUpstream, type FastUpstream } from '../examples/fast-upstream.js';
import { runLoad } from '../bench/loadtest/run.js';
import { ProxyError } from '../src/errors.js';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

interface Rpc {
  id?: number;
  method?: string;
  params?: { arguments?: { text?: string } };
}

function initResult(id: number | undefined): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 't', version: '1' } } });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('load generator', () => {
  let upstream: FastUpstream;
  let outDir: string;
  before(async () => {
    upstream = await startFastUpstream({ port: 0, host: '127.0.0.1' });
    outDir = mkdtempSync(join(tmpdir(), 'loadgen-'));
  });
  after(() => {
    upstream.close();
    rmSync(outDir, { recursive: true, force: true });
  });

  test('every reply from the fast upstream verifies, and the count is exact', async () => {
    const report = await runLoad({ url: upstream.url, sessions: 4, concurrency: 2, requests: 300, payload: 512, threads: 2, out: outDir });
    assert.equal(report.counts.total, 300);
    assert.equal(report.counts.ok, 300);
    assert.equal(report.counts.errors, 0);
    assert.equal(report.counts.lost, 0);
    assert.equal(report.counts.mismatched, 0);
    assert.equal(report.sessionsFailed, 0);
    assert.equal(report.latency.count, 300);
    assert.ok(report.latency.p99Us >= report.latency.p50Us);
    const json = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8')) as { counts: { ok: number } };
    assert.equal(json.counts.ok, 300);
    const html = readFileSync(join(outDir, 'report.html'), 'utf8');
    assert.match(html, /<svg/);
    // Self-contained: no scripts or stylesheets fetched from anywhere.
    assert.doesNotMatch(html, /\b(src|href)=/);
  });

  test('a timed run stops by itself and verifies every reply', async () => {
    const report = await runLoad({ url: upstream.url, sessions: 2, concurrency: 2, durationMs: 300, threads: 1 });
    assert.ok(report.counts.ok > 0);
    assert.equal(report.counts.ok, report.counts.total);
  });

  test('refuses a non-loopback target unless allowed', async () => {
    await assert.rejects(runLoad({ url: 'http://10.1.2.3:80/x/mcp', requests: 1 }), ProxyError);
  });

  describe('against a server that corrupts, fails and drops chosen replies', () => {
    let server: Server;
    let url: string;
    let served = 0;
    before(async () => {
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        void readBody(req).then((text) => {
          if (req.method !== 'POST') {
            res.writeHead(200).end(); // the generator's DELETE at the end of the run
            return;
          }
          const msg = JSON.parse(text) as Rpc;
          if (msg.method === 'initialize') {
            res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': `sid-${Math.random()}` });
            res.end(initResult(msg.id));
            return;
          }
          if (msg.id === undefined) {
            res.writeHead(202).end();
            return;
          }
          const n = ++served;
          if (n % 50 === 7) {
            req.socket.destroy(); // no reply at all: lost
            return;
          }
          let id = msg.id;
          let echoed = msg.params?.arguments?.text ?? '';
          if (n % 30 === 10) id += 1;
          if (n % 30 === 20) echoed = echoed.replace(/^tok:s(\d+):/, (_m, s: string) => `tok:s${Number(s) + 1}:`);
          if (n % 30 === 0) echoed = echoed.replace(/^tok:s(\d+):(\d+):/, 'tok:s$1:999999:');
          const body =
            n % 10 === 3
              ? JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message: 'boom' } })
              : JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: echoed }] } });
          // Every other reply as an SSE stream, so both reply forms are parsed; the stream starts with
          // a server notification (to be skipped) and stays open a little after the response.
          if (n % 2 === 1) {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n');
            res.write(`event: message\ndata: ${body}\n\n`);
            setTimeout(() => res.end(), 20);
          } else {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(body);
          }
        });
      });
      url = `${await listen(server)}/mcp`;
    });
    after(() => close(server));

    test('each kind of failure lands in its own counter', async () => {
      const report = await runLoad({ url, sessions: 2, concurrency: 2, requests: 300, threads: 1, timeoutMs: 5000 });
      const c = report.counts;
      assert.equal(c.total, 300);
      assert.equal(c.lost, 6); // n = 7, 57, ..., 257
      assert.equal(c.errors, 30); // n % 10 === 3
      assert.equal(c.wrongId, 10);
      assert.equal(c.crossedSession, 10);
      assert.equal(c.wrongToken, 10);
      assert.equal(c.mismatched, 30);
      assert.equal(c.ok, 300 - 6 - 30 - 30);
      assert.ok(report.failures.some((f) => f.includes('wrong id')));
    });
  });

  describe('legacy HTTP+SSE transport', () => {
    let server: Server;
    let base: string;
    const streams = new Map<string, ServerResponse>();
    before(async () => {
      let next = 0;
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const u = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (req.method === 'GET' && u.pathname === '/x/sse') {
          const sid = `s${next++}`;
          streams.set(sid, res);
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`event: endpoint\ndata: /x/message?sessionId=${sid}\n\n`);
          req.on('close', () => streams.delete(sid));
          return;
        }
        void readBody(req).then((text) => {
          const stream = streams.get(u.searchParams.get('sessionId') ?? '');
          if (stream === undefined) {
            res.writeHead(404).end();
            return;
          }
          res.writeHead(202).end();
          const msg = JSON.parse(text) as Rpc;
          if (msg.id === undefined) return;
          const body =
            msg.method === 'initialize'
              ? initResult(msg.id)
              : JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: msg.params?.arguments?.text }] } });
          stream.write(`event: message\ndata: ${body}\n\n`);
        });
      });
      base = await listen(server);
    });
    after(() => close(server));

    test('replies arriving on the GET stream are matched by id and verified', async () => {
      const report = await runLoad({ url: `${base}/x/sse`, transport: 'sse', sessions: 3, concurrency: 2, requests: 120, threads: 1 });
      assert.equal(report.counts.total, 120);
      assert.equal(report.counts.ok, 120);
      assert.equal(report.sessionsFailed, 0);
    });
  });
});
