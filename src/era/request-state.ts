/**
 * `requestState` tokens the proxy mints when it bridges a 2026 client to a session-era upstream:
 * the upstream sent a server->client request (sampling, elicitation, roots) during a call, the
 * proxy parked it and answered the client `resultType: "input_required"`; the client's retry (new
 * id, possibly on another connection and another worker) carries the token back, and the proxy
 * must find the parked request from it alone.
 *
 * MRTR (basic/patterns/mrtr, server requirements) treats requestState as attacker-controlled: it is
 * integrity-protected (HMAC-SHA256 over the exact payload bytes) and bound to the authenticated
 * principal, a short expiry, and the originating request (method + name/uri). The payload is only
 * JSON.parsed after the MAC verified, so forged bytes are never interpreted; the MAC compares in
 * constant time. Single use is not the token's job: the parked request is consumed by the first
 * retry, and a replayed token then finds nothing (the caller answers RequestStateInvalid).
 *
 * Format: `m1.` + base64url(payload JSON) + `.` + base64url(HMAC-SHA256(key, "m1." + payload part)).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode } from '../errors.js';

const VERSION = 'm1.';
/** Longer tokens are refused before any decoding. */
export const MAX_TOKEN_CHARS = 2048;
export const DEFAULT_TTL_MS = 5 * 60_000;
const KEY_BYTES = 32;
const MAC_B64_CHARS = 43; // base64url of 32 bytes, no padding
const B64URL = /^[A-Za-z0-9_-]+$/;

/** What the token names: where the parked upstream request lives and what it belongs to. */
export interface RequestStateClaims {
  /** Worker index that holds the upstream session and the parked request. */
  worker: number;
  /** The worker's key for the upstream session (client x destination). */
  session: string;
  /** JSON-RPC id the upstream used for its server->client request(s) (parked; answered by the retry). */
  parked: string | number;
  /** Authenticated principal (client name, JWT subject, or `anon:<address>`). */
  principal: string;
  /** The originating request: method and params.name / params.uri ('' when none). */
  method: string;
  target: string;
}

interface Payload extends RequestStateClaims {
  /** Expiry, ms since the epoch. */
  exp: number;
  /** Random nonce: two tokens for the same parked request never look alike. */
  n: string;
}

export type VerifyResult =
  | { ok: true; claims: RequestStateClaims; expiresAt: number }
  | { ok: false; code: typeof ErrorCode.RequestStateInvalid | typeof ErrorCode.RequestStateExpired; reason: string };

/** What the retry must match besides a good MAC. */
export interface Expectation {
  principal: string;
  method: string;
  target: string;
}

function bad(reason: string): VerifyResult {
  return { ok: false, code: ErrorCode.RequestStateInvalid, reason };
}

export class RequestStateSigner {
  private readonly key: Buffer;
  private readonly now: () => number;

  /**
   * `secret`: from config (stable across restarts and instances), at least 32 characters; it is
   * hashed to the key. Without one, a random key made now (tokens die with the process, which only
   * costs in-flight MRTR retries after a restart: their parked requests died too).
   */
  constructor(secret?: string | Uint8Array, now: () => number = Date.now) {
    if (secret === undefined) {
      this.key = randomBytes(KEY_BYTES);
    } else if (typeof secret === 'string') {
      if (secret.length < 32) throw new Error('request_state secret must be at least 32 characters');
      this.key = createHash('sha256').update(secret, 'utf8').digest();
    } else {
      if (secret.length < KEY_BYTES) throw new Error(`request_state key must be at least ${KEY_BYTES} bytes`);
      this.key = Buffer.from(secret);
    }
    this.now = now;
  }

  /** The raw key, to hand to worker threads (workerData) so any of them can mint. */
  get keyBytes(): Uint8Array {
    return new Uint8Array(this.key);
  }

  private mac(signed: string): Buffer {
    return createHmac('sha256', this.key).update(signed, 'utf8').digest();
  }

  mint(claims: RequestStateClaims, ttlMs: number = DEFAULT_TTL_MS): string {
    const payload: Payload = { ...claims, exp: this.now() + ttlMs, n: randomBytes(9).toString('base64url') };
    const signed = VERSION + Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
    const token = signed + '.' + this.mac(signed).toString('base64url');
    if (token.length > MAX_TOKEN_CHARS) throw new Error('requestState claims too long');
    return token;
  }

  verify(token: string, expect: Expectation): VerifyResult {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) return bad('requestState is malformed');
    if (!token.startsWith(VERSION)) return bad('requestState was not issued by this proxy');
    const dot = token.lastIndexOf('.');
    if (dot <= VERSION.length) return bad('requestState is malformed');
    const signed = token.slice(0, dot);
    const macText = token.slice(dot + 1);
    const body = signed.slice(VERSION.length);
    if (macText.length !== MAC_B64_CHARS || !B64URL.test(macText) || !B64URL.test(body)) return bad('requestState is malformed');
    const given = Buffer.from(macText, 'base64url');
    const want = this.mac(signed);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return bad('requestState failed verification');
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      return bad('requestState is malformed'); // only reachable with the key: a bug, not an attack
    }
    if (typeof p.exp !== 'number' || this.now() >= p.exp) {
      return { ok: false, code: ErrorCode.RequestStateExpired, reason: 'requestState has expired: send the original request again' };
    }
    if (p.principal !== expect.principal) return bad('requestState belongs to another client');
    if (p.method !== expect.method || p.target !== expect.target) return bad('requestState belongs to another request');
    const claims: RequestStateClaims = {
      worker: p.worker, session: p.session, parked: p.parked, principal: p.principal, method: p.method, target: p.target,
    };
    return { ok: true, claims, expiresAt: p.exp };
  }
}
