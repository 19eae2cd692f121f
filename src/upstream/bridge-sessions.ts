/**
 * B1 bridge, worker side (docs/mcp-2026-07-28.md section 4): a 2026-07-28 client talking to a
 * session-era upstream or a virtual server (its session behind BridgedSession: virtual/bridged.ts).
 * One UpstreamSession per (principal, destination), opened with the proxy's
 * own `initialize`; `server/discover` is answered from its result, every other request is
 * forwarded under a proxy-unique id (one principal's concurrent calls share the session and their
 * ids may collide), the reply gets the client's id back and is patched for 2026
 * (patchLegacyResponse). Ids are rewritten on the bytes (replaceId): no parse/stringify of bodies.
 * `subscriptions/listen` is served here, not forwarded (bridge-listen.ts): the session's server
 * notifications (its `push`) are fanned out to the principal's listen streams.
 *
 * Bounded: at most MAX_BRIDGED sessions per worker (least recently used closed first), each closed
 * after BRIDGE_IDLE_MS without a request (a live listen stream counts as use), all of a destination
 * closed on reload.
 */
import type { Logger } from 'pino';
import type { Destination, VirtualServer } from '../config/types.js';
import { ErrorCode, ProxyError, asProxyError } from '../errors.js';
import { discoverFromInitialize } from '../era/discover-bridge.js';
import { patchLegacyResponse } from '../era/legacy-response.js';
import { MsgKind, memberSpans, parseEnvelope, replaceId } from './jsonrpc-envelope.js';
import { type ListenUpstream, Listeners } from './bridge-listen.js';
import type { ReplySink } from './types.js';
import { type SessionOutput, UpstreamSession } from './upstream-session.js';
import { VirtualBridged, type VirtualBridgeHost } from '../virtual/bridged.js';

export const MAX_BRIDGED = 1024;
export const BRIDGE_IDLE_MS = 300_000;
const SWEEP_MS = 5_000;
const INIT_VERSION = '2025-11-25';

/**
 * What the bridge needs of a bridged session. An UpstreamSession (session-era destination) is one
 * as it is; a virtual server's VirtualSession through VirtualBridged (src/virtual/bridged.ts).
 */
export interface BridgedSession extends ListenUpstream {
  readonly closed: boolean;
  open(): Promise<void>;
  oneWay(frame: string, sink: ReplySink): void;
  serverCredit(bytes: number): void;
  /** Request deadlines (the bridge's sweep; a virtual session's members are swept by the registry). */
  sweep(now: number): void;
  close(): Promise<void>;
}

interface Bridged {
  key: string;
  /** Destination or virtual server name (reload eviction). */
  name: string;
  /** The config object it was opened for: after a reload replaced it, a new session is opened. */
  conf: object;
  session: BridgedSession;
  /** The upstream's initialize result (parsed: a small object), once the handshake is done. */
  ready: Promise<unknown>;
  last: number;
  /** subscriptions/listen streams on this session (bridge-listen.ts). */
  listen: Listeners;
}

let seq = 0;
const nextId = (): string => `"mpb-${(++seq).toString(36)}"`;

/** Collects one reply (JSON body or the response event of a stream) for the proxy's own initialize. */
function captureSink(done: (frame: string | undefined, err?: ProxyError) => void): ReplySink {
  let fired = false;
  const fire = (f: string | undefined, e?: ProxyError): void => {
    if (!fired) {
      fired = true;
      done(f, e);
    }
  };
  return {
    closed: false,
    json: (b) => fire(b),
    startStream: () => {},
    event: (j) => {
      if (parseEnvelope(j).kind === MsgKind.Response) fire(j);
      return true;
    },
    onResume: () => {},
    end: () => fire(undefined, new ProxyError(ErrorCode.UpstreamClosed, 'upstream ended the initialize stream without a response')),
    accepted: () => {},
    fail: (e) => fire(undefined, e),
  };
}

/** Notification sink: nothing comes back. */
const quiet = (): ReplySink => captureSink(() => {});

export class BridgeSessions {
  private readonly map = new Map<string, Bridged>();
  private readonly sweeper: NodeJS.Timeout;

