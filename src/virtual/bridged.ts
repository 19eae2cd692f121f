/**
 * B1 bridge for virtual servers: a VirtualSession seen as a bridged session
 * (upstream/bridge-sessions.ts BridgedSession), so a 2026-07-28 client reaches a virtual server
 * exactly as it reaches a session-era destination: one VirtualSession per principal × virtual
 * name, initialized by the proxy (its members get the proxy's initialize), `server/discover`
 * answered from the merged initialize result, ids rewritten and results patched by the bridge,
 * listens served from the session's server messages. The session's own output (`host.out`) is the
 * bridge's, not the worker's: nothing of it reaches a downstream session.
 */
import type { VirtualServer } from '../config/types.js';
import type { BridgedSession } from '../upstream/bridge-sessions.js';
import type { ReplySink } from '../upstream/types.js';
import { type VirtualHost, VirtualSession } from './session.js';

/** The worker's part of a VirtualHost; the bridge adds its own `out` and logger per session. */
export type VirtualBridgeHost = Pick<VirtualHost, 'registry' | 'config'>;

export class VirtualBridged implements BridgedSession {
  private readonly session: VirtualSession;

  constructor(sid: string, vs: VirtualServer, host: VirtualHost) {
    // A failed initialize rejects the bridge's handshake, which drops this entry itself.
    this.session = new VirtualSession(sid, vs, host, () => {});
  }

  get closed(): boolean {
    return this.session.ended;
  }

  /** Members connect on the initialize request itself. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  request(frame: string, _init: boolean, sink: ReplySink): void {
    this.session.request(frame, sink);
  }

  oneWay(frame: string, sink: ReplySink): void {
    this.session.oneWay(frame, sink);
  }

  openServerStream(): void {
    this.session.openServerStream();
  }

  serverCredit(bytes: number): void {
    this.session.serverCredit(bytes);
  }

  /** The members are registry entries: the registry's sweep enforces their deadlines. */
  sweep(_now: number): void {}

  close(): Promise<void> {
    return this.session.end();
  }
}
