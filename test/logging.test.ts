/**
 * Logging and credentials, through the real CLI: one `request` line per HTTP request with its
 * fields; a configured upstream secret and the client's own bearer token never reach the log;
 * the client's token is never forwarded upstream, the configured credential is.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { INIT_BODY, rawPost, serveCli, stopChild, waitFor } from './helpers/proxy.js';
import { sessionTag } from '../src/observability/session-tag.js';

const UPSTREAM_SECRET = 'upstream-s3cret-value-7731';
const CLIENT_TOKEN = 'client-t0ken-value-9902';
const dir = mkdtempSync(join(tmpdir(), 'mithril-log-'));
const seenAuth: string[] = [];
let upstream: http.Server;

before(async () => {
  upstream = http.createServer((req, res) => {
    seenAuth.push(String(req.headers.authorization));
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(200).end();
      const m = JSON.parse(body) as { id?: number; method?: string };
      if (m.id === undefined) return void res.writeHead(202).end();
      const result = m.method === 'initialize' ? { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'u', version: '1' } } : {};
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});
after(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

test('one request line per HTTP request; no credential in any log line; no client token upstream', async () => {
  const port = (upstream.address() as AddressInfo).port;
  writeFileSync(join(dir, 'secrets.yml'), `up_token: ${UPSTREAM_SECRET}\n`);
  writeFileSync(join(dir, 'config.yml'), `listen: { host: 127.0.0.1, port: 0 }
workers: 1
log_level: debug
secrets_file: ./secrets.yml
destinations:
  api:
    transport: streamable_http
    url: http://127.0.0.1:${port}/mcp
    headers: { Authorization: 'Bearer \${secret:up_token}' }
`);
  const { child, url: base, out: stdout, err: stderr } = await serveCli(['--config', join(dir, 'config.yml')]);
  try {
    const url = `${base}/api/mcp`;
    const auth = { authorization: `Bearer ${CLIENT_TOKEN}` };
    const init = await rawPost(url, INIT_BODY, auth);
    assert.equal(init.status, 200);
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;
    const requests: Array<[string, number]> = [['notifications/initialized', 202], ['tools/list', 200], ['tools/call', 200]];
    for (const [method, status] of requests) {
      const body = method.startsWith('notifications/') ? `{"jsonrpc":"2.0","method":"${method}"}` : `{"jsonrpc":"2.0","id":5,"method":"${method}","params":{}}`;
      const r = await rawPost(url, body, { ...auth, 'mcp-session-id': sid });
      assert.equal(r.status, status);
      await r.text();
    }
    const missing = await rawPost(url, '{"jsonrpc":"2.0","id":6,"method":"tools/list"}', auth);
    assert.equal(missing.status, 400);
    await missing.text();

    await waitFor(() => (stdout().match(/"msg":"request"/g) ?? []).length >= 5, 5000, 'request lines');
    const lines = stdout().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 5, 'exactly one line per HTTP request');
    assert.deepEqual(lines.map((l) => l.status), [200, 202, 200, 200, 400]);
    assert.deepEqual(lines.map((l) => l.method), ['initialize', 'notifications/initialized', 'tools/list', 'tools/call', 'tools/list']);
    for (const l of lines) {
      assert.equal(l.dest, 'api');
      assert.equal(typeof l.ms, 'number');
    }
    // The session's tag, never its id (the id is a bearer credential for the session).
    assert.ok(lines.slice(0, 4).every((l) => l.session === sessionTag(sid) && l.sid === undefined));
    assert.ok(!stdout().includes(sid), 'the session id is never logged');

    assert.ok(!stdout().includes(UPSTREAM_SECRET) && !stderr().includes(UPSTREAM_SECRET), 'the configured secret is never logged');
    assert.ok(!stdout().includes(CLIENT_TOKEN) && !stderr().includes(CLIENT_TOKEN), "the client's token is never logged");
    assert.ok(seenAuth.length >= 4);
    assert.ok(seenAuth.every((a) => a === `Bearer ${UPSTREAM_SECRET}`), `upstream saw only the configured credential: ${seenAuth.join(', ')}`);
  } finally {
    await stopChild(child);
  }
});
