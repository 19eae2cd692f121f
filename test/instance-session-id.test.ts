/**
 * Session ids that carry their instance: `<instance>.<random>.<mac>`. An instance accepts only
 * ids it minted (its tag, a valid MAC, one canonical spelling); anything else is an unknown
 * session, answered 404 with the same body, so a client can neither steer itself onto another
 * instance's sessions nor learn which ids exist.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { formatProblems, parseConfigText } from '../src/config/load.js';
import { planReload } from '../src/config/reload.js';
import type { ProxyHandle } from '../src/proxy.js';
import { instanceSessionIds, isWellFormedSessionId, PLAIN_SESSION_IDS, sessionIdScheme } from '../src/threads/session-id.js';
import { counterServerPath } from './helpers/counter-upstream.js';
import { INIT_BODY, rawPost, rawSession, startTestProxy, stdioCounterYaml } from './helpers/proxy.js';

const KEY = Buffer.from('an instance key of at least 32 characters');
const ID_SHAPE = /^pi1\.[0-9a-f]{32}\.[A-Za-z0-9_-]{22}$/;

describe('instance session ids', () => {
  test('minted ids are <instance>.<32 hex>.<22 base64url>, distinct, and map to their random part', () => {
    const ids = instanceSessionIds('pi1', KEY);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = ids.mint();
      assert.match(id, ID_SHAPE);
      const key = ids.key(id);
      assert.equal(key, id.slice(4, 36));
      assert.ok(isWellFormedSessionId(key!));
      seen.add(id);
    }
    assert.equal(seen.size, 2000);
  });

  test('another instance tag, an edited MAC or random part, another key, or a plain id are refused', () => {
    const a = instanceSessionIds('a', KEY);
    const b = instanceSessionIds('b', KEY);
    const id = a.mint();
    const rest = id.slice(1);
    assert.equal(b.key(id), null, "b refuses a's id");
    assert.equal(b.key(`b${rest}`), null, "a's random and MAC under b's tag do not verify");
    assert.equal(a.key(`a${rest.replace(/\.[0-9a-f]/, (m) => `.${m[1] === '0' ? '1' : '0'}`)}`), null, 'edited random part');
    assert.equal(instanceSessionIds('a', Buffer.from('another key, also long enough to use')).key(id), null, 'another key');
    for (const bad of ['', 'a.', id.slice(0, -1), `${id}A`, id.toUpperCase(), PLAIN_SESSION_IDS.mint(), ` ${id.slice(1)}`]) {
      assert.equal(a.key(bad), null, bad);
    }
  });

  test('one spelling per id: a non-canonical base64url MAC with the same bytes is refused', () => {
    const ids = instanceSessionIds('a', KEY);
    const id = ids.mint();
    // 16 bytes in 22 characters leave 4 unused bits in the last one; a lax decoder ignores them.
    const last = id.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[(alphabet.indexOf(last) & ~0xf) | ((alphabet.indexOf(last) + 1) & 0xf)]!;
    const respelled = id.slice(0, -1) + twin;
    assert.deepEqual(Buffer.from(respelled.slice(-22), 'base64url'), Buffer.from(id.slice(-22), 'base64url'));
    assert.equal(ids.key(respelled), null);
    assert.ok(ids.key(id));
  });

  test('property: any single-character change of a valid id is refused', () => {
    const ids = instanceSessionIds('node-7', KEY);
    const id = ids.mint();
    fc.assert(fc.property(fc.nat(id.length - 1), fc.integer({ min: 0x20, max: 0x7e }), (pos, code) => {
      const c = String.fromCharCode(code);
      fc.pre(id[pos] !== c);
      return ids.key(id.slice(0, pos) + c + id.slice(pos + 1)) === null;
    }), { numRuns: 2000 });
  });

  test('without instance ids stay 32 hex; without a key each process makes its own', () => {
    assert.equal(sessionIdScheme(null), PLAIN_SESSION_IDS);
    assert.match(PLAIN_SESSION_IDS.mint(), /^[0-9a-f]{32}$/);
    const r1 = sessionIdScheme({ id: 'a', key: null });
    const r2 = sessionIdScheme({ id: 'a', key: null });
    assert.equal(r2.key(r1.mint()), null, 'two random keys do not accept each other');
    const s1 = sessionIdScheme({ id: 'a', key: 'k'.repeat(32) });
    const s2 = sessionIdScheme({ id: 'a', key: 'k'.repeat(32) });
    assert.ok(s2.key(s1.mint()), 'the same configured key does');
  });
});

describe('instance config', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mithril-instance-'));
    writeFileSync(join(dir, 'secrets.yml'), `k: "${'s'.repeat(40)}"\nshort: "abc"\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const DEST = 'destinations: { d: { transport: sse, url: "http://127.0.0.1:9/" } }';
  const parse = (text: string) => parseConfigText(`${text}\n${DEST}`, { source: join(dir, 'c.yml'), baseDir: dir, env: {} });

  test('instance is optional, id is a short token, key comes from a secret and is never echoed', () => {
    const none = parse('');
    assert.ok(none.ok);
    assert.equal(none.config.instance, null);
    const withKey = parse('secrets_file: secrets.yml\ninstance: { id: pi-1, key: "${secret:k}" }');
    assert.ok(withKey.ok, withKey.ok ? '' : formatProblems(withKey.problems));
    assert.deepEqual(withKey.config.instance, { id: 'pi-1', key: 's'.repeat(40) });
    const noKey = parse('instance: { id: a }');
    assert.ok(noKey.ok);
    assert.deepEqual(noKey.config.instance, { id: 'a', key: null });
  });

  test('a bad id, a short key, a missing secret and an unknown key are problem lines at their path', () => {
    const r = parse('secrets_file: secrets.yml\ninstance: { id: "Pi.1", key: "${secret:short}", port: 1 }');
    assert.ok(!r.ok);
    assert.deepEqual(r.problems.sort(), [
      'instance.id: must match ^[a-z0-9][a-z0-9_-]{0,30}$ (it is also the HAProxy server name)',
      'instance.key: must be at least 32 characters (use ${secret:NAME})',
      'instance.port: unknown key',
    ]);
    assert.ok(!r.problems.join('\n').includes('abc'), 'the secret value is not echoed');
    const long = parse(`instance: { id: ${'a'.repeat(32)} }`);
    assert.ok(!long.ok);
    const missing = parse('secrets_file: secrets.yml\ninstance: { id: a, key: "${secret:nope}" }');
    assert.ok(!missing.ok);
    assert.deepEqual(missing.problems, ['instance.key: secret "nope" is not defined in secrets_file']);
  });

  test('a reload cannot change the instance (it would orphan every id): it needs a restart', () => {
    const a = parse('instance: { id: a }');
    const b = parse('instance: { id: b }');
    assert.ok(a.ok && b.ok);
    const plan = planReload(a.config, b.config);
    assert.ok(plan.needsRestart.includes('instance'));
    assert.deepEqual(plan.next.instance, a.config.instance);
    assert.ok(!planReload(a.config, a.config).needsRestart.includes('instance'));
  });
});

describe('a proxy with an instance', () => {
  let proxy: ProxyHandle;
  before(async () => {
    proxy = await startTestProxy(stdioCounterYaml('demo', counterServerPath()), 'instance: { id: solo }\n');
  });
  after(async () => {
    await proxy.close();
  });

  test('mints ids with its tag and answers edited ids exactly like unknown ones (404, same body)', async () => {
    const url = `${proxy.url}/demo/mcp`;
    const sid = await rawSession(url);
    assert.match(sid, /^solo\.[0-9a-f]{32}\.[A-Za-z0-9_-]{22}$/);
    const get = '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get","arguments":{}}}';
    const ok = await rawPost(url, get, { 'mcp-session-id': sid });
    assert.equal(ok.status, 200);
    await ok.text();
    const variants = [`solx${sid.slice(4)}`, sid.slice(0, -2) + (sid.at(-2) === 'A' ? 'BA' : 'AA'), sid.slice(5, 37), `solo.${'f'.repeat(32)}.${'A'.repeat(22)}`];
    const answers = await Promise.all(variants.map(async (v) => {
      const r = await rawPost(url, get, { 'mcp-session-id': v });
      return { status: r.status, body: await r.text() };
    }));
    for (const a of answers) assert.deepEqual(a, answers[3]);
    assert.equal(answers[3]!.status, 404);
    // initialize with a foreign id starts a fresh session of this instance.
    const init = await rawPost(url, INIT_BODY, { 'mcp-session-id': variants[0]! });
    assert.equal(init.status, 200);
    await init.text();
    assert.match(init.headers.get('mcp-session-id')!, /^solo\./);
  });
});
