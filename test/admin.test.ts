/**
 * The admin snapshot (/admin/sessions) and who may read operational details (/metrics, the
 * detailed /healthz): real proxies with and without `admin.token` (from a secrets file), real
 * stdio children, and the decision function on its own for addresses a loopback test cannot use.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AdminSnapshot, adminTokenMatches, detailsAllowed, detailsPolicy } from '../src/acceptor/admin.js';
import { loopbackIp as isLoopback } from '../src/acceptor/loopback.js';
import { parseConfigText } from '../src/config/load.js';
import { sessionTag } from '../src/observability/session-tag.js';
import type { ProxyHandle } from '../src/proxy.js';
import { counterServerPath } from './helpers/counter-upstream.js';
import { rawSession, startTestProxy, stdioCounterYaml, waitFor } from './helpers/proxy.js';

const TOKEN = 'adm-0123456789abcdef-secret';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('detailsAllowed', () => {
  const admin = { token: TOKEN, exposeMetrics: undefined };
  test('loopback exposure: loopback addresses (v4, v6, v4-mapped) pass, others need the token', () => {
    const p = detailsPolicy({ token: TOKEN, exposeMetrics: 'loopback' }, true);
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0000:0000:0000:0000:0000:ffff:7f00:0001']) assert.ok(detailsAllowed(p, a, ''), a);
    for (const a of ['10.0.0.1', '192.168.1.5', '::ffff:10.0.0.1', '2001:db8::1', '', 'localhost', '128.0.0.1']) assert.ok(!detailsAllowed(p, a, ''), a);
    assert.ok(detailsAllowed(p, '10.0.0.1', `Bearer ${TOKEN}`));
    assert.ok(detailsAllowed(p, '10.0.0.1', `bearer ${TOKEN}`), 'the scheme is case-insensitive');
    assert.ok(!detailsAllowed(p, '10.0.0.1', `Bearer ${TOKEN}x`));
    assert.ok(!detailsAllowed(p, '10.0.0.1', `Bearer ${TOKEN.slice(0, -1)}`));
    assert.ok(!detailsAllowed(p, '10.0.0.1', TOKEN), 'no scheme');
    assert.ok(!detailsAllowed(p, '10.0.0.1', `Basic ${TOKEN}`));
  });
  test('token exposure: even loopback needs the token', () => {
    const p = detailsPolicy({ token: TOKEN, exposeMetrics: 'token' }, false);
    assert.ok(!detailsAllowed(p, '127.0.0.1', ''));
    assert.ok(detailsAllowed(p, '127.0.0.1', `Bearer ${TOKEN}`));
  });
  test('token exposure without a token configured lets nobody in', () => {
    const p = detailsPolicy({ token: undefined, exposeMetrics: 'token' }, false);
    assert.ok(!detailsAllowed(p, '127.0.0.1', 'Bearer '));
    assert.ok(!adminTokenMatches(p, 'Bearer anything-at-all-long-enough'));
  });
  test('unset exposure: loopback when client auth is on, public when it is off', () => {
    assert.equal(detailsPolicy({ ...admin }, true).exposure, 'loopback');
    assert.equal(detailsPolicy({ ...admin }, false).exposure, 'public');
    assert.ok(detailsAllowed(detailsPolicy({ ...admin }, false), '203.0.113.7', ''));
  });
  test('isLoopback rejects what is not an address', () => {
    assert.ok(!isLoopback('127.0.0.1:80'));
    assert.ok(!isLoopback('::ffff:127.0.0.1 '));
  });
});

describe('admin config', () => {
  const base = 'destinations:\n  d: { transport: streamable_http, url: "http://127.0.0.1:1/mcp" }\n';
  test('a short token, a bad exposure and an unknown key are reported with their paths', () => {
    const r = parseConfigText(`admin: { token: short, expose_metrics: everyone, extra: 1 }\n${base}`, { source: null, baseDir: process.cwd() });
    assert.ok(!r.ok);
    assert.deepEqual(r.problems, [
      'admin.expose_metrics: must be one of: loopback, token, public',
      'admin.extra: unknown key',
      'admin.token: must be at least 16 characters',
    ]);
  });
  test('no admin section: no token, exposure decided by the acceptor', () => {
    const r = parseConfigText(base, { source: null, baseDir: process.cwd() });
    assert.ok(r.ok);
    assert.deepEqual(r.config.admin, { token: undefined, exposeMetrics: undefined });
  });
});

describe('without an admin token', () => {
  let proxy: ProxyHandle;
  before(async () => {
    proxy = await startTestProxy(stdioCounterYaml('local', counterServerPath()));
  });
  after(async () => {
    await proxy.close();
  });
  test('/admin/sessions does not exist (404), /metrics and the detailed /healthz stay public', async () => {
    const a = await fetch(`${proxy.url}/admin/sessions`, { headers: AUTH });
    assert.equal(a.status, 404);
    await a.arrayBuffer();
    const m = await fetch(`${proxy.url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /mithril_requests_total/);
    const h = (await (await fetch(`${proxy.url}/healthz`)).json()) as Record<string, unknown>;
    assert.equal(h.status, 'ok');
    assert.deepEqual(h.destinations, ['local']);
  });
});

describe('with an admin token from the secrets file', () => {
  let proxy: ProxyHandle;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mithril-admin-'));
    const secrets = join(dir, 'secrets.yml');
    writeFileSync(secrets, `admin_token: ${TOKEN}\n`);
    proxy = await startTestProxy(stdioCounterYaml('local', counterServerPath()), `secrets_file: ${JSON.stringify(secrets)}\nadmin: { token: "\${secret:admin_token}", expose_metrics: token }\n`);
  });
  after(async () => {
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/admin/sessions answers 401 without or with a wrong token', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${TOKEN}-wrong` }, { authorization: `Bearer ${TOKEN.slice(1)}` }, { authorization: TOKEN }]) {
      const r = await fetch(`${proxy.url}/admin/sessions`, { headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /);
      const text = await r.text();
      assert.ok(!text.includes(TOKEN));
    }
  });

  test('the snapshot lists each session by tag with its destination, worker, age, idle time and upstream state, never its id', async () => {
    const sids = [await rawSession(`${proxy.url}/local/mcp`), await rawSession(`${proxy.url}/local/mcp`), await rawSession(`${proxy.url}/local/mcp`)];
    // One session gets its server-message stream open.
    const ac = new AbortController();
    const stream = await fetch(`${proxy.url}/local/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sids[0]! }, signal: ac.signal });
    assert.equal(stream.status, 200);
    try {
      await waitFor(() => proxy.core.store.get(sids[0]!, 'local')?.stream !== null, 5000, 'stream attached');
      const r = await fetch(`${proxy.url}/admin/sessions`, { headers: AUTH });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const text = await r.text();
      for (const sid of sids) assert.ok(!text.includes(sid), 'no full session id in the snapshot');
      assert.ok(!text.includes(TOKEN));
      const snap = JSON.parse(text) as AdminSnapshot;
      assert.equal(snap.total, 3);
      assert.equal(snap.truncated, false);
      assert.deepEqual(snap.destinations.local, { transport: 'stdio', sessions: 3, streamsOpen: 1, queued: 0 });
      assert.equal(Object.values(snap.workers).reduce((a, b) => a + b, 0), 3);
      const byTag = new Map(snap.sessions.map((s) => [s.tag, s]));
      for (const sid of sids) {
        const tag = createHash('sha256').update(sid).digest('hex').slice(0, 12);
        assert.equal(sessionTag(sid), tag);
        const s = byTag.get(tag);
        assert.ok(s, `session ${tag} listed`);
        assert.equal(s.dest, 'local');
        assert.equal(s.worker, proxy.core.store.get(sid, 'local')!.worker);
        assert.equal(s.downstream, 'streamable_http');
        assert.ok(s.ageMs >= 0 && s.ageMs < 60_000 && s.idleMs >= 0 && s.idleMs <= s.ageMs);
        assert.deepEqual({ ...s.upstream, streamOpen: undefined }, { transport: 'stdio', state: 'established', streamOpen: undefined, queued: 0 });
        assert.equal(s.upstream.streamOpen, sid === sids[0]);
      }
      const limited = (await (await fetch(`${proxy.url}/admin/sessions?limit=1`, { headers: AUTH })).json()) as AdminSnapshot;
      assert.equal(limited.sessions.length, 1);
      assert.equal(limited.truncated, true);
      assert.equal(limited.destinations.local!.sessions, 3, 'counts stay complete when the list is cut');
    } finally {
      ac.abort();
      for (const sid of sids) await fetch(`${proxy.url}/local/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sid } }).then((x) => x.arrayBuffer());
    }
  });

  test('expose_metrics: token: /metrics needs the token; /healthz without it says only the status', async () => {
    const denied = await fetch(`${proxy.url}/metrics`);
    assert.equal(denied.status, 401);
    await denied.arrayBuffer();
    const ok = await fetch(`${proxy.url}/metrics`, { headers: AUTH });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /mithril_sessions/);
    assert.deepEqual(await (await fetch(`${proxy.url}/healthz`)).json(), { status: 'ok' });
    const full = (await (await fetch(`${proxy.url}/healthz`, { headers: AUTH })).json()) as Record<string, unknown>;
    assert.equal(full.status, 'ok');
    assert.deepEqual(full.destinations, ['local']);
  });
});
