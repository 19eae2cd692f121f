/**
 * The shipped systemd unit: systemd itself checks it (verify) and scores its hardening
 * (security --offline), and the unit gives npx (stdio destinations) somewhere writable under
 * ProtectSystem=strict. Runs wherever systemd-analyze exists (Debian CI has /usr/bin/systemd-analyze).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { INIT_BODY, rawPost, startTestProxy } from './helpers/proxy.js';

const run = promisify(execFile);
const UNIT = fileURLToPath(new URL('../../systemd/mithril-proxy.service', import.meta.url));
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const text = readFileSync(UNIT, 'utf8');

/** Every value of KEY= in the unit (systemd allows repeats; the last plain assignment wins). */
function values(key: string): string[] {
  const re = new RegExp(`^${key}=(.*)$`, 'gm');
  return [...text.matchAll(re)].map((m) => m[1]!.trim());
}

function env(): Map<string, string> {
  const m = new Map<string, string>();
  for (const v of values('Environment')) {
    const i = v.indexOf('=');
    m.set(v.slice(0, i), v.slice(i + 1));
  }
  return m;
}

test('the unit gives npx a writable HOME and npm cache under ProtectSystem=strict', () => {
  assert.deepEqual(values('ProtectSystem'), ['strict']);
  const [cache] = values('CacheDirectory');
  const [state] = values('StateDirectory');
  assert.ok(cache && state, 'CacheDirectory= and StateDirectory= are set');
  const e = env();
  // systemd makes /var/cache/NAME and /var/lib/NAME writable for User= even under strict.
  assert.equal(e.get('HOME'), `/var/lib/${state}`);
  assert.ok(e.get('npm_config_cache')?.startsWith(`/var/cache/${cache}/`), 'npm cache inside CacheDirectory');
});

test("a stdio child gets the unit's HOME and npm/XDG cache locations, and none of the proxy's other variables", async () => {
  const e = env();
  const names = ['HOME', 'npm_config_cache', 'XDG_CACHE_HOME', 'MITHRIL_CONFIG', 'MITHRIL_UNIT_TEST_SECRET'];
  const saved = names.map((n) => [n, process.env[n]] as const);
  for (const n of ['HOME', 'npm_config_cache', 'XDG_CACHE_HOME', 'MITHRIL_CONFIG']) process.env[n] = e.get(n)!;
  process.env.MITHRIL_UNIT_TEST_SECRET = 'must-not-reach-children';
  // Workers copy process.env when they start, so the variables are set before the proxy starts.
  const server = fileURLToPath(new URL('../../test/fixtures/stdio/env-server.mjs', import.meta.url));
  let proxy;
  try {
    proxy = await startTestProxy(`  envy:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([server, ...names])}\n`);
  } finally {
    for (const [n, v] of saved) {
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
    }
  }
  try {
    const r = await rawPost(`${proxy.url}/envy/mcp`, INIT_BODY);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { result: { env: Record<string, string | null> } };
    assert.deepEqual(body.result.env, {
      HOME: e.get('HOME'),
      npm_config_cache: e.get('npm_config_cache'),
      XDG_CACHE_HOME: e.get('XDG_CACHE_HOME'),
      MITHRIL_CONFIG: null,
      MITHRIL_UNIT_TEST_SECRET: null,
    });
  } finally {
    await proxy.close();
  }
});

test('the unit keeps what node and its stdio children need', () => {
  // V8's JIT maps W+X pages: MemoryDenyWriteExecute would make node abort at start.
  assert.ok(!/^MemoryDenyWriteExecute=(true|yes|1)/m.test(text));
  const families = values('RestrictAddressFamilies').join(' ').split(/\s+/);
  for (const f of ['AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK']) assert.ok(families.includes(f), f);
  assert.deepEqual(values('CapabilityBoundingSet'), ['']);
  assert.deepEqual(values('UMask'), ['0077']);
  assert.ok(values('SystemCallFilter').includes('@system-service'));
});

test('systemd-analyze verify accepts the unit', { skip: ANALYZE ? false : 'no systemd-analyze on this machine' }, async () => {
  // verify also checks that ExecStart's binary exists: /usr/bin/node may be absent in CI images,
  // so only unit-syntax problems (anything not about the executable) fail the test.
  const r = await run(ANALYZE!, ['verify', UNIT]).then(
    (o) => ({ code: 0, err: o.stderr }),
    (e: { code: number; stderr: string }) => ({ code: e.code, err: e.stderr }),
  );
  const problems = r.err.split('\n').filter((l) => l.trim() && !/\/usr\/bin\/node|is not executable|Unit configuration has fatal error/.test(l));
  assert.deepEqual(problems, [], r.err);
});

test('systemd-analyze security rates the unit OK: exposure <= 2.9', { skip: ANALYZE ? false : 'no systemd-analyze on this machine' }, async () => {
  const { stdout } = await run(ANALYZE!, ['security', '--offline=true', '--no-pager', UNIT]);
  const m = /Overall exposure level for .*: (\d+(?:\.\d+)?) (\S+)/.exec(stdout);
  assert.ok(m, stdout);
  const score = Number(m[1]);
  assert.ok(score <= 2.9, `exposure ${score} ${m[2]} (want <= 2.9)\n${stdout}`);
  assert.match(m[2]!, /^(OK|SAFE)$/);
});
