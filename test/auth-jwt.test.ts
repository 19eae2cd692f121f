import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPublicKey } from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import { Authenticator, isPending, type AuthResult } from '../src/auth/authenticator.js';
import { JwtVerifier } from '../src/auth/jwt-verifier.js';
import { configWith, capturedLog, type CapturedLog } from './helpers/auth-config.js';
import { makeKey, signToken, startJwks, unsignedToken, type JwksServer, type TestKey } from './helpers/oauth.js';

const ISS = 'https://as.example.test';
const AUD = 'https://mcp.example.test';
const META_GITHUB = `${AUD}/.well-known/oauth-protected-resource/github/mcp`;

let k1: TestKey;
let jwks: JwksServer;

before(async () => {
  k1 = await makeKey('k1', 'ES256');
  jwks = await startJwks([k1.publicJwk]);
});
after(async () => {
  await jwks.close();
});

function jwtYaml(url: string, extra = ''): string {
  return `auth:\n  jwt:\n    issuer: ${ISS}\n    audience: ${AUD}\n    jwks_url: ${url}\n    destinations: [github, files]\n${extra}`;
}

function authn(extra = '', url = jwks.url, log: CapturedLog['log'] | null = null): Authenticator {
  return new Authenticator(configWith(jwtYaml(url, extra)).auth, { log });
}

async function decide(a: Authenticator, token: string, dest = 'github'): Promise<AuthResult> {
  return a.authenticate(`Bearer ${token}`, dest, '127.0.0.1');
}

function assertInvalid(r: AuthResult): void {
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.status, 401);
  assert.equal(r.code, 'E_UNAUTHORIZED');
  assert.match(r.wwwAuthenticate ?? '', /^Bearer /);
  assert.match(r.wwwAuthenticate ?? '', /error="invalid_token"/);
  assert.match(r.wwwAuthenticate ?? '', new RegExp(`resource_metadata="${META_GITHUB}"`));
}

const token = (o: Partial<Parameters<typeof signToken>[1]> = {}, key = k1) => signToken(key, { iss: ISS, aud: AUD, scope: 'mcp:github', ...o });

