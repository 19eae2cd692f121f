import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator, authFailHeaders, isPending, type AuthResult } from '../src/auth/authenticator.js';
import { parseAuthorization } from '../src/auth/bearer.js';
import { StaticTokens } from '../src/auth/static-tokens.js';
import { configWith, capturedLog } from './helpers/auth-config.js';

const ENV = { ALICE: 'alice-0123456789abcdef-ALICE', BOB: 'bob-0123456789abcdef-BOB.x~+/==' };
const CLIENTS = `
auth:
  clients:
    alice: { token: '\${env:ALICE}', destinations: [github, files] }
    bob: { token: '\${env:BOB}', destinations: ['*'], requests_per_minute: 120 }
`;

function sync(r: AuthResult | Promise<AuthResult>): AuthResult {
  assert.ok(!isPending(r), 'static tokens and anonymous access are decided without a promise');
  return r;
}

describe('static bearer tokens', () => {
  const a = new Authenticator(configWith(CLIENTS, ENV).auth);

  test('the right token names its client, synchronously, with its limits', () => {
    assert.deepEqual(sync(a.authenticate(`Bearer ${ENV.ALICE}`, 'github', '10.0.0.1')), {
      ok: true, client: 'alice', kind: 'static', limits: { maxSessions: null, requestsPerMinute: null },
    });
    const bob = sync(a.authenticate(`bearer ${ENV.BOB}`, 'other', '10.0.0.1'));
    assert.equal(bob.ok && bob.client, 'bob', 'scheme is case-insensitive; "*" allows any destination');
  });

  test('a wrong token, a prefix of a right one, or a right one with a suffix -> 401 invalid_token', () => {
    for (const t of ['wrong-token-0123456789abcdef', ENV.ALICE.slice(0, -1), `${ENV.ALICE}x`, ENV.ALICE.toLowerCase()]) {
      const r = sync(a.authenticate(`Bearer ${t}`, 'github', '10.0.0.1'));
      assert.equal(r.ok, false, t);
      if (r.ok) continue;
      assert.equal(r.status, 401);
      assert.equal(r.code, 'E_UNAUTHORIZED');
      assert.equal(r.wwwAuthenticate, 'Bearer error="invalid_token", error_description="the access token is invalid or expired"');
      assert.equal(r.retryAfter, null);
    }
  });

  test('missing credentials -> 401 with a bare Bearer challenge (no error code, no metadata without jwt)', () => {
    const r = sync(a.authenticate('', 'github', '10.0.0.1'));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.status, 401);
      assert.equal(r.wwwAuthenticate, 'Bearer realm="mithril-proxy"');
      assert.match(r.message, /authentication required/);
      assert.deepEqual(authFailHeaders(r), { 'www-authenticate': 'Bearer realm="mithril-proxy"' });
    }
  });

  test('other schemes and malformed bearer values -> 401 invalid_token', () => {
    for (const h of [`Basic ${Buffer.from('alice:x').toString('base64')}`, 'Bearer', 'Bearer ', `Bearer ${ENV.ALICE} extra`, `Token ${ENV.ALICE}`, `Bearer ${'a'.repeat(20_000)}`]) {
      const r = sync(a.authenticate(h, 'github', '10.0.0.1'));
      assert.equal(r.ok ? 0 : r.status, 401, h.slice(0, 30));
      if (!r.ok) assert.match(r.wwwAuthenticate ?? '', /invalid_token/);
    }
  });

  test('a destination outside the client list -> 403 E_FORBIDDEN_DESTINATION, no challenge', () => {
    const r = sync(a.authenticate(`Bearer ${ENV.ALICE}`, 'other', '10.0.0.1'));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.status, 403);
      assert.equal(r.code, 'E_FORBIDDEN_DESTINATION');
      assert.equal(r.wwwAuthenticate, null);
      assert.ok(!r.message.includes('other'), 'the answer does not echo the path');
    }
  });

  test('failure lines carry the reason, remote and client, never the token', () => {
    const cap = capturedLog();
    const b = new Authenticator(configWith(CLIENTS, ENV).auth, { log: cap.log });
    b.authenticate('Bearer wrong-token-0123456789abcdef', 'github', '10.0.0.9');
    b.authenticate(`Bearer ${ENV.ALICE}`, 'other', '10.0.0.9');
    b.authenticate('', 'github', '10.0.0.9');
    const lines = cap.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => [l.auth, l.status, l.client, l.remote, l.level]), [
      ['unknown token', 401, undefined, '10.0.0.9', 40],
      ['destination not allowed', 403, 'alice', '10.0.0.9', 40],
      ['no credentials', 401, undefined, '10.0.0.9', 30],
    ]);
    const all = cap.lines().join('\n');
    assert.ok(!all.includes('wrong-token') && !all.includes(ENV.ALICE));
  });

  test('failure lines are rate-limited (500 failures in a burst, at most a few dozen lines)', () => {
    const cap = capturedLog();
    const b = new Authenticator(configWith(CLIENTS, ENV).auth, { log: cap.log });
    for (let i = 0; i < 500; i++) b.authenticate('Bearer wrong-token-0123456789abcdef', 'github', '10.0.0.9');
    const n = cap.lines().length;
    assert.ok(n >= 10 && n <= 30, `${n} lines for 500 failures`);
  });
});

