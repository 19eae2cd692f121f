/**
 * Downstream session ids: 128 bits from the CSPRNG as 32 lowercase hex characters (visible ASCII,
 * safe in a header and a query string). The session table keys on the same 128 bits as 4 words.
 */
import { randomFillSync } from 'node:crypto';

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
