/**
 * The one entry point the acceptor calls for every request: who is this client (static token, JWT,
 * or anonymous), may it use this destination, and is it within its request rate. Static tokens and
 * JWTs verified earlier are answered synchronously (no promise on the hot path); only a JWT seen for
 * the first time returns a promise, while jose fetches keys or checks the signature.
 *
 * Status rules (RFC 6750 §3, MCP authorization spec "Error Handling"):
 *  - no credentials (and no anonymous access) -> 401, challenge without an error code;
 *  - a credential that is malformed, unknown, expired or otherwise invalid -> 401 `invalid_token`;
 *  - a valid credential for a destination it may not use -> 403 (JWT: `insufficient_scope`);
 *  - over requests_per_minute -> 429 + Retry-After; the JWKS unreachable -> 503 + Retry-After.
 * With `auth.jwt` set every challenge names the destination's RFC 9728 metadata document.
 */
import type { AuthConfig, ClientLimitsConfig } from '../config/types.js';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { looksLikeJwt, parseAuthorization } from './bearer.js';
import { bearerChallenge, metadataUrlFor, type ChallengeParams } from './challenge.js';
import { FailureLog } from './fail-log.js';
import { INFLIGHT_RETRY_AFTER_S, InflightCounter } from './inflight.js';
import { JwtVerifier, type JwtIdentity, type JwtVerifierOptions } from './jwt-verifier.js';
import { RateLimiter } from './rate-limiter.js';
import { anonymousClient } from './remote-key.js';
import { protectedResourceMetadata, type MetadataAnswer } from './resource-metadata.js';
import { DestinationSet, scopeAllows } from './scopes.js';
import { SessionCounter } from './session-counter.js';
import { StaticTokens } from './static-tokens.js';

export type AuthLimits = ClientLimitsConfig;

export interface AuthOk {
  ok: true;
  /** Static client name, `jwt:<sub>` or `anon:<address>`: the key for limits and session ownership. */
  client: string;
  kind: 'static' | 'jwt' | 'anonymous';
  limits: AuthLimits;
}

export interface AuthFail {
  ok: false;
  status: 401 | 403 | 429 | 503;
  code: ErrorCode;
  /** For the JSON-RPC error body; fixed wording, never client input or token details. */
  message: string;
  /** The `WWW-Authenticate` value for 401 (always) and 403 (JWT), else null. */
  wwwAuthenticate: string | null;
  /** Seconds for `Retry-After` on 429/503, else null. */
  retryAfter: number | null;
}

export type AuthResult = AuthOk | AuthFail;

export interface AuthenticatorDeps {
  /** Survives config reloads when passed in (buckets are per client name). */
  limiter?: RateLimiter;
  /** Survives config reloads when passed in (it counts live sessions). */
  sessions?: SessionCounter;
  log?: Logger | null;
  jwt?: JwtVerifierOptions;
}

/** The headers an AuthFail answer carries (`WWW-Authenticate`, `Retry-After`), for writeError. */
export function authFailHeaders(f: AuthFail): Record<string, string> {
  const h: Record<string, string> = {};
  if (f.wwwAuthenticate !== null) h['www-authenticate'] = f.wwwAuthenticate;
  if (f.retryAfter !== null) h['retry-after'] = String(f.retryAfter);
  return h;
}

export function isPending(r: AuthResult | Promise<AuthResult>): r is Promise<AuthResult> {
  return r instanceof Promise;
}

const INVALID = 'the access token is invalid or expired';

export class Authenticator {
  /** false: no clients and no jwt, so every request is anonymous (loopback, or anonymous: true). */
  readonly enabled: boolean;
  readonly limiter: RateLimiter;
  readonly sessions: SessionCounter;
  private readonly statics: StaticTokens;
  private readonly staticDests = new Map<string, DestinationSet>();
  private readonly anonDests: DestinationSet;
  private readonly jwtDests: DestinationSet | null;
  private readonly verifier: JwtVerifier | null;
  private readonly fails: FailureLog;

  constructor(private readonly cfg: AuthConfig, deps: AuthenticatorDeps = {}) {
    const clients = Object.values(cfg.clients);
    this.statics = new StaticTokens(clients);
    for (const c of clients) this.staticDests.set(c.name, new DestinationSet(c.destinations));
    this.anonDests = new DestinationSet(cfg.anonymousAccess.destinations);
    this.jwtDests = cfg.jwt === null ? null : new DestinationSet(cfg.jwt.destinations);
    this.verifier = cfg.jwt === null ? null : new JwtVerifier(cfg.jwt, deps.jwt);
    this.enabled = clients.length > 0 || cfg.jwt !== null;
    this.limiter = deps.limiter ?? new RateLimiter();
    this.sessions = deps.sessions ?? new SessionCounter();
    this.fails = new FailureLog(deps.log ?? null);
  }

