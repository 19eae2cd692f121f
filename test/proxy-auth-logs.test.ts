/**
 * A session id is a bearer credential for its session, and a client's token is one for the
 * client: neither may reach the logs. Every line about a session carries its short tag
 * (sha256(id)[0..12], session-tag.ts) instead — the acceptor's request lines and the worker's
 * upstream/child lines alike. Runs the real CLI and reads its stdout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sessionTag } from '../src/observability/session-tag.js';
import { counterServerPath } from './helpers/counter-upstream.js';
import { INIT_BODY, rawPost, serveCli, stopChild } from './helpers/proxy.js';

const TOKEN = 'logs-test-token-9f8e7d6c5b4a3210';
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mithril-auth-logs-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('logs carry the session tag, never the session id or the token', async () => {
  writeFileSync(join(dir, 'secrets.yml'), `alice_token: ${TOKEN}\n`);
  const file = join(dir, 'config.yml');
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }
workers: 1
log_level: debug
secrets_file: ./secrets.yml
auth:
  clients:
    alice: { token: "\${secret:alice_token}", destinations: ["*"] }
destinations:
  demo:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(counterServerPath())}, --stdio]
`);
  const cli = await serveCli(['--config', file]);
  let sid = '';
  try {
    const url = `${cli.url}/demo/mcp`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const init = await rawPost(url, INIT_BODY, auth);
    assert.equal(init.status, 200);
    await init.text();
    sid = init.headers.get('mcp-session-id')!;
    for (const body of ['{"jsonrpc":"2.0","method":"notifications/initialized"}', '{"jsonrpc":"2.0","id":2,"method":"tools/list"}']) {
      await (await rawPost(url, body, { ...auth, 'mcp-session-id': sid })).text();
    }
    // A refused request with the id (wrong token) is logged too, by tag.
    await (await rawPost(url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', { authorization: 'Bearer wrong-token-0000000000000', 'mcp-session-id': sid })).text();
    const del = await fetch(url, { method: 'DELETE', headers: { ...auth, 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    await del.text();
  } finally {
    await stopChild(cli.child);
  }
  const out = cli.out();
  const tag = sessionTag(sid);
  const lines = out.split('\n').filter((l) => l.includes(tag));
  assert.ok(lines.some((l) => /"msg":"request"/.test(l) && /"method":"tools\/list"/.test(l)), 'the request lines carry the tag');
  assert.ok(lines.some((l) => /"worker":0/.test(l) && /stdio child started/.test(l)), "the worker's child lines carry the tag");
  assert.ok(lines.some((l) => /session ended/.test(l)), 'the session end carries the tag');
  assert.ok(!out.includes(sid), 'the session id never appears');
  assert.ok(!(out + cli.err()).includes(TOKEN), 'the token never appears');
});
