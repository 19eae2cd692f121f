/**
 * B1 bridge: which worker holds the bridged upstream session of (principal, destination), so one
 * principal's 2026 requests reach the same session-era upstream session. Bounded (LRU, MAX
 * entries), idle entries expire, and an entry whose worker is down is dropped on lookup.
 *
 * A live `subscriptions/listen` holds its entry (`hold`): it is not idle while the stream is open,
 * or the principal's next request after IDLE_MS of silence could land on another worker, in a
 * second bridged session whose notifications the open listen would never see.
 */
import type { Supervisor } from '../threads/supervisor.js';

const MAX = 8192;
const IDLE_MS = 300_000;

interface Entry {
  worker: number;
  last: number;
  /** Live listen streams pinned to this entry. */
  holds: number;
}

export class BridgeAffinity {
  private readonly map = new Map<string, Entry>();
  /** The worker for (principal, dest); -1 when no worker is up. */
  pick(supervisor: Supervisor, principal: string, dest: string, now = Date.now()): number {
    const key = `${dest}\u0000${principal}`;
    const e = this.map.get(key);
    this.map.delete(key);
    if (e && (e.holds > 0 || now - e.last <= IDLE_MS) && supervisor.isUp(e.worker)) {
      e.last = now;
      this.map.set(key, e);
      return e.worker;
    }
    const worker = supervisor.pickLeastInflight();
    if (worker < 0) return worker;
    while (this.map.size >= MAX) this.map.delete(this.map.keys().next().value as string);
    this.map.set(key, { worker, last: now, holds: 0 });
    return worker;
  }

  /** Pin (principal, dest) to its current worker until the returned function runs (once). */
  hold(principal: string, dest: string): () => void {
    const e = this.map.get(`${dest}\u0000${principal}`);
    if (!e) return () => {};
    e.holds++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      e.holds--;
      e.last = Date.now();
    };
  }
}