  /** `virtual`: what bridged virtual-server sessions need (the worker's registry and config). */
  constructor(private readonly log: Logger, private readonly virtual?: VirtualBridgeHost) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.sweeper.unref();
  }

  get size(): number {
    return this.map.size;
  }

  /** Serve one 2026 request `body` (already validated by the acceptor) for `principal`. */
  request(dest: Destination, principal: string, body: string, sink: ReplySink): void {
    this.serve(() => this.entry(dest.name, dest, principal, (sid, out) => new UpstreamSession(sid, dest, out, this.log.child({ bridge: true, dest: dest.name }))), body, sink);
  }

  /** The same for a virtual server: one bridged VirtualSession per principal × virtual name. */
  requestVirtual(vs: VirtualServer, principal: string, body: string, sink: ReplySink): void {
    const host = this.virtual;
    if (!host) return sink.fail(new ProxyError(ErrorCode.UnknownDestination, `virtual server ${vs.name} is not bridged here`));
    this.serve(() => this.entry(vs.name, vs, principal, (sid, out) => new VirtualBridged(sid, vs, { ...host, out, log: this.log.child({ bridge: true, virtual: vs.name }) })), body, sink);
  }

  private serve(open: () => Bridged, body: string, sink: ReplySink): void {
    const env = parseEnvelope(body);
    const spans = memberSpans(body, 'id');
    const span = spans?.[0];
    if (env.kind !== MsgKind.Request || env.method === undefined || span === undefined) {
      return sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'bridge: not a request'));
    }
    const method = env.method;
    const clientId = body.slice(span[0], span[1]);
    const b = open();
    b.ready.then((init) => {
      if (sink.closed) return;
      if (method === 'server/discover') {
        const d = discoverFromInitialize(init);
        if (!d.ok) return sink.fail(new ProxyError(ErrorCode.UpstreamProtocol, d.problem));
        // A small object built from the upstream's initialize result: stringify is bounded.
        return sink.json(`{"jsonrpc":"2.0","id":${clientId},"result":${JSON.stringify(d.result)}}`);
      }
      // The upstream has no such method: the bridge serves it from the session's notifications.
      if (method === 'subscriptions/listen') return b.listen.listen(init, clientId, body, sink);
      const upId = nextId();
      const frame = replaceId(body, upId);
      if (frame === undefined) return sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'bridge: request has no id'));
      b.last = Date.now();
      b.session.request(frame, false, new PatchSink(sink, clientId, method, b.session), '');
    }, (err: unknown) => sink.fail(asProxyError(err, ErrorCode.UpstreamConnect)));
  }

  async evictDestination(dest: string): Promise<number> {
    const victims = [...this.map.values()].filter((b) => b.name === dest);
    for (const b of victims) {
      this.map.delete(b.key);
      b.listen.closeAll();
    }
    await Promise.allSettled(victims.map((b) => b.session.close()));
    return victims.length;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.map.values()];
    this.map.clear();
    for (const b of all) b.listen.closeAll();
    await Promise.allSettled(all.map((b) => b.session.close()));
  }

  private entry(name: string, conf: object, principal: string, create: (sid: string, out: SessionOutput) => BridgedSession): Bridged {
    const key = `${name}\u0000${principal}`;
    const old = this.map.get(key);
    if (old && !old.session.closed && old.conf === conf) {
      // LRU order: re-insert on use.
      this.map.delete(key);
      this.map.set(key, old);
      old.last = Date.now();
      return old;
    }
    if (old) this.drop(old);
    while (this.map.size >= MAX_BRIDGED) {
      const first = this.map.values().next().value as Bridged;
      this.drop(first);
    }
    // Unique per bridged session: a virtual session's members are registry entries under (sid, member).
    const sid = `b:${name}/${principal}`;
    const out: SessionOutput = {
      // Server messages outside a call's stream (stdio, legacy SSE, the HTTP GET stream):
      // notifications go to the session's listen streams (or are dropped), requests are refused.
      push: (_sid, json) => {
        const env = parseEnvelope(json, false);
        if (env.kind === MsgKind.Notification) b.listen.notify(json, env.method ?? '');
        else refuseServerRequest(session, json);
        // Handled (queued per listener within its bound, or dropped): the push gate's credit
        // comes back, or the session's server stream would pause after CREDIT_WINDOW.
        session.serverCredit(json.length);
      },
      // The upstream died: the next request opens a new session; its listens fail.
      gone: (_sid, err) => {
        if (this.map.get(key) === b) this.map.delete(key);
        b.listen.failAll(err);
      },
      childUp: () => {},
      childDown: () => {},
    };
    const session = create(sid, out);
    const b: Bridged = { key, name, conf, session, ready: this.handshake(session), last: Date.now(), listen: new Listeners(session, this.log) };
    b.ready.catch(() => this.drop(b));
    this.map.set(key, b);
    return b;
  }

  private handshake(session: BridgedSession): Promise<unknown> {
    return session.open().then(() => new Promise<unknown>((resolve, reject) => {
      const init = `{"jsonrpc":"2.0","id":${nextId()},"method":"initialize","params":{"protocolVersion":"${INIT_VERSION}","capabilities":{},"clientInfo":{"name":"mithril-proxy-bridge","version":"1"}}}`;
      session.request(init, true, captureSink((frame, err) => {
        if (frame === undefined) return reject(err ?? new ProxyError(ErrorCode.UpstreamProtocol, 'no initialize result'));
        let parsed: { result?: unknown; error?: { message?: string } };
        try {
          // The upstream's initialize reply: one small frame per bridged session, not the hot path.
          parsed = JSON.parse(frame) as typeof parsed;
        } catch (e) {
          return reject(new ProxyError(ErrorCode.UpstreamProtocol, 'initialize reply is not JSON', { cause: e }));
        }
        if (parsed.result === undefined) return reject(new ProxyError(ErrorCode.UpstreamProtocol, `upstream refused initialize: ${parsed.error?.message ?? 'no result'}`));
        session.oneWay('{"jsonrpc":"2.0","method":"notifications/initialized"}', quiet());
        resolve(parsed.result);
      }));
    }));
  }

  private drop(b: Bridged): void {
    if (this.map.get(b.key) === b) this.map.delete(b.key);
    b.listen.closeAll();
    void b.session.close();
  }

  private sweep(now: number): void {
    for (const b of [...this.map.values()]) {
      // A live listen stream is use: its session is not idle.
      if (b.session.closed || (now - b.last > BRIDGE_IDLE_MS && !b.listen.active)) this.drop(b);
      else b.session.sweep(now);
    }
  }
}

