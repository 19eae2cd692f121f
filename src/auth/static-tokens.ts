/**
 * Static bearer tokens (auth.clients). Both sides are hashed to 32 bytes so `timingSafeEqual` sees
 * equal lengths (it throws otherwise, and a length check would leak the token's length), and every
 * client is compared on every lookup, with no early exit, so the time taken does not tell which
 * client (or how many) came before the match.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { StaticClient } from '../config/types.js';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class StaticTokens {
  private readonly digests: Buffer[];
  private readonly clients: StaticClient[];

  constructor(clients: Iterable<StaticClient>) {
    this.clients = [...clients];
    this.digests = this.clients.map((c) => digest(c.token));
  }

  get size(): number {
    return this.clients.length;
  }

  /** The client whose token this is, or null. Time depends only on the number of clients. */
  find(token: string): StaticClient | null {
    const d = digest(token);
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) {
      // Bitwise, not a branch on the secret: keep the first match, visit every entry regardless.
      const eq = timingSafeEqual(d, this.digests[i]!) ? 1 : 0;
      found = found === -1 && eq === 1 ? i : found;
    }
    return found === -1 ? null : this.clients[found]!;
  }
}
