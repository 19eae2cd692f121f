import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../src/config/load.js';
import { authCrossFieldIssues, offLoopbackProblem, reloadAuthProblem } from '../src/config/auth-schema.js';
import { isLoopbackHost } from '../src/acceptor/loopback.js';
import { isSafeFetchUrl } from '../src/auth/loopback.js';
import type { ProxyConfig } from '../src/config/types.js';
import { DESTS } from './helpers/auth-config.js';

const ENV = { ALICE: 'alice-token-0123456789abcdef', BOB: 'bob-token-0123456789abcdef', SHORT: 'short' };

function parse(yaml: string, env: NodeJS.ProcessEnv = ENV) {
  return parseConfigText(`${DESTS}\n${yaml}`, { source: null, baseDir: process.cwd(), env });
}
function ok(yaml: string): ProxyConfig {
  const r = parse(yaml);
  if (!r.ok) assert.fail(r.problems.join('\n'));
  return r.config;
}
function problems(yaml: string): string[] {
  const r = parse(yaml);
  if (r.ok) assert.fail('expected problems');
  return r.problems;
}

describe('auth config', () => {
  test('defaults: no clients, no jwt, not anonymous, 64 in flight per session, anonymous may use everything', () => {
    const c = ok('');
    assert.deepEqual({ ...c.auth, clients: { ...c.auth.clients } }, {
      anonymous: false,
      anonymousAccess: { destinations: ['*'], limits: { maxSessions: null, requestsPerMinute: null } },
      perSessionInflight: 64,
      clients: {},
      jwt: null,
    });
  });

  test('every key maps, with jwt defaults filled in', () => {
    const c = ok(`
auth:
  anonymous: true
  anonymous_limits: { destinations: [files], max_sessions: 2, requests_per_minute: 30 }
  per_session_inflight: 8
  clients:
    alice: { token: '\${env:ALICE}', destinations: [github, files], max_sessions: 20, requests_per_minute: 600 }
    bob: { token: '\${env:BOB}', destinations: ['*'] }
  jwt:
    issuer: https://auth.example.com/
    audience: [https://mcp.example.com, api://mithril]
    jwks_url: https://auth.example.com/.well-known/jwks.json
    destinations: ['*']
    requests_per_minute: 100
`);
    assert.equal(c.auth.anonymous, true);
    assert.deepEqual(c.auth.anonymousAccess, { destinations: ['files'], limits: { maxSessions: 2, requestsPerMinute: 30 } });
    assert.equal(c.auth.perSessionInflight, 8);
    assert.deepEqual(c.auth.clients.alice, {
      name: 'alice', token: ENV.ALICE, destinations: ['github', 'files'], limits: { maxSessions: 20, requestsPerMinute: 600 },
    });
    assert.deepEqual(c.auth.clients.bob?.limits, { maxSessions: null, requestsPerMinute: null });
    assert.deepEqual(c.auth.jwt, {
      issuer: 'https://auth.example.com/', // exactly as written: iss is compared as a string
      audience: ['https://mcp.example.com', 'api://mithril'],
      jwksUrl: 'https://auth.example.com/.well-known/jwks.json',
      destinations: ['*'],
      resource: 'https://mcp.example.com',
      algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA', 'Ed25519'],
      clockSkewS: 30,
      scopePrefix: 'mcp:',
      requireScope: true,
      clientClaim: 'sub',
      typ: null,
      jwksCooldownMs: 30_000,
      jwksCacheMaxAgeMs: 600_000,
      jwksTimeoutMs: 5_000,
      limits: { maxSessions: null, requestsPerMinute: 100 },
    });
  });

  test('jwt.resource wins over the audience, keeps its path and loses a trailing slash', () => {
    const c = ok(`
auth:
  jwt: { issuer: 'https://a.example', audience: api://x, jwks_url: 'https://a.example/k', destinations: ['*'], resource: 'https://pi.lan:8443/proxy/' }
`);
    assert.equal(c.auth.jwt?.resource, 'https://pi.lan:8443/proxy');
  });

  test('a token must be a reference, long enough and a valid bearer token; problems never show it', () => {
    const p = problems(`
auth:
  clients:
    lit: { token: 'literal-token-0123456789abcdef', destinations: ['*'] }
    short: { token: '\${env:SHORT}', destinations: ['*'] }
    missing: { token: '\${env:NOPE}', destinations: ['*'] }
`);
    assert.deepEqual(p, [
      'auth.clients.lit.token: must be a ${secret:NAME} or ${env:NAME} reference (a token does not belong in the config file)',
      'auth.clients.missing.token: environment variable "NOPE" is not set',
      'auth.clients.short.token: must resolve to at least 16 characters',
    ]);
    const spaced = parse("auth: { clients: { a: { token: '${env:S}', destinations: ['*'] } } }", { S: 'has spaces in it, not a token' });
    assert.ok(!spaced.ok);
    if (!spaced.ok) {
      assert.deepEqual(spaced.problems, ['auth.clients.a.token: must resolve to a bearer token (letters, digits and -._~+/, then optional =)']);
      assert.ok(!spaced.problems.join().includes('has spaces'));
    }
  });

  test('two clients with the same token are refused, naming both and showing neither value', () => {
    const p = problems(`
auth:
  clients:
    alice: { token: '\${env:ALICE}', destinations: ['*'] }
    eve: { token: '\${env:ALICE}', destinations: ['*'] }
`);
    assert.deepEqual(p, ['auth.clients.eve.token: is the same token as auth.clients.alice.token']);
  });

  test('client names, destination lists, unknown destinations; virtual server names count', () => {
    const p = problems(`
auth:
  anonymous_limits: { destinations: [nope] }
  clients:
    Bad Name: { token: '\${env:ALICE}', destinations: [github] }
    alice: { token: '\${env:BOB}', destinations: [github, gitlab] }
    empty: { token: '\${env:ALICE}x', destinations: [] }
`);
    assert.deepEqual(p, [
      'auth.anonymous_limits.destinations[0]: names no configured destination or virtual server ("nope")',
      'auth.clients.Bad Name: is not a valid client name (must match ^[a-z0-9][a-z0-9_-]{0,62}$)',
      'auth.clients.alice.destinations[1]: names no configured destination or virtual server ("gitlab")',
      'auth.clients.empty.destinations: must name at least one destination or "*"',
    ]);
    // virtual_servers belongs to another module's schema; the cross-field rule already counts its names.
    const raw = { destinations: { github: {} }, virtual_servers: { team: {} }, auth: { clients: { a: { destinations: ['team', 'github', 'x'] } } } };
    assert.deepEqual(authCrossFieldIssues(raw).map((i) => i.path.join('.')), ['auth.clients.a.destinations.2']);
  });

  test('jwt: jwks_url and issuer must be https or loopback http; HS256 and none are not algorithms here', () => {
    const p = problems(`
auth:
  jwt:
    issuer: http://auth.example.com
    audience: https://mcp.example.com
    jwks_url: http://auth.example.com/jwks.json
    destinations: ['*']
    algorithms: [HS256, none]
`);
    assert.equal(p.length, 4);
    assert.ok(p.includes('auth.jwt.issuer: must be an https URL (http only on a loopback host)'));
    assert.ok(p.includes('auth.jwt.jwks_url: must be an https URL (http only on a loopback host)'));
    assert.ok(p.some((l) => l.startsWith('auth.jwt.algorithms[0]: must be one of: RS256')));
    assert.ok(p.some((l) => l.startsWith('auth.jwt.algorithms[1]: must be one of:')));
    ok(`
auth:
  jwt: { issuer: 'http://127.0.0.1:9000', audience: 'http://127.0.0.1:8080', jwks_url: 'http://[::1]:9000/jwks', destinations: ['*'] }
`);
  });

  test('jwt.resource is required when no audience is a URL', () => {
    assert.deepEqual(problems(`
auth:
  jwt: { issuer: 'https://a.example', audience: api://mithril, jwks_url: 'https://a.example/k', destinations: ['*'] }
`), ['auth.jwt.resource: is required when no audience is an http(s) URL (it is the public URL clients reach the proxy at)']);
  });

  test('off loopback without clients or jwt is refused with one clear line; anonymous: true or credentials allow it', () => {
    const p = problems('listen: { host: 0.0.0.0 }');
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^listen\.host: 0\.0\.0\.0 is not a loopback address and auth has no clients or jwt: .*auth\.anonymous: true/);
    assert.equal(problems('listen: { host: 192.168.1.10 }\nauth: { anonymous: false }').length, 1);
    assert.equal(problems('listen: { host: "::" }').length, 1);
    ok('listen: { host: 0.0.0.0 }\nauth: { anonymous: true }');
    ok("listen: { host: 0.0.0.0 }\nauth: { clients: { a: { token: '${env:ALICE}', destinations: ['*'] } } }");
    ok('listen: { host: 127.0.0.2 }');
    ok('listen: { host: localhost }');
    ok('listen: { host: "::1" }');
  });

  test('offLoopbackProblem holds a --host override to the same rule', () => {
    assert.equal(offLoopbackProblem('127.0.0.1', { clients: 0, jwt: false, anonymous: false }), null);
    assert.match(offLoopbackProblem('0.0.0.0', { clients: 0, jwt: false, anonymous: false }) ?? '', /not a loopback address/);
    assert.equal(offLoopbackProblem('0.0.0.0', { clients: 0, jwt: true, anonymous: false }), null);
  });

  test('a reload that drops auth is refused while bound off loopback (a --host override), allowed on loopback', () => {
    const noAuth = ok('').auth;
    assert.match(reloadAuthProblem('0.0.0.0', noAuth) ?? '', /not a loopback address/);
    assert.equal(reloadAuthProblem('127.0.0.1', noAuth), null);
    assert.equal(reloadAuthProblem('0.0.0.0', ok('auth: { anonymous: true }').auth), null);
  });

  test('loopback is parsed, not prefix-matched', () => {
    for (const h of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['127.attacker.net', '127.0.0.1.evil.example', '0.0.0.0', '::', '10.0.0.1', 'localhost.evil', '::ffff:10.0.0.1']) {
      assert.ok(!isLoopbackHost(h), h);
    }
    assert.ok(isSafeFetchUrl('https://as.example/jwks'));
    assert.ok(isSafeFetchUrl('http://127.0.0.1:9/jwks'));
    assert.ok(!isSafeFetchUrl('http://127.attacker.net/jwks'));
    assert.ok(!isSafeFetchUrl('https://user:pw@as.example/jwks'));
    assert.ok(!isSafeFetchUrl('file:///etc/passwd'));
  });
});
