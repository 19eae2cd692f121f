/**
 * The worker's upstream sessions, keyed by (downstream session id, destination). One key never
 * gets two upstream sessions: the entry is stored before connecting, so concurrent first frames
 * wait on the same `open()`.
 */
import type { Logger } from 'pino';
import type { Destination } from '../config/types.js';
import { sessionTag } from '../observability/session-tag.js';
import { type SessionOutput, UpstreamSession } from './upstream-session.js';

const SWEEP_MS = 500;

function keyOf(sid: string, dest: string): string {
  return `${dest}\u0000${sid}`;
}

export class Registry {
  private readonly sessions = new Map<string, UpstreamSession>();
  private readonly out: SessionOutput;
  private readonly log: Logger;
  private readonly sweeper: NodeJS.Timeout;

  constructor(out: SessionOutput, log: Logger) {
    this.out = out;
    this.log = log;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  get(sid: string, dest: string): UpstreamSession | undefined {
    const s = this.sessions.get(keyOf(sid, dest));
    return s && !s.closed ? s : undefined;
  }

  /**
   * The session for (sid, dest), created on first use. A second `initialize` for a key that
   * already has a live session replaces it: the client started over, the old state must go.
   */
  create(sid: string, dest: Destination, out: SessionOutput = this.out): UpstreamSession {
    const key = keyOf(sid, dest.name);
    const old = this.sessions.get(key);
    if (old) void old.close();
    // `out`: a virtual server's member session reports to its aggregator (src/virtual/), not the acceptor.
    const s = new UpstreamSession(sid, dest, out, this.log.child({ session: sessionTag(sid), dest: dest.name }));
    this.sessions.set(key, s);
    return s;
  }

  /** Forget a session that ended on its own (already closed). */
  forget(sid: string, dest: string, s: UpstreamSession): void {
    const key = keyOf(sid, dest);
    if (this.sessions.get(key) === s) this.sessions.delete(key);
  }

  async evictSession(sid: string, dest: string): Promise<void> {
    const key = keyOf(sid, dest);
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    await s.close();
  }

  async evictDestination(dest: string): Promise<number> {
    const victims: UpstreamSession[] = [];
    for (const [key, s] of this.sessions) {
      if (s.dest.name === dest) {
        this.sessions.delete(key);
        victims.push(s);
      }
    }
    await Promise.all(victims.map((s) => s.close()));
    return victims.length;
  }

  /** Close everything, bounded: a hung upstream cannot hold shutdown past `timeoutMs`. */
  async closeAll(timeoutMs: number): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled(all.map((s) => s.close())), deadline]);
    clearTimeout(timer);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, s] of this.sessions) {
      // Sessions that ended on their own (child gave up, upstream lost it) are dropped here.
      if (s.closed) this.sessions.delete(key);
      else s.sweep(now);
    }
  }
}
