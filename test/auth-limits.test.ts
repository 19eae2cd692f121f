import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator, authFailHeaders, isPending, type AuthResult } from '../src/auth/authenticator.js';
import { FailureLog } from '../src/auth/fail-log.js';
import { InflightCounter } from '../src/auth/inflight.js';
import { RateLimiter } from '../src/auth/rate-limiter.js';
import { anonymousClient } from '../src/auth/remote-key.js';
import { SessionCounter, SESSIONS_RETRY_AFTER_S } from '../src/auth/session-counter.js';
import { configWith, capturedLog } from './helpers/auth-config.js';

describe('RateLimiter (token bucket per client)', () => {
  test('a minute of burst, then refusals whose Retry-After is when the next token arrives', () => {
    let now = 1_000_000;
    const rl = new RateLimiter(100, () => now);
    for (let i = 0; i < 60; i++) assert.equal(rl.take('alice', 60), 0, `request ${i}`);
    assert.equal(rl.take('alice', 60), 1, 'one token per second at 60/min');
    now += 500;
    assert.equal(rl.take('alice', 60), 1);
    now += 600; // 1.1 s after the bucket ran dry: one token back
    assert.equal(rl.take('alice', 60), 0);
    assert.equal(rl.take('alice', 60), 1);
    assert.equal(rl.take('bob', 60), 0, 'clients have separate buckets');
  });

  test('a slow rate gives a long Retry-After', () => {
    const now = 0;
    const rl = new RateLimiter(100, () => now);
    assert.equal(rl.take('c', 2), 0);
    assert.equal(rl.take('c', 2), 0);
    assert.equal(rl.take('c', 2), 30);
  });

  test('the map is bounded; the least recently used client is dropped first', () => {
    const now = 0;
    const rl = new RateLimiter(3, () => now);
    rl.take('a', 1);
    rl.take('b', 1);
    rl.take('c', 1);
    assert.equal(rl.take('a', 1), 60, 'a is empty and now the most recent');
    rl.take('d', 1); // drops b, the least recently used
    assert.equal(rl.size, 3);
    assert.equal(rl.take('a', 1), 60, 'a kept its (empty) bucket');
    assert.equal(rl.take('b', 1), 0, 'b was dropped and comes back full');
  });
});

describe('SessionCounter (max_sessions per client)', () => {
  test('counts live sessions per client; at the cap the answer is Retry-After; closing frees a slot', () => {
    const s = new SessionCounter();
    assert.equal(s.check('alice', 2), 0);
    s.sessionOpened('alice');
    s.sessionOpened('alice');
    assert.equal(s.check('alice', 2), SESSIONS_RETRY_AFTER_S);
    assert.equal(s.check('bob', 2), 0);
    assert.equal(s.check('alice', null), 0, 'no limit configured');
    s.sessionClosed('alice');
    assert.equal(s.check('alice', 2), 0);
  });

  test('entries disappear at zero and a double close never goes negative', () => {
    const s = new SessionCounter();
    s.sessionOpened('a');
    s.sessionClosed('a');
    s.sessionClosed('a');
    assert.equal(s.count('a'), 0);
    assert.equal(s.clients, 0);
    s.sessionOpened('a');
    assert.equal(s.count('a'), 1);
  });
});

describe('InflightCounter (per session)', () => {
  test('refuses past the cap and recovers as requests finish; extra releases are harmless', () => {
    const c = new InflightCounter(3);
    assert.ok(c.tryAcquire() && c.tryAcquire() && c.tryAcquire());
    assert.equal(c.tryAcquire(), false);
    c.release();
    assert.equal(c.tryAcquire(), true);
    for (let i = 0; i < 10; i++) c.release();
    assert.equal(c.inflight, 0);
  });

  test('sessions have independent counters: one full session does not block another', () => {
    const a = new Authenticator(configWith('auth: { per_session_inflight: 2 }').auth);
    const s1 = a.newInflightCounter();
    const s2 = a.newInflightCounter();
    assert.ok(s1.tryAcquire() && s1.tryAcquire());
    assert.equal(s1.tryAcquire(), false);
    assert.equal(s2.tryAcquire(), true);
    const r = a.inflightRefusal();
    assert.deepEqual([r.status, r.code, r.retryAfter], [429, 'E_SESSION_INFLIGHT', 1]);
  });
});

const ENV = { T: 'carol-0123456789abcdef-token' };

function sync(r: AuthResult | Promise<AuthResult>): AuthResult {
  assert.ok(!isPending(r));
  return r;
}

