/**
 * requests_per_minute per client: a token bucket holding at most one minute's worth of requests,
 * refilled continuously at rpm/60 per second. Keyed by client name (`anon:<address>` for anonymous
 * clients), so the map is bounded: past `maxKeys` the least recently used bucket is dropped. A
 * dropped bucket comes back full, which only ever favours the dropped client, and the oldest bucket
 * is the one most likely to have refilled anyway.
 */

interface Bucket {
  tokens: number;
  /** ms timestamp of the last refill. */
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** 0 = allowed (one token taken); otherwise the whole seconds to wait (Retry-After). */
  take(key: string, perMinute: number): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: perMinute, at: now };
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next();
        if (oldest.done !== true) this.buckets.delete(oldest.value);
      }
    } else {
      // Re-insert: Map order is the LRU order.
      this.buckets.delete(key);
      const rate = perMinute / 60_000;
      b.tokens = Math.min(perMinute, b.tokens + Math.max(0, now - b.at) * rate);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - b.tokens) * 60) / perMinute));
  }

  get size(): number {
    return this.buckets.size;
  }
}
