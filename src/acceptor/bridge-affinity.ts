/**
 * B1 bridge: which worker holds the bridged upstream session of (principal, destination), so one
 * principal's 2026 requests reach the same session-era upstream session. Bounded (LRU, MAX
 * entries), idle entries expire, and an entry whose worker is down is dropped on lookup.
 */
import type { Supervisor } from '../threads/supervisor.js';

const MAX = 8192;
const IDLE_MS = 300_000;

export class BridgeAffinity {
  private readonly map = new Map<string, { worker: number; last: number }>();
  /** The worker for (principal, dest); -1 when no worker is up. */
  pick(supervisor: Supervisor, principal: string, dest: string, now = Date.now()): number {
    const key = `${dest}\u0000${principal}`;
    const e = this.map.get(key);
    this.map.delete(key);
    if (e && now - e.last <= IDLE_MS && supervisor.isUp(e.worker)) {
      e.last = now;
      this.map.set(key, e);
      return e.worker;
    }
    const worker = supervisor.pickLeastInflight();
    if (worker < 0) return worker;
    while (this.map.size >= MAX) this.map.delete(this.map.keys().next().value as string);
    this.map.set(key, { worker, last: now });
    return worker;
  }
}