  /**
   * `authorization`: the request's Authorization header ('' when absent); `dest`: the destination
   * or virtual server name from the path; `remote`: the peer address as text.
   */
  authenticate(authorization: string, dest: string, remote: string): AuthResult | Promise<AuthResult> {
    const cred = parseAuthorization(authorization);
    if (!this.enabled || (cred.kind === 'none' && this.cfg.anonymous)) {
      // Without auth configured a client's token is not ours to judge; it is never forwarded either.
      if (!this.anonDests.has(dest)) {
        // With credentials configured, logging in could help: say so (401) rather than a flat 403.
        if (this.enabled) return this.unauthorized(dest, remote, 'no credentials', false);
        return this.forbidden(dest, remote, anonymousClient(remote), null);
      }
      return this.admitted({ ok: true, client: anonymousClient(remote), kind: 'anonymous', limits: this.cfg.anonymousAccess.limits }, dest, remote);
    }
    if (cred.kind === 'none') return this.unauthorized(dest, remote, 'no credentials', false);
    if (cred.kind === 'malformed') return this.unauthorized(dest, remote, cred.reason, true);

    const client = this.statics.find(cred.token);
    if (client !== null) {
      if (this.staticDests.get(client.name)?.has(dest) !== true) return this.forbidden(dest, remote, client.name, null);
      return this.admitted({ ok: true, client: client.name, kind: 'static', limits: client.limits }, dest, remote);
    }
    if (this.verifier === null || !looksLikeJwt(cred.token)) return this.unauthorized(dest, remote, 'unknown token', true);
    const key = JwtVerifier.keyOf(cred.token);
    const known = this.verifier.cached(key);
    if (known !== undefined) return this.jwtDecision(known, dest, remote);
    return this.verifier.verify(cred.token, key).then((r) => {
      if (r.ok) return this.jwtDecision(r.id, dest, remote);
      if (r.unavailable) return this.unavailable(dest, remote, r.reason);
      return this.unauthorized(dest, remote, r.reason, true);
    });
  }

  /** Before creating a session: the client's max_sessions. null = go ahead (then call sessionOpened). */
  admitSession(ok: AuthOk, dest: string, remote: string): AuthFail | null {
    const wait = this.sessions.check(ok.client, ok.limits.maxSessions);
    if (wait === 0) return null;
    this.fails.failure({ reason: 'max_sessions reached', dest, remote, status: 429, client: ok.client });
    return fail(429, ErrorCode.TooManySessions, 'this client has reached its session limit; end a session or retry later', null, wait);
  }

  sessionOpened(client: string): void {
    this.sessions.sessionOpened(client);
  }

  sessionClosed(client: string): void {
    this.sessions.sessionClosed(client);
  }

  /** One per session (keep it on the session); acquire before forwarding, release when finished. */
  newInflightCounter(): InflightCounter {
    return new InflightCounter(this.cfg.perSessionInflight);
  }

  /** The answer when `InflightCounter.tryAcquire()` refused. */
  inflightRefusal(): AuthFail {
    return fail(429, ErrorCode.SessionInflight, `this session has ${this.cfg.perSessionInflight} requests in flight; retry when some finish`, null, INFLIGHT_RETRY_AFTER_S);
  }

  /** For GET /.well-known/oauth-protected-resource[/NAME/mcp]. */
  metadata(path: string): MetadataAnswer {
    return protectedResourceMetadata(this.cfg.jwt, path);
  }

  // ---- decisions ----------------------------------------------------------------------------------

  private jwtDecision(id: JwtIdentity, dest: string, remote: string): AuthResult {
    const jwt = this.cfg.jwt!;
    if (this.jwtDests?.has(dest) !== true) return this.forbidden(dest, remote, id.client, null);
    if (jwt.requireScope && !scopeAllows(id.scopes, jwt.scopePrefix, dest)) {
      return this.forbidden(dest, remote, id.client, { error: 'insufficient_scope', scope: `${jwt.scopePrefix}${dest}`, resourceMetadata: metadataUrlFor(jwt.resource, dest) });
    }
    return this.admitted({ ok: true, client: id.client, kind: 'jwt', limits: jwt.limits }, dest, remote);
  }

  private admitted(ok: AuthOk, dest: string, remote: string): AuthResult {
    const rpm = ok.limits.requestsPerMinute;
    if (rpm === null) return ok;
    const wait = this.limiter.take(ok.client, rpm);
    if (wait === 0) return ok;
    this.fails.failure({ reason: 'requests_per_minute exceeded', dest, remote, status: 429, client: ok.client });
    return fail(429, ErrorCode.RateLimited, `too many requests for this client; retry after ${wait} s`, null, wait);
  }

  private challenge(dest: string, extra: ChallengeParams): string {
    const jwt = this.cfg.jwt;
    if (jwt === null) return bearerChallenge(extra);
    const scope = jwt.requireScope ? `${jwt.scopePrefix}${dest}` : undefined;
    return bearerChallenge({ ...extra, ...(scope !== undefined ? { scope } : {}), resourceMetadata: metadataUrlFor(jwt.resource, dest) });
  }

  private unauthorized(dest: string, remote: string, reason: string, tokenPresent: boolean): AuthFail {
    this.fails.failure({ reason, dest, remote, status: 401 });
    const www = this.challenge(dest, tokenPresent ? { error: 'invalid_token', description: INVALID } : {});
    return fail(401, ErrorCode.Unauthorized, tokenPresent ? INVALID : 'authentication required: send Authorization: Bearer <token>', www, null);
  }

  private forbidden(dest: string, remote: string, client: string, scopeChallenge: ChallengeParams | null): AuthFail {
    this.fails.failure({ reason: 'destination not allowed', dest, remote, status: 403, client });
    const www = scopeChallenge === null ? null : bearerChallenge({ ...scopeChallenge, description: 'the token does not grant this destination' });
    return fail(403, ErrorCode.ForbiddenDestination, 'this client may not use this destination', www, null);
  }

  private unavailable(dest: string, remote: string, reason: string): AuthFail {
    this.fails.failure({ reason, dest, remote, status: 503 });
    return fail(503, ErrorCode.AuthUnavailable, 'cannot verify access tokens right now; retry shortly', null, 5);
  }
}

function fail(status: AuthFail['status'], code: ErrorCode, message: string, wwwAuthenticate: string | null, retryAfter: number | null): AuthFail {
  return { ok: false, status, code, message, wwwAuthenticate, retryAfter };
}
