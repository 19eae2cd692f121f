/**
 * B1 MRTR (docs/mcp-2026-07-28.md 1.5): the upstream server requests a worker parked while their
 * 2026 client was told `input_required`. One entry per round, keyed by a worker-minted key that
 * the requestState token names (`parked` claim). An entry is single use (`take` removes it, so a
 * replayed token finds nothing) and lives at most as long as its token: at the TTL the owner's
 * `expire` runs (it answers the parked upstream requests with an error and drops the call).
 *
 * Bounded: at most `cap` entries per worker and `perSession` per bridged session; `park` answers
 * undefined beyond either and the caller refuses the upstream request instead of parking it. One timer per entry (unref'd), so an expired
 * entry is freed even if no retry ever comes.
 */
import type { ServerRequest } from '../era/mrtr-bridge.js';

export const MAX_PARKED = 256;
/** At most this many per bridged session (one principal x destination): one client cannot take them all. */
export const MAX_PARKED_PER_SESSION = 64;

export interface Parked<C> {
  readonly key: string;
  /** The bridged session's key (destination x principal): the token's `session` claim must match. */
  readonly session: string;
  readonly principal: string;
  readonly call: C;
  /** The upstream requests of this round, in arrival order. */
  readonly requests: readonly ServerRequest[];
  readonly expiresAt: number;
}

interface Entry<C> extends Parked<C> {
  timer: NodeJS.Timeout;
}

let seq = 0;

export class ParkTable<C> {
  private readonly map = new Map<string, Entry<C>>();
  /** Entries per session (no key for a session with none). */
  private readonly perSessionCount = new Map<string, number>();

  /** `expire` runs once for an entry whose TTL passed before anyone took it. */
  constructor(
    private readonly expire: (p: Parked<C>) => void,
    private readonly cap = MAX_PARKED,
    private readonly now: () => number = Date.now,
    private readonly perSession = MAX_PARKED_PER_SESSION,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** Park one round; undefined when the table is full (the caller refuses upstream). */
  park(session: string, principal: string, call: C, requests: readonly ServerRequest[], ttlMs: number): Parked<C> | undefined {
    if (this.map.size >= this.cap) return undefined;
    const n = this.perSessionCount.get(session) ?? 0;
    if (n >= this.perSession) return undefined;
    this.perSessionCount.set(session, n + 1);
    const key = `p${(++seq).toString(36)}`;
    const timer = setTimeout(() => this.expireKey(key), ttlMs);
    timer.unref();
    const e: Entry<C> = { key, session, principal, call, requests, expiresAt: this.now() + ttlMs, timer };
    this.map.set(key, e);
    return e;
  }

  /**
   * The entry for `key`, removed (single use). Undefined when unknown, already taken, or past its
   * expiry (its timer may not have fired yet on a busy loop: then it expires here).
   */
  take(key: string): Parked<C> | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.remove(e);
    if (this.now() >= e.expiresAt) {
      this.expire(e);
      return undefined;
    }
    return e;
  }

  /** Expire every entry whose call matches (its upstream session ended). */
  dropWhere(match: (call: C) => boolean): void {
    for (const e of [...this.map.values()]) if (match(e.call)) this.expireKey(e.key);
  }

  /** Expire everything (worker shutting down). */
  clear(): void {
    for (const key of [...this.map.keys()]) this.expireKey(key);
  }

  private expireKey(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.remove(e);
    this.expire(e);
  }

  private remove(e: Entry<C>): void {
    this.map.delete(e.key);
    clearTimeout(e.timer);
    const n = (this.perSessionCount.get(e.session) ?? 1) - 1;
    if (n <= 0) this.perSessionCount.delete(e.session);
    else this.perSessionCount.set(e.session, n);
  }
}