describe('limits through the Authenticator', () => {
  test('requests_per_minute -> 429 E_RATE_LIMITED with Retry-After, per client', () => {
    let now = 0;
    const cfg = configWith("auth: { clients: { carol: { token: '${env:T}', destinations: ['*'], requests_per_minute: 3 } } }", ENV);
    const a = new Authenticator(cfg.auth, { limiter: new RateLimiter(100, () => now) });
    for (let i = 0; i < 3; i++) assert.equal(sync(a.authenticate(`Bearer ${ENV.T}`, 'github', '10.0.0.1')).ok, true);
    const r = sync(a.authenticate(`Bearer ${ENV.T}`, 'files', '10.0.0.2'));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.deepEqual([r.status, r.code, r.retryAfter, r.wwwAuthenticate], [429, 'E_RATE_LIMITED', 20, null]);
      assert.deepEqual(authFailHeaders(r), { 'retry-after': '20' });
    }
    now += 20_000;
    assert.equal(sync(a.authenticate(`Bearer ${ENV.T}`, 'github', '10.0.0.1')).ok, true);
  });

  test('refused requests (401/403) do not use up the client budget', () => {
    const cfg = configWith("auth: { clients: { carol: { token: '${env:T}', destinations: [files], requests_per_minute: 1 } } }", ENV);
    const a = new Authenticator(cfg.auth);
    for (let i = 0; i < 5; i++) assert.equal(sync(a.authenticate(`Bearer ${ENV.T}`, 'github', '10.0.0.1')).ok, false);
    assert.equal(sync(a.authenticate(`Bearer ${ENV.T}`, 'files', '10.0.0.1')).ok, true);
  });

  test('anonymous limits are keyed by remote address', () => {
    const a = new Authenticator(configWith('auth: { anonymous_limits: { requests_per_minute: 1 } }').auth);
    assert.equal(sync(a.authenticate('', 'github', '10.0.0.1')).ok, true);
    assert.equal(sync(a.authenticate('', 'github', '10.0.0.1')).ok, false);
    assert.equal(sync(a.authenticate('', 'github', '10.0.0.2')).ok, true);
    assert.equal(sync(a.authenticate('', 'github', '::ffff:10.0.0.2')).ok, false, 'mapped IPv4 is the same client');
  });

  test('admitSession applies max_sessions with the counts the session store reports', () => {
    const cfg = configWith("auth: { clients: { carol: { token: '${env:T}', destinations: ['*'], max_sessions: 2 } } }", ENV);
    const cap = capturedLog();
    const a = new Authenticator(cfg.auth, { log: cap.log });
    const ok = sync(a.authenticate(`Bearer ${ENV.T}`, 'github', '10.0.0.1'));
    assert.ok(ok.ok);
    if (!ok.ok) return;
    assert.equal(a.admitSession(ok, 'github', '10.0.0.1'), null);
    a.sessionOpened(ok.client);
    a.sessionOpened(ok.client);
    const r = a.admitSession(ok, 'github', '10.0.0.1');
    assert.deepEqual(r && [r.status, r.code, r.retryAfter], [429, 'E_TOO_MANY_SESSIONS', SESSIONS_RETRY_AFTER_S]);
    a.sessionClosed(ok.client);
    assert.equal(a.admitSession(ok, 'github', '10.0.0.1'), null);
    assert.match(cap.lines().join('\n'), /"auth":"max_sessions reached".*"client":"carol"/);
  });

  test('counters passed in survive a rebuilt Authenticator (config reload)', () => {
    const cfg = configWith("auth: { clients: { carol: { token: '${env:T}', destinations: ['*'], max_sessions: 1 } } }", ENV);
    const sessions = new SessionCounter();
    new Authenticator(cfg.auth, { sessions }).sessionOpened('carol');
    const b = new Authenticator(cfg.auth, { sessions });
    const ok = sync(b.authenticate(`Bearer ${ENV.T}`, 'github', '10.0.0.1'));
    assert.ok(ok.ok && b.admitSession(ok, 'github', '10.0.0.1') !== null);
  });
});

describe('anonymousClient', () => {
  test('IPv4, mapped IPv4, IPv6 by /64, brackets and zones', () => {
    assert.equal(anonymousClient('10.1.2.3'), 'anon:10.1.2.3');
    assert.equal(anonymousClient('::ffff:10.1.2.3'), 'anon:10.1.2.3');
    assert.equal(anonymousClient('0000:0000:0000:0000:0000:ffff:10.1.2.3'), 'anon:10.1.2.3');
    assert.equal(anonymousClient('2001:db8:1:2:aaaa::1'), 'anon:2001:db8:1:2::/64');
    assert.equal(anonymousClient('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'), 'anon:2001:db8:1:2::/64');
    assert.equal(anonymousClient('[2001:db8:1:2::9]'), 'anon:2001:db8:1:2::/64');
    assert.equal(anonymousClient('::1'), 'anon:0:0:0:0::/64');
    assert.equal(anonymousClient('fe80::1%eth0'), 'anon:fe80:0:0:0::/64');
    assert.equal(anonymousClient('x'.repeat(500)).length, 'anon:'.length + 64);
  });
});

describe('FailureLog', () => {
  test('past the per-second budget lines are counted and the count rides on the next line', () => {
    let now = 0;
    const cap = capturedLog();
    const f = new FailureLog(cap.log, 2, () => now);
    for (let i = 0; i < 7; i++) f.failure({ reason: 'unknown token', dest: 'd', remote: 'r', status: 401 });
    assert.equal(cap.lines().length, 2);
    now += 1000;
    f.failure({ reason: 'unknown token', dest: 'd', remote: 'r', status: 401 });
    const last = JSON.parse(cap.lines()[2]!) as { suppressed?: number };
    assert.equal(last.suppressed, 5);
  });
});
