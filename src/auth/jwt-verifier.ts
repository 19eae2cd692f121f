/**
 * OAuth 2.1 access tokens (JWT, RFC 9068) for a resource server, validated with `jose`: signature
 * against the issuer's JWKS (fetched, cached for `jwks_cache_max_age_ms`, refetched on an unknown
 * `kid` at most once per `jwks_cooldown_ms`, so rotation works and random kids cannot make us hammer
 * the issuer), an algorithm allow-list (asymmetric only; `none` and HS* never pass), and
 * `iss` / `aud` / `exp` / `nbf` with a small clock skew. `exp` is required: a token without one
 * would be valid forever.
 *
 * Verified tokens are cached briefly (bounded LRU keyed by the token's sha256, never the token,
 * expiring no later than `exp`) so a client's later requests are answered synchronously; concurrent
 * requests with the same new token share one verification.
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { JwtConfig } from '../config/types.js';
import { scopesOf } from './scopes.js';

export interface JwtIdentity {
  /** The client name: `jwt:<client_claim value>`. */
  client: string;
  scopes: ReadonlySet<string>;
  /** ms since the epoch: the token's exp. */
  expiresAt: number;
}

/** `unavailable`: the key set could not be fetched, which is not the client's fault (503, not 401). */
export type JwtResult = { ok: true; id: JwtIdentity } | { ok: false; reason: string; unavailable: boolean };

export interface JwtVerifierOptions {
  cacheMax?: number;
  /** A cached verification is reused at most this long (and never past exp). */
  cacheTtlMs?: number;
  /** Distinct tokens being verified at once; more answer `unavailable` instead of queuing work. */
  maxPending?: number;
  now?: () => number;
}

const MAX_CLIENT_CLAIM_CHARS = 256;

interface Entry {
  id: JwtIdentity;
  until: number;
}

export class JwtVerifier {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<JwtResult>>();
  private readonly cacheMax: number;
  private readonly cacheTtlMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;

  constructor(private readonly cfg: JwtConfig, opts: JwtVerifierOptions = {}) {
    this.jwks = createRemoteJWKSet(new URL(cfg.jwksUrl), {
      cooldownDuration: cfg.jwksCooldownMs,
      cacheMaxAge: cfg.jwksCacheMaxAgeMs,
      timeoutDuration: cfg.jwksTimeoutMs,
    });
    this.cacheMax = opts.cacheMax ?? 4096;
    this.cacheTtlMs = opts.cacheTtlMs ?? 60_000;
    this.maxPending = opts.maxPending ?? 256;
    this.now = opts.now ?? Date.now;
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token, 'utf8').digest('base64url');
  }

  /** A still-valid earlier verification of this token, or undefined (then call `verify`). */
  cached(key: string): JwtIdentity | undefined {
    const e = this.cache.get(key);
    if (e === undefined) return undefined;
    if (this.now() >= e.until) {
      this.cache.delete(key);
      return undefined;
    }
    return e.id;
  }

  verify(token: string, key: string = JwtVerifier.keyOf(token)): Promise<JwtResult> {
    const running = this.pending.get(key);
    if (running !== undefined) return running;
    if (this.pending.size >= this.maxPending) {
      return Promise.resolve({ ok: false, reason: 'too many token verifications in flight', unavailable: true });
    }
    const p = this.run(token, key).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  private async run(token: string, key: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        algorithms: this.cfg.algorithms,
        clockTolerance: this.cfg.clockSkewS,
        requiredClaims: ['exp'],
        ...(this.cfg.typ !== null ? { typ: this.cfg.typ } : {}),
      }));
    } catch (err) {
      return failure(err);
    }
    const name = payload[this.cfg.clientClaim];
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_CLIENT_CLAIM_CHARS || /\p{Cc}/u.test(name)) {
      return { ok: false, reason: `claim "${this.cfg.clientClaim}" is missing or not a short string`, unavailable: false };
    }
    // jwtVerify required exp; the type does not know.
    const expiresAt = (payload.exp ?? 0) * 1000;
    const id: JwtIdentity = { client: `jwt:${name}`, scopes: scopesOf(payload), expiresAt };
    this.remember(key, id);
    return { ok: true, id };
  }

  private remember(key: string, id: JwtIdentity): void {
    const until = Math.min(id.expiresAt, this.now() + this.cacheTtlMs);
    if (until <= this.now()) return;
    if (this.cache.size >= this.cacheMax) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(key, { id, until });
  }
}

/** jose's error as a short reason for the log (never the token), and whether it is our side's fault. */
function failure(err: unknown): JwtResult {
  if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token expired', unavailable: false };
  if (err instanceof errors.JWTClaimValidationFailed) return { ok: false, reason: `claim "${err.claim}" ${err.reason}`, unavailable: false };
  if (err instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: 'algorithm not allowed', unavailable: false };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'bad signature', unavailable: false };
  if (err instanceof errors.JWKSNoMatchingKey) return { ok: false, reason: 'no matching key in the JWKS', unavailable: false };
  if (err instanceof errors.JWKSMultipleMatchingKeys) return { ok: false, reason: 'several JWKS keys match and none verified', unavailable: false };
  if (err instanceof errors.JWKSTimeout) return { ok: false, reason: 'JWKS fetch timed out', unavailable: true };
  if (err instanceof errors.JWKSInvalid) return { ok: false, reason: 'JWKS response is not a key set', unavailable: true };
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
    return { ok: false, reason: `malformed token (${err.code})`, unavailable: false };
  }
  // ERR_JOSE_GENERIC here is the JWKS fetch (non-200, not JSON); anything else is fetch itself failing.
  if (err instanceof errors.JOSEError && err.code !== 'ERR_JOSE_GENERIC') return { ok: false, reason: `invalid token (${err.code})`, unavailable: false };
  return { ok: false, reason: `JWKS unavailable (${err instanceof Error ? err.message : String(err)})`, unavailable: true };
}
