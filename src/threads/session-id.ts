/**
 * Downstream session ids: 128 bits from the CSPRNG as 32 lowercase hex characters (visible ASCII,
 * safe in a header and a query string). The session table keys on the same 128 bits as 4 words.
 * With an `instance` configured the id also carries that instance's tag and a MAC (see
 * `instanceSessionIds`), so a stateless balancer can route on it.
 */
import { createHmac, createSecretKey, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import { ErrorCode, ProxyError } from '../errors.js';

const ID_BYTES = 16;
export const SESSION_ID_LENGTH = ID_BYTES * 2;

// Random bytes are drawn in blocks: one randomFillSync call serves 64 ids.
const POOL_IDS = 64;
const pool = Buffer.alloc(ID_BYTES * POOL_IDS);
let poolUsed = POOL_IDS;

export function mintSessionId(): string {
  if (poolUsed === POOL_IDS) {
    randomFillSync(pool);
    poolUsed = 0;
  }
  const start = poolUsed * ID_BYTES;
  poolUsed++;
  const id = pool.toString('hex', start, start + ID_BYTES);
  // Each id's bytes are used once: wipe them so a later memory dump cannot replay old ids.
  pool.fill(0, start, start + ID_BYTES);
  return id;
}

/** Value of each char code as a hex digit, -1 when not a lowercase hex digit. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 10; d++) HEX[48 + d] = d;
for (let d = 0; d < 6; d++) HEX[97 + d] = 10 + d;

function nibble(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? (HEX[c] as number) : -1;
}

export function isWellFormedSessionId(s: string): boolean {
  if (s.length !== SESSION_ID_LENGTH) return false;
  for (let i = 0; i < SESSION_ID_LENGTH; i++) if (nibble(s, i) < 0) return false;
  return true;
}

/** The id as 4 big-endian uint32 words in `out` (no allocation); false if malformed. */
export function sessionIdWords(id: string, out: Uint32Array): boolean {
  if (id.length !== SESSION_ID_LENGTH) return false;
  for (let w = 0; w < 4; w++) {
    let v = 0;
    for (let i = w * 8, end = i + 8; i < end; i++) {
      const n = nibble(id, i);
      if (n < 0) return false;
      v = (v << 4) | n;
    }
    out[w] = v;
  }
  return true;
}

// ---- ids that carry their instance -------------------------------------------------------------

/** What an instance id may be: a short token that is also a valid HAProxy server name (no dots). */
export const INSTANCE_ID = /^[a-z0-9][a-z0-9_-]{0,30}$/;
/** Bytes of HMAC-SHA256 kept: 128 bits, as 22 base64url characters. */
const MAC_BYTES = 16;
const MAC_LENGTH = 22;

/**
 * How this instance mints and recognises downstream session ids. The session table keys on the
 * 128 random bits (`key`); everything else (the store's map, worker messages, logs) uses the full id.
 */
export interface SessionIdScheme {
  /** The instance tag carried in every id, or null when ids are plain. */
  readonly instance: string | null;
  /** A fresh id: plain `<32 hex>`, or `<instance>.<32 hex>.<mac>`. */
  mint(): string;
  /**
   * The table key (32 hex) of an id this instance could have minted (its tag, a valid MAC, the
   * one canonical spelling), else null. The request path needs no call: it matches ids exactly
   * against those it minted. This is for ids seen without that record (tools, logs, a restarted
   * instance with the same configured key telling a forged id from an expired one).
   */
  key(id: string): string | null;
}

/** No `instance` configured: ids are the 32 hex characters alone, as before instances existed. */
export const PLAIN_SESSION_IDS: SessionIdScheme = {
  instance: null,
  mint: mintSessionId,
  key: (id) => (isWellFormedSessionId(id) ? id : null),
};

/**
 * Ids of the form `<instance>.<random>.<mac>`, mac = HMAC-SHA256(key, "<instance>.<random>")
 * truncated to 128 bits. A balancer routes on the part before the first dot without keeping
 * any state; the MAC binds the random part to this instance, so a client that edits the tag
 * gets an id no instance accepts. An id of another instance, or with a bad MAC, is answered
 * exactly like an unknown session.
 */
export function instanceSessionIds(instance: string, key: Buffer): SessionIdScheme {
  if (!INSTANCE_ID.test(instance)) throw new ProxyError(ErrorCode.Internal, `instance id must match ${INSTANCE_ID.source}`);
  if (key.length < 16) throw new ProxyError(ErrorCode.Internal, 'instance key must be at least 16 bytes');
  const prefix = `${instance}.`;
  // A KeyObject halves the cost of each HMAC against a raw Buffer key (measured: ~4 vs ~9 µs).
  const secret = createSecretKey(key);
  const macOf = (signed: string): Buffer => createHmac('sha256', secret).update(signed).digest().subarray(0, MAC_BYTES);
  const idLength = prefix.length + SESSION_ID_LENGTH + 1 + MAC_LENGTH;
  const macScratch = Buffer.alloc(MAC_BYTES);
  return {
    instance,
    mint(): string {
      const signed = prefix + mintSessionId();
      return `${signed}.${macOf(signed).toString('base64url')}`;
    },
    key(id: string): string | null {
      if (id.length !== idLength || !id.startsWith(prefix) || id.charCodeAt(idLength - MAC_LENGTH - 1) !== 46 /* . */) return null;
      const random = id.slice(prefix.length, prefix.length + SESSION_ID_LENGTH);
      if (!isWellFormedSessionId(random)) return null;
      const macText = id.slice(idLength - MAC_LENGTH);
      // Canonical base64url only: a decoder that ignores stray characters would let two spellings
      // of one MAC through, and one id must have exactly one spelling (it is also the map key).
      if (macScratch.write(macText, 'base64url') !== MAC_BYTES || macScratch.toString('base64url') !== macText) return null;
      return timingSafeEqual(macScratch, macOf(id.slice(0, idLength - MAC_LENGTH - 1))) ? random : null;
    },
  };
}

/**
 * The scheme for a configured instance (or plain ids without one). Without a configured key a
 * random one is made here, once per process: ids stay valid for this process's life, which is
 * as long as the sessions they name (sessions live in memory).
 */
export function sessionIdScheme(instance: { id: string; key: string | null } | null): SessionIdScheme {
  if (instance === null) return PLAIN_SESSION_IDS;
  return instanceSessionIds(instance.id, instance.key === null ? randomBytes(32) : Buffer.from(instance.key, 'utf8'));
}
