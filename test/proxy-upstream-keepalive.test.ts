/**
 * Idle keep-alive sockets toward Node/SDK upstreams (issue 8, defect 7). Node's http server closes
 * an idle keep-alive socket after 5 s and the SDK's SSE replies carry `Connection: keep-alive`
 * without a `Keep-Alive: timeout=` hint, so a pool that keeps sockets longer reuses one the server
 * is closing: `502 connection failed: read ECONNRESET` after a ~6 s pause. Idle sockets must be
 * retired before typical servers close them, and a request whose reused connection failed before
 * any byte was written must be retried once.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FeatureUpstream, startFeatureUpstream } from './helpers/sdk-upstream-features.js';
import { INIT_BODY, httpYaml, rawPost, startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

const ROUNDS = Number(process.env.MITHRIL_KEEPALIVE_ROUNDS ?? 4);
const PAUSE_MS = Number(process.env.MITHRIL_KEEPALIVE_PAUSE_MS ?? 5_900);

let upstream: FeatureUpstream;
let proxy: ProxyHandle;

before(async () => {
  // Node keeps the socket open (60 s) but the server treats anything idle past 5 s as closed.
  upstream = await startFeatureUpstream({ keepAliveTimeoutMs: 60_000, silentIdleCloseMs: 5_000, eventStore: false });
  proxy = await startTestProxy(httpYaml('web', upstream.url));
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

async function session(url: string): Promise<string> {
  const r = await rawPost(url, INIT_BODY.replace('2025-06-18', '2025-11-25'));
  assert.equal(r.status, 200);
  await r.text();
  const sid = r.headers.get('mcp-session-id') as string;
  await (await rawPost(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', { 'mcp-session-id': sid })).text();
  return sid;
}

test(`calls after 5.9 s pauses toward a server that drops sockets idle for 5 s never fail (${ROUNDS} rounds)`, async () => {
  const url = `${proxy.url}/web/mcp`;
  const sid = await session(url);
  const failures: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await sleep(PAUSE_MS);
    const r = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'tools/list' }), { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' });
    const text = await r.text();
    if (r.status !== 200 || !text.includes('"tools"')) failures.push(`${r.status} ${text.slice(0, 200)}`);
  }
  assert.deepEqual(failures, []);
  assert.equal(upstream.staleHits(), 0, 'idle sockets were retired before the server dropped them (no retry needed)');
});

test('a request whose reused connection is reset at once is retried once; one reset after the server worked is not', async () => {
  // Emulates the race with a server's idle timer: the server resets a kept-alive socket the
  // moment our next request arrives on it (its close and our write crossed). `slowReset` makes
  // it reset only after working on the request for a while, which must never be retried.
  let slowReset = false;
  const calls = new Map<number, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method?: string };
      if (msg.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'k1', connection: 'keep-alive' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'raw', version: '1' } } }));
        return;
      }
      if (msg.method === 'notifications/initialized') return void res.writeHead(202).end();
      const id = msg.id ?? -1;
      calls.set(id, (calls.get(id) ?? 0) + 1);
      const socket = req.socket as typeof req.socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      if (id === 3 && socket.served > 1) return void socket.resetAndDestroy();
      if (slowReset) return void setTimeout(() => socket.resetAndDestroy(), 300);
      res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { ok: true } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  const p = await startTestProxy(httpYaml('raw', upstreamUrl));
  try {
    const url = `${p.url}/raw/mcp`;
    const sid = await session(url);
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const ok = await rawPost(url, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', headers);
    assert.equal(ok.status, 200);
    await ok.text();
    const again = await rawPost(url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', headers);
    assert.equal(again.status, 200, `a reset on a reused connection before any reply is retried: ${await again.clone().text()}`);
    await again.text();
    assert.equal(calls.get(3), 2, 'sent twice: the reset one and the retry on a fresh connection');
    // Never retried once the server worked on it: tools have side effects.
    slowReset = true;
    const cut = await rawPost(url, '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x"}}', headers);
    assert.equal(cut.status, 502);
    await cut.text();
    assert.equal(calls.get(4), 1, 'a request the server worked on is sent exactly once');
  } finally {
    await p.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