/**
 * Server-initiated requests (sampling, elicitation, roots) during a bridged call are refused
 * upstream with -32601 so the upstream does not hang. NEXT SLICE: park them as MRTR
 * input_required results (src/era/mrtr-bridge.ts) instead.
 */
function refuseServerRequest(session: BridgedSession, json: string): void {
  const env = parseEnvelope(json);
  if (env.kind !== MsgKind.Request) return;
  const id = memberSpans(json, 'id')?.[0];
  if (id === undefined) return;
  const reply = `{"jsonrpc":"2.0","id":${json.slice(id[0], id[1])},"error":{"code":-32601,"message":"the 2026-07-28 client behind the proxy bridge cannot answer server requests yet"}}`;
  session.oneWay(reply, quiet());
}

/** Restores the client's id on the response and patches it for 2026; notifications pass. */
class PatchSink implements ReplySink {
  constructor(private readonly down: ReplySink, private readonly clientId: string, private readonly method: string, private readonly session: BridgedSession) {}
  get closed(): boolean {
    return this.down.closed;
  }
  private fix(frame: string): { frame: string; status: number } {
    const restored = replaceId(frame, this.clientId) ?? frame;
    return patchLegacyResponse(restored, this.method);
  }
  json(body: string): void {
    const p = this.fix(body);
    if (p.status !== 200 && this.down.errorBody) return this.down.errorBody(p.status, p.frame);
    this.down.json(p.frame);
  }
  startStream(): void {
    this.down.startStream();
  }
  event(json: string, id?: string): boolean {
    const env = parseEnvelope(json);
    if (env.kind === MsgKind.Request) {
      refuseServerRequest(this.session, json);
      return true;
    }
    if (env.kind === MsgKind.Response) return this.down.event(this.fix(json).frame, id);
    return this.down.event(json, id);
  }
  onResume(fn: () => void): void {
    this.down.onResume(fn);
  }
  end(): void {
    this.down.end();
  }
  accepted(): void {
    this.down.accepted();
  }
  errorBody(status: number, body: string): void {
    const p = this.fix(body);
    if (this.down.errorBody) this.down.errorBody(p.status !== 200 ? p.status : status, p.frame);
    else this.down.fail(new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`));
  }
  fail(err: ProxyError): void {
    this.down.fail(err);
  }
  onClose(fn: () => void): void {
    this.down.onClose?.(fn);
  }
}
