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
 * after BRIDGE_IDLE_MS without a request (a live listen stream or a call in flight counts as use),
 * all of a destination closed on reload.
 *
 * MRTR (docs/mcp-2026-07-28.md 1.5): a server request from the upstream during a tools/call,
 * prompts/get or resources/read is parked (bridge-call.ts, bridge-park.ts) and the client is
 * answered `input_required`; its retry comes back through `resume`. An HTTP upstream's server
 * request arrives on the call's own reply stream; a stdio (or legacy SSE) upstream's arrives on
 * the session's one channel with nothing tying it to a call, so it is given to the oldest live
 * (not parked) call in flight on that bridged session (a limit: concurrent calls of one principal
 * that both ask for input over stdio may get each other's questions). A virtual server's bridged
 * session parks the same way: its members' server requests reach the call through the virtual
 * session (ids rewritten per member), and the retry names the virtual server.
 */
import type { Logger } from 'pino';
import type { Destination, VirtualServer } from '../config/types.js';
import { ErrorCode, ProxyError, asProxyError } from '../errors.js';
import { discoverFromInitialize } from '../era/discover-bridge.js';
import { patchLegacyResponse } from '../era/legacy-response.js';
import { MRTR_METHODS, inputResponsesOf } from '../era/mrtr-spans.js';
import { responsesFromInput } from '../era/mrtr-bridge.js';
import type { RequestStateSigner } from '../era/request-state.js';
import { BridgedCall, type CallHost, refusal, routeSessionNotification } from './bridge-call.js';
import { logAllowed, requestLogRank } from '../era/bridge-notify.js';
import { type Parked, ParkTable } from './bridge-park.js';
import { MsgKind, memberSpans, parseEnvelope, replaceId } from './jsonrpc-envelope.js';
import { ToolListTap, type ToolSpecs, asksLaterPage } from './tool-list-tap.js';
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
  principal: string;
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
  /** MRTR-capable calls in flight (insertion order = age); bounded by the session's own in-flight calls. */
  calls: Set<BridgedCall>;
  host: CallHost;
}

/** What a worker needs to park calls: the shared signer (key from the acceptor) and the token TTL. */
export interface MrtrOptions {
  signer: RequestStateSigner;
  worker: number;
  ttlMs: () => number;
}

/** An MRTR retry as the acceptor verified it (ToWorker.Resume). */
export interface ResumeRequest {
  session: string;
  parked: string;
  principal: string;
  body: string;
}

