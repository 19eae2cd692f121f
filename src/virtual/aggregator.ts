/**
 * The worker's virtual-server sessions by downstream session id: the worker hands every frame,
 * stream-open, credit and end for a virtual NAME here instead of to a single UpstreamSession.
 * Bounded by the acceptor's session table (one entry per live downstream session of this worker).
 */
import { ErrorCode, ProxyError } from '../errors.js';
import { FrameKind, type FrameMsg } from '../threads/messages.js';
import type { VirtualServer } from '../config/types.js';
import { type TimedSink, type VirtualHost, VirtualSession } from './session.js';

export class Aggregator {
  private readonly sessions = new Map<string, VirtualSession>();
  private readonly host: VirtualHost;

  constructor(host: VirtualHost) {
    this.host = host;
  }

  frame(m: FrameMsg, vs: VirtualServer, sink: TimedSink): void {
    if (m.init) {
      // A second initialize on a session starts it over, as Registry.create does for destinations.
      const old = this.sessions.get(m.sid);
      if (old) void old.end();
      const s: VirtualSession = new VirtualSession(m.sid, vs, this.host, () => {
        if (this.sessions.get(m.sid) === s) this.sessions.delete(m.sid);
      });
      this.sessions.set(m.sid, s);
      return s.request(m.body, sink);
    }
    const s = this.sessions.get(m.sid);
    if (!s || s.ended) return sink.fail(new ProxyError(ErrorCode.UnknownSession, 'no upstream session: initialize first'));
    if (m.kind === FrameKind.Request) s.request(m.body, sink);
    else s.oneWay(m.body, sink);
  }

  has(sid: string): boolean {
    return this.sessions.has(sid);
  }

  openServerStream(sid: string): void {
    this.sessions.get(sid)?.openServerStream();
  }

  serverCredit(sid: string, bytes: number): void {
    this.sessions.get(sid)?.serverCredit(bytes);
  }

  async end(sid: string): Promise<void> {
    const s = this.sessions.get(sid);
    if (!s) return;
    this.sessions.delete(sid);
    await s.end();
  }

  /** A virtual server removed or changed by a reload: its sessions end (the acceptor ends the downstream side). */
  async evictVirtual(name: string): Promise<number> {
    const victims = [...this.sessions.values()].filter((s) => s.vs.name === name);
    await Promise.all(victims.map((s) => this.end(s.sid)));
    return victims.length;
  }

  /** Shutdown: forget every session; the registry closes their member sessions. */
  clear(): void {
    for (const s of this.sessions.values()) s.ended = true;
    this.sessions.clear();
  }
}
