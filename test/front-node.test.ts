/**
 * The node:http front, where no native uWebSockets.js binding loads. The proxy is started as a
 * real process with every uWS binding made unavailable (test/fixtures/no-uws.cjs, as on a Node
 * whose ABI no installed binding was built for): it must pick node:http on its own, say so at
 * start and in /healthz, serve a whole session, and refuse bad input with exactly the statuses the
 * default front gives (a second proxy, started normally, answers the same table in the same run).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chooseFront } from '../src/acceptor/front.js';
import { loadUwsFront } from '../src/acceptor/front-uws.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { INIT_BODY, type ServedCli, rawPost, rawSession, serveCli, stopChild, waitFor } from './helpers/proxy.js';

const NO_UWS = fileURLToPath(new URL('../../test/fixtures/no-uws.cjs', import.meta.url));

let nodeFront: ServedCli;
let defaultFront: ServedCli;

before(async () => {
  const base = { MITHRIL_CONFIG: '', MITHRIL_FRONT: '' };
  [nodeFront, defaultFront] = await Promise.all([
    serveCli(['--port', '0'], { ...base, NODE_OPTIONS: `--require ${NO_UWS}` }),
    serveCli(['--port', '0'], base),
  ]);
});
after(async () => {
  assert.equal(await stopChild(nodeFront.child), 0);
  assert.equal(await stopChild(defaultFront.child), 0);
});

describe('with no uWS binding the proxy serves on node:http', () => {
  test('it says which front serves, and why, at start and in /healthz', async () => {
    // Log lines are written in blocks, flushed within 100 ms.
    await waitFor(() => /"msg":"listening"/.test(nodeFront.out()), 5000, 'listening log line');
    assert.match(nodeFront.out(), /"front":"node"/);
    assert.match(nodeFront.out(), /"why":"[^"]*not installed/);
    const h = (await (await fetch(`${nodeFront.url}/healthz`)).json()) as { status: string; front: string; native: boolean; binding: string };
    assert.equal(h.status, 'ok');
    assert.equal(h.front, 'node');
    assert.equal(h.native, false);
    assert.match(h.binding, /^node:http@\d+\./);
  });

  test('a whole session: SDK initialize, tools/call, GET stream, DELETE', async () => {
    const url = `${nodeFront.url}/demo/mcp`;
    const c = await connectStreamable(url);
    try {
      assert.equal(await callText(c.client, 'echo', { text: 'through node:http' }), 'through node:http');
      const tools = await c.client.listTools();
      assert.ok(tools.tools.some((t) => t.name === 'increment'));
    } finally {
      await c.close();
    }
    // The same by hand, so every step's status is checked.
    const sid = await rawSession(url);
    const inc = await rawPost(url, '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"increment","arguments":{}}}', { 'mcp-session-id': sid });
    assert.equal(inc.status, 200);
    assert.match(await inc.text(), /"result"/);
    const ac = new AbortController();
    const get = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid }, signal: ac.signal });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('content-type'), 'text/event-stream');
    const second = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } });
    assert.equal(second.status, 409);
    await second.text();
    ac.abort();
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    await del.text();
    const after = await rawPost(url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', { 'mcp-session-id': sid });
    assert.equal(after.status, 404);
    await after.text();
  });

  test('node:http answers oversized headers with 431 and a malformed request with 400, at once', async () => {
    const big = await fetch(`${nodeFront.url}/demo/mcp`, { method: 'POST', headers: { 'x-big': 'a'.repeat(40_000) }, body: '{}' }).catch((e: Error) => e);
    assert.ok(!(big instanceof Error), `request failed: ${String(big)}`);
    assert.equal(big.status, 431);
    const port = Number(new URL(nodeFront.url).port);
    const started = Date.now();
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => sock.write('THIS IS NOT HTTP\r\n\r\n'));
      let got = '';
      sock.setEncoding('utf8').on('data', (d: string) => (got += d)).on('close', () => resolve(got)).on('error', reject);
      sock.setTimeout(5000, () => sock.destroy());
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.ok(Date.now() - started < 2000, 'answered promptly');
  });
});

/** One bad request and the status it must get; `init` gives it a live session id first. */
interface Case {
  what: string;
  status: number;
  send(base: string): Promise<Response>;
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const LIST = '{"jsonrpc":"2.0","id":7,"method":"tools/list"}';

const CASES: Case[] = [
  { what: 'Accept without text/event-stream', status: 406, send: (b) => fetch(`${b}/demo/mcp`, { method: 'POST', headers: { ...JSON_HEADERS, accept: 'application/json' }, body: INIT_BODY }) },
  { what: 'non-JSON Content-Type', status: 415, send: (b) => fetch(`${b}/demo/mcp`, { method: 'POST', headers: { ...JSON_HEADERS, 'content-type': 'text/plain' }, body: INIT_BODY }) },
  { what: 'unsupported MCP-Protocol-Version', status: 400, send: (b) => rawPost(`${b}/demo/mcp`, LIST, { 'mcp-protocol-version': '1999-01-01' }) },
  { what: 'invalid JSON', status: 400, send: (b) => rawPost(`${b}/demo/mcp`, '{"jsonrpc":') },
  { what: 'a batch', status: 400, send: (b) => rawPost(`${b}/demo/mcp`, `[${LIST}]`) },
  { what: 'no session id', status: 400, send: (b) => rawPost(`${b}/demo/mcp`, LIST) },
  { what: 'unknown session id', status: 404, send: (b) => rawPost(`${b}/demo/mcp`, LIST, { 'mcp-session-id': 'f'.repeat(32) }) },
  { what: 'body over max_body_bytes', status: 413, send: (b) => rawPost(`${b}/demo/mcp`, `{"jsonrpc":"2.0","id":1,"method":"x","params":{"p":"${'a'.repeat(4_300_000)}"}}`) },
  { what: 'GET without a session id', status: 405, send: (b) => fetch(`${b}/demo/mcp`, { headers: { accept: 'text/event-stream' } }) },
  { what: 'a wrong method', status: 405, send: (b) => fetch(`${b}/demo/mcp`, { method: 'PUT', body: '{}' }) },
  { what: 'unknown destination', status: 404, send: (b) => rawPost(`${b}/nope/mcp`, INIT_BODY) },
  { what: 'foreign Origin', status: 403, send: (b) => rawPost(`${b}/demo/mcp`, INIT_BODY, { origin: 'https://evil.example' }) },
  { what: 'preflight from a loopback origin', status: 204, send: (b) => fetch(`${b}/demo/mcp`, { method: 'OPTIONS', headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST' } }) },
  { what: 'DELETE of an unknown session', status: 404, send: (b) => fetch(`${b}/demo/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': 'f'.repeat(32) } }) },
  { what: 'legacy message without sessionId', status: 400, send: (b) => fetch(`${b}/demo/message`, { method: 'POST', headers: JSON_HEADERS, body: LIST }) },
  { what: 'unknown path', status: 404, send: (b) => fetch(`${b}/a/b/c`) },
];

describe('both fronts refuse the same bad input with the same status', () => {
  for (const c of CASES) {
    test(`${c.what} -> ${c.status}`, async () => {
      const [n, d] = await Promise.all([c.send(nodeFront.url), c.send(defaultFront.url)]);
      const [nb, db] = await Promise.all([n.text(), d.text()]);
      assert.equal(n.status, c.status, `node:http front: ${nb}`);
      assert.equal(d.status, c.status, `default front: ${db}`);
      if (c.status >= 400 && c.status !== 405 && c.what !== 'unknown destination' && c.what !== 'unknown path') {
        // Same JSON-RPC error code and stable data.code on both.
        const ne = (JSON.parse(nb) as { error: { code: number; data: { code: string } } }).error;
        const de = (JSON.parse(db) as { error: { code: number; data: { code: string } } }).error;
        assert.deepEqual(ne, { ...ne, code: de.code, data: de.data });
      }
      assert.equal(n.headers.get('allow'), d.headers.get('allow'));
    });
  }
});

describe('which front serves off loopback', () => {
  test('bound off loopback, auto picks node:http (it answers malformed HTTP); MITHRIL_FRONT=uws overrides', () => {
    const off = chooseFront({ MITHRIL_FRONT: '' }, { offLoopback: true });
    assert.equal(off.front.kind, 'node');
    assert.match(off.why, /off loopback/);
    const on = chooseFront({ MITHRIL_FRONT: '' }, { offLoopback: false });
    assert.equal(on.front.kind, loadUwsFront().ok ? 'uws' : 'node');
    if (loadUwsFront().ok) assert.equal(chooseFront({ MITHRIL_FRONT: 'uws' }, { offLoopback: true }).front.kind, 'uws');
    assert.throws(() => chooseFront({ MITHRIL_FRONT: 'fast' }), /auto, uws or node/);
  });
});