let seq = 0;
/** A bridged session's key: destination x principal (also the requestState `session` claim). */
const keyOf = (dest: string, principal: string): string => `${dest}\u0000${principal}`;
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
  /** Parked MRTR rounds of this worker (bounded: MAX_PARKED). */
  private readonly parked = new ParkTable<{ call: BridgedCall; b: Bridged }>((p) => this.expired(p));

  /**
   * `mrtr`: parking server requests as input_required (without it they are refused upstream);
   * `virtual`: what bridged virtual-server sessions need (the worker's registry and config);
   * `onToolHeaders`: what a bridged tools/list result declared (x-mcp-header), so the acceptor
   * checks Mcp-Param-* of bridged calls as it does for the pass-through (tool-header-cache.ts).
   */
  constructor(
    private readonly log: Logger, private readonly mrtr?: MrtrOptions, private readonly virtual?: VirtualBridgeHost,
    private readonly onToolHeaders?: (dest: Destination, tools: ToolSpecs, append: boolean) => void,
  ) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.sweeper.unref();
  }

  get parkedCount(): number {
    return this.parked.size;
  }

  get size(): number {
    return this.map.size;
  }

  /** Serve one 2026 request `body` (already validated by the acceptor) for `principal`. */
  request(dest: Destination, principal: string, body: string, sink: ReplySink): void {
    const learn = this.onToolHeaders;
    this.serve(() => this.entry(dest.name, dest, principal, (sid, out) => new UpstreamSession(sid, dest, out, this.log.child({ bridge: true, dest: dest.name }))), body, sink,
      learn && ((tools, append) => learn(dest, tools, append)));
  }

  /** The same for a virtual server: one bridged VirtualSession per principal × virtual name. */
  requestVirtual(vs: VirtualServer, principal: string, body: string, sink: ReplySink): void {
    const host = this.virtual;
    if (!host) return sink.fail(new ProxyError(ErrorCode.UnknownDestination, `virtual server ${vs.name} is not bridged here`));
    this.serve(() => this.entry(vs.name, vs, principal, (sid, out) => new VirtualBridged(sid, vs, { ...host, out, log: this.log.child({ bridge: true, virtual: vs.name }) })), body, sink);
  }

  /** `learn`: where a tools/list result's x-mcp-header specs go (destinations only). */
  private serve(open: () => Bridged, body: string, sink: ReplySink, learn?: (tools: ToolSpecs, append: boolean) => void): void {
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
      if (this.mrtr && MRTR_METHODS.has(method)) {
        const call = new BridgedCall(sink, clientId, method, body, b.host);
        b.calls.add(call);
        return b.session.request(frame, false, call, '');
      }
      const down = method === 'tools/list' && learn ? new ToolListTap(sink, (tools) => learn(tools, asksLaterPage(body))) : sink;
      b.session.request(frame, false, new PatchSink(down, clientId, method, b.session, requestLogRank(body)), '');
    }, (err: unknown) => sink.fail(asProxyError(err, ErrorCode.UpstreamConnect)));
  }

  /**
   * An MRTR retry the acceptor verified: answer the parked upstream request(s) with the retry's
   * inputResponses and attach the retry's reply to the call. The parked round is single use.
   */
  resume(name: string, principal: string, r: ResumeRequest, sink: ReplySink): void {
    const env = parseEnvelope(r.body);
    const span = memberSpans(r.body, 'id')?.[0];
    if (env.kind !== MsgKind.Request || span === undefined) return sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'bridge: not a request'));
    const p = this.parked.take(r.parked);
    if (!p || p.session !== r.session || p.session !== keyOf(name, principal) || p.principal !== principal || p.call.b.session.closed) {
      if (p) this.expired(p);
      return sink.fail(new ProxyError(ErrorCode.RequestStateInvalid, 'requestState was already answered or has expired: send the original request again'));
    }
    const { call, b } = p.call;
    b.last = Date.now();
    const answers = responsesFromInput(inputResponsesOf(r.body), p.requests.map((q) => q.id));
    for (const a of answers.bodies) b.host.answer(a.body);
    const missing = new Set(answers.missing.map((id) => `${typeof id}:${id}`));
    call.attach(sink, r.body.slice(span[0], span[1]), r.body, p.requests.filter((q) => missing.has(`${typeof q.id}:${q.id}`)));
  }

  async evictDestination(dest: string): Promise<number> {
    const victims = [...this.map.values()].filter((b) => b.name === dest);
    for (const b of victims) {
      this.map.delete(b.key);
      this.parked.dropWhere((c) => c.b === b);
      b.listen.closeAll();
    }
    await Promise.allSettled(victims.map((b) => b.session.close()));
    return victims.length;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    this.parked.clear();
    const all = [...this.map.values()];
    this.map.clear();
    for (const b of all) b.listen.closeAll();
    await Promise.allSettled(all.map((b) => b.session.close()));
  }

  private entry(name: string, conf: object, principal: string, create: (sid: string, out: SessionOutput) => BridgedSession): Bridged {
    const key = keyOf(name, principal);
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
      // notifications go to the session's listen streams (or are dropped), requests to the oldest
      // MRTR call (or are refused).
      push: (_sid, json) => {
        const env = parseEnvelope(json, false);
        // In-call progress / log messages of a stdio upstream go to the call they belong to
        // (bridge-call.ts routeSessionNotification); the rest to the listens.
        if (env.kind === MsgKind.Notification) {
          if (!routeSessionNotification(b.calls, json, env.method)) b.listen.notify(json, env.method ?? '');
        }
        else if (env.kind === MsgKind.Request) this.serverRequest(b, json);
        // Handled (queued per listener within its bound, parked, refused or dropped): the push
        // gate's credit comes back, or the session's server stream would pause after CREDIT_WINDOW.
        session.serverCredit(json.length);
      },
      // The upstream died: the next request opens a new session; its parked rounds go, its listens fail.
      gone: (_sid, err) => {
        if (this.map.get(key) === b) this.map.delete(key);
        this.parked.dropWhere((c) => c.b === b);
        b.listen.failAll(err);
      },
      childUp: () => {},
      childDown: () => {},
    };
    const session = create(sid, out);
    const b: Bridged = {
      key, principal, name, conf, session, ready: this.handshake(session), last: Date.now(),
      listen: new Listeners(session, this.log), calls: new Set(), host: undefined as unknown as CallHost,
    };
    b.host = this.hostFor(b);
    b.ready.catch(() => this.drop(b));
    this.map.set(key, b);
    return b;
  }

  private handshake(session: BridgedSession): Promise<unknown> {
    return session.open().then(() => new Promise<unknown>((resolve, reject) => {
      // With MRTR the bridge can put elicitation, sampling and roots to its 2026 clients (each
      // request is then checked against the asking client's own declared capabilities), so it
      // declares them: SDK servers do not send what the client did not declare.
      const caps = this.mrtr ? '{"elicitation":{"form":{},"url":{}},"sampling":{},"roots":{}}' : '{}';
      const init = `{"jsonrpc":"2.0","id":${nextId()},"method":"initialize","params":{"protocolVersion":"${INIT_VERSION}","capabilities":${caps},"clientInfo":{"name":"mithril-proxy-bridge","version":"1"}}}`;
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

  /**
   * A server request outside any reply stream (stdio, legacy SSE): the oldest MRTR call in flight
   * that is still running takes it. A parked call's upstream is waiting for our answer, so the
   * request is far more likely another call's; and a round its client abandoned stays parked
   * until the token's TTL, which would otherwise swallow every later call's questions (the
   * conformance suite's MRTR scenarios hung one after another over stdio). Only when every call
   * is parked does the oldest parked one take it (a tool may ask twice at once).
   */
  private serverRequest(b: Bridged, json: string): void {
    const env = parseEnvelope(json);
    if (env.kind !== MsgKind.Request) return;
    // Its credit is given back by `push` (every pushed message is, once).
    let parked: BridgedCall | undefined;
    for (const call of b.calls) {
      if (call.closed) continue;
      if (!call.isParked) return call.serverRequest(json, true);
      parked ??= call;
    }
    if (parked) return parked.serverRequest(json, true);
    refuseServerRequest(b.session, json);
  }

  private hostFor(b: Bridged): CallHost {
    const mrtr = this.mrtr;
    return {
      park: (call, requests) => {
        if (!mrtr) return undefined;
        const ttl = mrtr.ttlMs();
        const p = this.parked.park(b.key, b.principal, { call, b }, requests, ttl);
        if (!p) return undefined;
        return mrtr.signer.mint({ worker: mrtr.worker, session: b.key, parked: p.key, principal: p.principal, method: call.method, target: call.target }, ttl);
      },
      answer: (body) => b.session.oneWay(body, quiet()),
      finished: (call) => {
        b.calls.delete(call);
      },
    };
  }

  /** A parked round nobody took in time (or that could not be resumed): refuse its requests upstream, end the call. */
  private expired(p: Parked<{ call: BridgedCall; b: Bridged }>): void {
    const { call, b } = p.call;
    if (!b.session.closed) for (const r of p.requests) b.host.answer(refusal(r.id, 'the client did not answer in time'));
    call.expire();
  }

  private drop(b: Bridged): void {
    if (this.map.get(b.key) === b) this.map.delete(b.key);
    this.parked.dropWhere((c) => c.b === b);
    b.listen.closeAll();
    void b.session.close();
  }

  private sweep(now: number): void {
    for (const b of [...this.map.values()]) {
      // A session with calls in flight (parked ones included: request_state_ttl_ms may exceed
      // the idle time) or a live listen stream is not idle; the calls' own deadlines, the park
      // TTL and the listen's client bound it.
      if (b.session.closed || (now - b.last > BRIDGE_IDLE_MS && b.calls.size === 0 && !b.listen.active)) this.drop(b);
      else b.session.sweep(now);
    }
  }
}

/**
 * Server-initiated requests that no MRTR call can take (during a method that cannot answer
 * input_required, or with no call in flight) are refused upstream with -32601 so the upstream
 * does not hang.
 */
function refuseServerRequest(session: BridgedSession, json: string): void {
  const env = parseEnvelope(json);
  if (env.kind !== MsgKind.Request) return;
  const id = memberSpans(json, 'id')?.[0];
  if (id === undefined) return;
  const reply = `{"jsonrpc":"2.0","id":${json.slice(id[0], id[1])},"error":{"code":-32601,"message":"the 2026-07-28 client behind the proxy bridge cannot answer server requests yet"}}`;
  session.oneWay(reply, quiet());
}

/**
 * Restores the client's id on the response and patches it for 2026; notifications pass (log
 * messages only at the request's logLevel). The downstream stream starts at the first message
 * forwarded, so a reply whose first message is the response is answered as JSON with its patched
 * status (an upstream's SSE -32601 becomes the 2026 404).
 */
class PatchSink implements ReplySink {
  private started = false;
  private answered = false;
  constructor(private readonly down: ReplySink, private readonly clientId: string, private readonly method: string, private readonly session: BridgedSession, private readonly logRank: number | undefined) {}
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
    // Lazy: at the first event forwarded.
  }
  event(json: string, id?: string): boolean {
    const env = parseEnvelope(json);
    if (env.kind === MsgKind.Request) {
      refuseServerRequest(this.session, json);
      return true;
    }
    if (this.answered) return true;
    if (env.kind === MsgKind.Notification && env.method === 'notifications/message' && !logAllowed(this.logRank, json)) return true;
    if (env.kind === MsgKind.Response && !this.started) {
      this.answered = true;
      this.json(json);
      return true;
    }
    if (!this.started) {
      this.started = true;
      this.down.startStream();
    }
    if (env.kind === MsgKind.Response) return this.down.event(this.fix(json).frame, id);
    return this.down.event(json, id);
  }
  onResume(fn: () => void): void {
    this.down.onResume(fn);
  }
  end(): void {
    if (this.answered) return;
    if (!this.started) {
      this.started = true;
      this.down.startStream();
    }
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
