/**
 * Client authentication on the hot path: a static token (constant-time compare over every client),
 * a JWT already verified (cache hit), anonymous access, and for comparison the one-time cost of a
 * JWT signature check with jose (ES256 and RS256, local key set: no network).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { type Row, opsRow } from './rows.js';
import { Authenticator, isPending } from '../../src/auth/authenticator.js';
import type { AuthConfig, StaticClient } from '../../src/config/types.js';

export type { Row } from './rows.js';

const NO_LIMITS = { maxSessions: null, requestsPerMinute: null };

function clients(n: number): Record<string, StaticClient> {
  const out: Record<string, StaticClient> = {};
  for (let i = 0; i < n; i++) out[`c${i}`] = { name: `c${i}`, token: `token-${i}-${'x'.repeat(32)}`, destinations: ['*'], limits: NO_LIMITS };
  return out;
}

function authConfig(c: Record<string, StaticClient>, jwt: AuthConfig['jwt'] = null): AuthConfig {
  return { anonymous: false, anonymousAccess: { destinations: ['*'], limits: NO_LIMITS }, perSessionInflight: 64, clients: c, jwt };
}

async function signed(alg: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid: alg, alg };
  const token = await new SignJWT({ scope: 'mcp:*' }).setProtectedHeader({ alg, kid: alg })
    .setIssuer('https://as.example').setAudience('https://mcp.example').setSubject('u').setExpirationTime('1h').sign(privateKey);
  return { token, jwk, jwks: createLocalJWKSet({ keys: [jwk] }) };
}

let sink = 0;

export async function run(time = 500): Promise<Row[]> {
  const one = new Authenticator(authConfig(clients(1)));
  const hundred = new Authenticator(authConfig(clients(100)));
  const anon = new Authenticator(authConfig({}));
  const last = `Bearer token-99-${'x'.repeat(32)}`;
  const es = await signed('ES256');
  const rs = await signed('RS256');
  const verifyOpts = { issuer: 'https://as.example', audience: 'https://mcp.example', algorithms: ['ES256', 'RS256'] };

  // A cache hit: the Authenticator's own verifier, primed once (its JWKS URL is never fetched again).
  const server = createServer((_req, res) => res.end(JSON.stringify({ keys: [es.jwk] }))).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const jwtAuth = new Authenticator(authConfig({}, {
    issuer: 'https://as.example', audience: ['https://mcp.example'], jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, destinations: ['*'], resource: 'https://mcp.example',
    algorithms: ['ES256'], clockSkewS: 30, scopePrefix: 'mcp:', requireScope: true, clientClaim: 'sub', typ: null,
    jwksCooldownMs: 30_000, jwksCacheMaxAgeMs: 600_000, jwksTimeoutMs: 5_000, limits: NO_LIMITS,
  }), { jwt: { cacheTtlMs: 3_600_000 } });
  const primed = jwtAuth.authenticate(`Bearer ${es.token}`, 'd', '127.0.0.1');
  if (!isPending(primed) || !(await primed).ok) throw new Error('bench JWT did not verify');
  server.close();

  const bench = new Bench({ name: 'auth', time, warmupTime: 100 });
  bench.add('static token, 1 client', () => { sink += one.authenticate(`Bearer token-0-${'x'.repeat(32)}`, 'd', '127.0.0.1') === null ? 1 : 0; });
  bench.add('static token, 100 clients (last)', () => { sink += hundred.authenticate(last, 'd', '127.0.0.1') === null ? 1 : 0; });
  bench.add('unknown token, 100 clients', () => { sink += hundred.authenticate('Bearer nobody-has-this-token-00000000', 'd', '127.0.0.1') === null ? 1 : 0; });
  bench.add('JWT, cached', () => { sink += jwtAuth.authenticate(`Bearer ${es.token}`, 'd', '127.0.0.1') === null ? 1 : 0; });
  bench.add('anonymous (no auth configured)', () => { sink += anon.authenticate('', 'd', '127.0.0.1') === null ? 1 : 0; });
  bench.add('jose jwtVerify ES256 (first sight)', async () => { sink += (await jwtVerify(es.token, es.jwks, verifyOpts)).payload.sub === 'u' ? 1 : 0; });
  bench.add('jose jwtVerify RS256 (first sight)', async () => { sink += (await jwtVerify(rs.token, rs.jwks, verifyOpts)).payload.sub === 'u' ? 1 : 0; });
  await bench.run();
  if (sink === -1) console.log(sink);
  return bench.tasks.map((t) => opsRow(t as Task));
}

if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
}
