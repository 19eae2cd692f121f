/**
 * A real (minimal) authorization server side for tests: key pairs made with jose, a JWKS served
 * over HTTP on 127.0.0.1:0 whose key list the test can change (rotation), a count of fetches, and a
 * signer for real access tokens. Reusable by proxy-level tests (SDK clients with requestInit.headers).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(kid: string, alg = 'ES256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface JwksServer {
  url: string;
  origin: string;
  /** The keys served from now on. */
  keys: JWK[];
  /** Requests served so far. */
  fetches: number;
  /** When set, every request answers this status with no key set (an outage). */
  failWith: number | null;
  close(): Promise<void>;
}

export async function startJwks(keys: JWK[]): Promise<JwksServer> {
  const state = { keys, fetches: 0, failWith: null as number | null };
  const server: Server = createServer((req, res) => {
    state.fetches++;
    if (state.failWith !== null) {
      res.writeHead(state.failWith).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/jwks.json`,
    origin,
    get keys() { return state.keys; },
    set keys(k: JWK[]) { state.keys = k; },
    get fetches() { return state.fetches; },
    get failWith() { return state.failWith; },
    set failWith(s: number | null) { state.failWith = s; },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export interface TokenOptions {
  iss: string;
  aud: string | string[];
  sub?: string;
  scope?: string;
  /** Seconds from now; negative = already expired. Undefined with noExp: no exp claim. */
  expIn?: number;
  noExp?: boolean;
  /** Seconds from now. */
  nbfIn?: number;
  extra?: JWTPayload;
}

export async function signToken(key: TestKey, o: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { ...o.extra };
  if (o.scope !== undefined) payload.scope = o.scope;
  let jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(o.iss)
    .setAudience(o.aud)
    .setSubject(o.sub ?? 'user-1')
    .setIssuedAt(now);
  if (o.noExp !== true) jwt = jwt.setExpirationTime(now + (o.expIn ?? 300));
  if (o.nbfIn !== undefined) jwt = jwt.setNotBefore(now + o.nbfIn);
  return jwt.sign(key.privateKey);
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An unsigned token (`alg: none`), as an attacker would send it. */
export function unsignedToken(payload: JWTPayload): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}