describe('StaticTokens', () => {
  test('every client is compared (the match is found wherever it sits) and the first of equal digests wins', () => {
    const mk = (name: string, token: string) => ({ name, token, destinations: ['*'], limits: { maxSessions: null, requestsPerMinute: null } });
    const list = Array.from({ length: 50 }, (_, i) => mk(`c${i}`, `token-${i}-0123456789abcdef`));
    const s = new StaticTokens(list);
    assert.equal(s.find('token-0-0123456789abcdef')?.name, 'c0');
    assert.equal(s.find('token-49-0123456789abcdef')?.name, 'c49');
    assert.equal(s.find('token-50-0123456789abcdef'), null);
    assert.equal(new StaticTokens([]).find('x'), null);
  });
});

describe('parseAuthorization', () => {
  test('kinds', () => {
    assert.deepEqual(parseAuthorization(''), { kind: 'none' });
    assert.deepEqual(parseAuthorization('BEARER abc.def-_~+/=='), { kind: 'bearer', token: 'abc.def-_~+/==' });
    assert.equal(parseAuthorization('Bearer a=b').kind, 'malformed', '= only at the end');
  });
});

describe('anonymous access', () => {
  test('anonymous_limits.destinations without any credentials configured: outside the list -> 403', () => {
    const a = new Authenticator(configWith('auth: { anonymous_limits: { destinations: [files] } }').auth);
    const r = sync(a.authenticate('', 'github', '127.0.0.1'));
    assert.equal(r.ok ? 0 : r.status, 403);
    assert.equal(sync(a.authenticate('', 'files', '127.0.0.1')).ok, true);
  });

  test('no auth configured (loopback): every request is anon:<address>, even with a token it does not judge', () => {
    const a = new Authenticator(configWith('').auth);
    assert.equal(a.enabled, false);
    const r = sync(a.authenticate('Bearer whatever-they-send-0123', 'github', '127.0.0.1'));
    assert.deepEqual(r, { ok: true, client: 'anon:127.0.0.1', kind: 'anonymous', limits: { maxSessions: null, requestsPerMinute: null } });
  });

  test('anonymous: true with clients: no credentials -> anon, bad credentials -> 401 (never a silent downgrade)', () => {
    const a = new Authenticator(configWith(`${CLIENTS}  anonymous: true\n  anonymous_limits: { destinations: [files], requests_per_minute: 60 }\n`, ENV).auth);
    const anon = sync(a.authenticate('', 'files', '192.168.1.20'));
    assert.equal(anon.ok && anon.client, 'anon:192.168.1.20');
    assert.equal(anon.ok && anon.limits.requestsPerMinute, 60);
    const outside = sync(a.authenticate('', 'github', '192.168.1.20'));
    assert.equal(outside.ok ? 0 : outside.status, 401, 'a credential would help, so 401 (not 403)');
    const bad = sync(a.authenticate('Bearer wrong-token-0123456789abcdef', 'files', '192.168.1.20'));
    assert.equal(bad.ok ? 0 : bad.status, 401);
    const alice = sync(a.authenticate(`Bearer ${ENV.ALICE}`, 'github', '192.168.1.20'));
    assert.equal(alice.ok && alice.client, 'alice');
  });
});
