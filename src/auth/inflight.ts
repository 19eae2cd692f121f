/**
 * The per-session in-flight cap: one counter per session, kept on the session itself (no map to
 * mirror the session table). The acceptor acquires before forwarding a request to its worker and
 * releases when the request finishes (reply, error, timeout or abort); over the cap the request is
 * answered 429 for that session only, so one session can never use up a worker's shared budget
 * (`limits.max_inflight_per_worker`) and starve the others.
 */

export const INFLIGHT_RETRY_AFTER_S = 1;

export class InflightCounter {
  private n = 0;

  constructor(readonly cap: number) {}

  /** true = counted, the caller must `release()` exactly once; false = over the cap (429). */
  tryAcquire(): boolean {
    if (this.n >= this.cap) return false;
    this.n++;
    return true;
  }

  release(): void {
    if (this.n > 0) this.n--;
  }

  get inflight(): number {
    return this.n;
  }
}