describe('JWT access tokens against a real JWKS', () => {
  test('a valid token is verified once (a promise), then answered synchronously from the cache', async () => {
    const a = authn();
    const t = await token({ sub: 'alice@example' });
    const first = a.authenticate(`Bearer ${t}`, 'github', '127.0.0.1');
    assert.ok(isPending(first), 'first sight of a JWT needs the key set');
    const r = await first;
    assert.deepEqual(r, { ok: true, client: 'jwt:alice@example', kind: 'jwt', limits: { maxSessions: null, requestsPerMinute: null } });
    const second = a.authenticate(`Bearer ${t}`, 'github', '127.0.0.1');
    assert.ok(!isPending(second), 'a verified token is answered without a promise');
    assert.equal(second.ok, true);
  });

  test('expired beyond the clock skew -> 401 invalid_token; expired within the skew is accepted', async () => {
    const a = authn('    clock_skew_s: 30\n');
    assertInvalid(await decide(a, await token({ expIn: -120 })));
    assert.equal((await decide(a, await token({ expIn: -5 }))).ok, true);
  });

  test('nbf in the future beyond the skew -> 401; within the skew is accepted', async () => {
    const a = authn('    clock_skew_s: 30\n');
    assertInvalid(await decide(a, await token({ nbfIn: 600 })));
    assert.equal((await decide(a, await token({ nbfIn: 10 }))).ok, true);
  });

  test('a token without exp is refused (it would be valid forever)', async () => {
    assertInvalid(await decide(authn(), await token({ noExp: true })));
  });

  test('wrong issuer and wrong audience -> 401; an audience list that contains ours is accepted', async () => {
    const a = authn();
    assertInvalid(await decide(a, await token({ iss: 'https://evil.example.test' })));
    assertInvalid(await decide(a, await token({ aud: 'https://other-service.example.test' })));
    assert.equal((await decide(a, await token({ aud: ['https://other-service.example.test', AUD] }))).ok, true);
  });

  test('HS256 signed with the public key, and alg none, are refused', async () => {
    const a = authn();
    const now = Math.floor(Date.now() / 1000);
    const pem = createPublicKey({ key: k1.publicJwk as JWK & { kty: string }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hs = await new SignJWT({ scope: 'mcp:github' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(ISS).setAudience(AUD).setSubject('mallory').setExpirationTime(now + 300)
      .sign(new TextEncoder().encode(String(pem)));
    assertInvalid(await decide(a, hs));
    const none = unsignedToken({ iss: ISS, aud: AUD, sub: 'mallory', exp: now + 300, scope: 'mcp:github' });
    assertInvalid(await decide(a, none));
    const v = new JwtVerifier(configWith(jwtYaml(jwks.url)).auth.jwt!);
    const r = await v.verify(hs);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reason, 'algorithm not allowed');
  });

  test('an algorithm outside the configured allow-list is refused even with a key in the JWKS', async () => {
    const rsa = await makeKey('rsa-1', 'RS256');
    const server = await startJwks([k1.publicJwk, rsa.publicJwk]);
    try {
      const strict = authn('    algorithms: [ES256]\n', server.url);
      assertInvalid(await decide(strict, await token({}, rsa)));
      const open = authn('', server.url);
      assert.equal((await decide(open, await token({}, rsa))).ok, true, 'RS256 is in the default list');
    } finally {
      await server.close();
    }
  });

  test('EdDSA keys work with the default allow-list', async () => {
    const ed = await makeKey('ed-1', 'EdDSA');
    const server = await startJwks([ed.publicJwk]);
    try {
      assert.equal((await decide(authn('', server.url), await token({}, ed))).ok, true);
    } finally {
      await server.close();
    }
  });

  test('an unknown kid refetches the JWKS at most once per cooldown, and a rotated-in key is then accepted', async () => {
    const server = await startJwks([k1.publicJwk]);
    try {
      const a = authn('    jwks_cooldown_ms: 400\n', server.url);
      assert.equal((await decide(a, await token())).ok, true);
      const fetchedAtStart = server.fetches;
      assert.equal(fetchedAtStart, 1);
      const k2 = await makeKey('k2', 'ES256');
      await sleep(450);
      // Past the cooldown: the unknown kid triggers one refetch, which still lacks k2.
      assertInvalid(await decide(a, await token({}, k2)));
      assert.equal(server.fetches, 2);
      server.keys = [k1.publicJwk, k2.publicJwk];
      // Inside the cooldown: refused again without hitting the issuer (random kids cannot flood it).
      for (let i = 0; i < 5; i++) assertInvalid(await decide(a, await token({ sub: `u${i}` }, k2)));
      assert.equal(server.fetches, 2);
      await sleep(450);
      assert.equal((await decide(a, await token({}, k2))).ok, true, 'k2 accepted after the refetch');
      assert.equal(server.fetches, 3);
      assert.equal((await decide(a, await token())).ok, true, 'k1 still accepted');
    } finally {
      await server.close();
    }
  });

  test('concurrent requests with one new token share one verification and one JWKS fetch', async () => {
    const server = await startJwks([k1.publicJwk]);
    try {
      const a = authn('', server.url);
      const t = await token();
      const rs = await Promise.all(Array.from({ length: 10 }, () => decide(a, t)));
      assert.ok(rs.every((r) => r.ok));
      assert.equal(server.fetches, 1);
    } finally {
      await server.close();
    }
  });

  test('a JWKS that answers 500, or a port with nothing listening -> 503 E_AUTH_UNAVAILABLE with Retry-After, not 401', async () => {
    const server = await startJwks([k1.publicJwk]);
    server.failWith = 500;
    const a = authn('', server.url);
    const r = await decide(a, await token());
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.status, 503);
      assert.equal(r.code, 'E_AUTH_UNAVAILABLE');
      assert.equal(r.retryAfter, 5);
    }
    await server.close();
    const gone = await decide(authn('    jwks_timeout_ms: 2000\n', server.url), await token());
    assert.equal(gone.ok ? 0 : gone.status, 503);
  });

  test('the cache never outlives the token: cached() is empty once exp has passed', async () => {
    let clock = Date.now();
    const v = new JwtVerifier(configWith(jwtYaml(jwks.url)).auth.jwt!, { now: () => clock, cacheTtlMs: 3_600_000 });
    const t = await token({ expIn: 60 });
    const key = JwtVerifier.keyOf(t);
    assert.equal((await v.verify(t, key)).ok, true);
    assert.ok(v.cached(key));
    const exp = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { exp: number };
    clock = exp.exp * 1000 - 1;
    assert.ok(v.cached(key), 'still cached just before exp');
    clock = exp.exp * 1000;
    assert.equal(v.cached(key), undefined);
  });

  test('the cache is bounded', async () => {
    const v = new JwtVerifier(configWith(jwtYaml(jwks.url)).auth.jwt!, { cacheMax: 3 });
    for (let i = 0; i < 6; i++) assert.equal((await v.verify(await token({ sub: `u${i}` }))).ok, true);
    assert.equal(v.cacheSize, 3);
  });

  test('client_claim names the client; a token without that claim is refused', async () => {
    const a = authn('    client_claim: client_id\n');
    const r = await decide(a, await token({ extra: { client_id: 'cursor-42' } }));
    assert.equal(r.ok && r.client, 'jwt:cursor-42');
    assertInvalid(await decide(a, await token()));
  });
});

test('typ: at+jwt refuses tokens of another type (an ID token is not an access token)', async () => {
  const a = authn('    typ: at+jwt\n');
  assert.equal((await decide(a, await token())).ok, true, 'the helper signs typ at+jwt');
  const now = Math.floor(Date.now() / 1000);
  const idToken = await new SignJWT({ scope: 'mcp:github' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
    .setIssuer(ISS).setAudience(AUD).setSubject('user-1').setExpirationTime(now + 300)
    .sign(k1.privateKey);
  assertInvalid(await decide(a, idToken));
  assert.equal((await decide(authn(), idToken)).ok, true, 'unchecked by default');
});

describe('scopes narrow auth.jwt.destinations', () => {
  test('mcp:files grants files only; github -> 403 insufficient_scope with the scope to ask for', async () => {
    const a = authn();
    const t = await token({ scope: 'openid mcp:files' });
    assert.equal((await decide(a, t, 'files')).ok, true);
    const r = await decide(a, t, 'github');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.status, 403);
    assert.equal(r.code, 'E_FORBIDDEN_DESTINATION');
    assert.match(r.wwwAuthenticate ?? '', /error="insufficient_scope"/);
    assert.match(r.wwwAuthenticate ?? '', /scope="mcp:github"/);
    assert.match(r.wwwAuthenticate ?? '', new RegExp(`resource_metadata="${META_GITHUB}"`));
  });

  test('mcp:* grants every listed destination but never one outside auth.jwt.destinations', async () => {
    const a = authn();
    const t = await token({ scope: 'mcp:*' });
    assert.equal((await decide(a, t, 'github')).ok, true);
    assert.equal((await decide(a, t, 'files')).ok, true);
    const r = await decide(a, t, 'other');
    assert.equal(r.ok ? 0 : r.status, 403);
    const widen = await decide(a, await token({ scope: 'mcp:other' }), 'other');
    assert.equal(widen.ok ? 0 : widen.status, 403, 'a scope cannot widen the operator list');
  });

  test('no mcp scope at all -> 403; the scp list form is read too', async () => {
    const a = authn();
    assert.equal((await decide(a, await token({ scope: 'openid profile' }))).ok, false);
    assert.equal((await decide(a, await token({ scope: undefined, extra: { scp: ['mcp:github'] } }))).ok, true);
  });

  test('a custom scope_prefix', async () => {
    const a = authn('    scope_prefix: "proxy/"\n');
    assert.equal((await decide(a, await token({ scope: 'proxy/github' }))).ok, true);
    assert.equal((await decide(a, await token({ scope: 'mcp:github' }))).ok, false);
  });

  test('require_scope: false lets auth.jwt.destinations alone decide', async () => {
    const a = authn('    require_scope: false\n');
    const t = await token({ scope: undefined });
    assert.equal((await decide(a, t, 'github')).ok, true);
    assert.equal((await decide(a, t, 'other')).ok, false);
  });
});

describe('401 challenges and the failure log', () => {
  test('no credentials -> 401 with resource_metadata and a scope hint but no error code', async () => {
    const r = await authn().authenticate('', 'github', '10.0.0.7');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.status, 401);
    assert.equal(r.wwwAuthenticate, `Bearer scope="mcp:github", resource_metadata="${META_GITHUB}"`);
  });

  test('failures are logged with a reason and never the token', async () => {
    const cap = capturedLog();
    const a = authn('', jwks.url, cap.log);
    const expired = await token({ expIn: -3600 });
    await decide(a, expired);
    await a.authenticate('Bearer not-a-jwt-but-long-enough', 'github', '10.0.0.8');
    const lines = cap.lines();
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /"auth":"token expired"/);
    assert.match(lines[1]!, /"auth":"unknown token"/);
    for (const l of lines) {
      assert.ok(!l.includes(expired.split('.')[1]!), 'no part of the token is logged');
      assert.ok(!l.includes('not-a-jwt-but-long-enough'));
    }
  });
});
