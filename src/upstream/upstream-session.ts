/**
 * One upstream session: the upstream half of exactly one (downstream session, destination) pair.
 * It is never shared; the registry creates it on the downstream `initialize` and it lives until
 * the downstream session ends, the destination changes, or the upstream gives up.
 *
 * Channel transports (stdio, legacy SSE) carry every message on one stream, so replies are matched
 * to requests here by JSON-RPC id. Exchange transports (Streamable HTTP) bring their own reply per
 * request. Either way server-initiated traffic goes to `out.push` and so only to this session.
 */
import type { Logger } from 'pino';
import type { Destination } from '../config/types.js';
import { ErrorCode, ProxyError, asProxyError } from '../errors.js';
import { CreditGate } from '../threads/flow.js';
import { type JsonRpcId, MsgKind, idKey, parseEnvelope } from './jsonrpc-envelope.js';
import type { FixedHistogram } from '../observability/histogram.js';
import { workerStats } from '../observability/worker-stats.js';
import type { ChannelHandlers, ExchangeClient, ExchangeHandlers, MessageChannel, ReplySink } from './types.js';
import { createTransport } from './transport-factory.js';

export interface SessionOutput {
  /** A server-initiated message for the downstream session. */
  push(sid: string, json: string): void;
  /** The upstream session ended on its own; the downstream session must end too. */
  gone(sid: string, err: ProxyError): void;
  childUp(pid: number): void;
  childDown(pid: number): void;
}

interface Pending {
  sink: ReplySink;
  /** The request's own id: the upstream's id too (ids pass through unchanged). */
  id: JsonRpcId;
  started: number;
  deadline: number;
}

/** Server requests waiting for the client's answer, per session (beyond this, not tracked). */
const MAX_AWAITED = 256;
const LOGGER = 'mithril-proxy';
const ACTIVITY_HEAD_CHARS = 256;
/**
 * A notification by its method name (MCP names every notification `notifications/…`): it has no
 * id to note, so the envelope scan is skipped (on a notification stream it was 14 % of a worker).
 */
const NOTIFICATION_HEAD = /"method"\s*:\s*"notifications\//;

let probeSeq = 0;

export class UpstreamSession implements ChannelHandlers, ExchangeHandlers {
  readonly sid: string;
  readonly dest: Destination;
  private readonly out: SessionOutput;
  private readonly log: Logger;
  private channel: MessageChannel | undefined;
  private exchange: ExchangeClient | undefined;
  /** Channel mode: requests waiting for their response, by id key. */
  private readonly pending = new Map<string, Pending>();
  private opened: Promise<void> | undefined;
  private serverStreamOpened = false;
  private lastActivity = Date.now();
  private probing: Promise<boolean> | undefined;
  private childPid: number | undefined;
  /** Credit for server messages (flow.ts): past the window the channel / GET stream pauses. */
  private readonly pushGate = new CreditGate(
    () => (this.channel ? this.channel.pause() : this.exchange?.pauseServerStream()),
    () => (this.channel ? this.channel.resume() : this.exchange?.resumeServerStream()),
  );
  /**
   * Deadlines that fit real work (timeouts.max_request_ms): the last time something happened
   * in this session besides new requests (a server message, progress, a client's answer), and the
   * server requests still waiting for the client (elicitation a person answers, sampling). Both
   * extend the calls in flight, never past max_request_ms from their start. Session-wide on
   * purpose: a channel upstream's progress or server request cannot be tied to one call without
   * reading params, and a session's calls wait on the same person.
   */
  private activityAt = 0;
  private readonly awaited = new Map<string, number>();
  closed = false;
  /** Upstream latency of this (destination, transport), looked up once per session. */
  readonly latency: FixedHistogram;

  constructor(sid: string, dest: Destination, out: SessionOutput, log: Logger) {
    this.sid = sid;
    this.dest = dest;
    this.latency = workerStats.latency(dest.name, dest.transport);
    this.out = out;
    this.log = log;
  }

  /**
   * True once open() succeeded: callers then forward frames directly, with no promise and
   * microtask per request on the hot path.
   */
  isOpen = false;

  /** Connects once; concurrent callers share the same attempt. */
  open(): Promise<void> {
    if (this.opened) return this.opened;
    const t = createTransport(this.dest, this, this.log);
    if (t.kind === 'channel') {
      this.channel = t.channel;
      this.opened = t.channel.start().then(() => {
        this.isOpen = true;
      });
    } else {
      this.exchange = t.exchange;
      this.isOpen = true;
      this.opened = Promise.resolve();
    }
    return this.opened;
  }

  /**
   * Forward a request; its reply goes to `sink`. `init` marks the client's initialize. `trace`
   * (observability/trace.ts) goes on HTTP upstreams' requests; stdio gets the body as it is.
   */
  request(frame: string, init: boolean, sink: ReplySink, trace = ''): void {
    this.lastActivity = Date.now();
    if (this.closed) return sink.fail(new ProxyError(ErrorCode.UnknownSession, 'session has ended'));
    const env = parseEnvelope(frame);
    const key = idKey(env.id);
    const prev = this.pending.get(key);
    if (prev && !prev.sink.closed) {
      return sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'a request with this id is already in flight'));
    }
    // Both modes are tracked for the request deadline; only channel mode matches replies here.
    const now = Date.now();
    this.pending.set(key, { sink, id: env.id, started: now, deadline: now + this.dest.timeouts.requestMs });
    if (this.exchange) return this.exchange.request(frame, sink, trace);
    const channel = this.channel;
    if (!channel) return sink.fail(new ProxyError(ErrorCode.Internal, 'session not opened'));
    // A client that goes away mid-call cancels it upstream (an HTTP exchange is aborted instead).
    sink.onClose?.(() => this.cancelUpstream(key, sink, 'the client disconnected'));
    if (init) channel.setReplayOnRestart?.(frame);
    channel.send(frame, trace).catch((err: unknown) => {
      const p = this.pending.get(key);
      if (p && p.sink === sink) {
        this.pending.delete(key);
        sink.fail(asProxyError(err, ErrorCode.UpstreamClosed));
      }
    });
  }

  /** Forward a notification or a response to a server request. */
  oneWay(frame: string, sink: ReplySink, trace = ''): void {
    this.lastActivity = Date.now();
    this.activityAt = this.lastActivity;
    if (this.awaited.size > 0) {
      const env = parseEnvelope(frame);
      if (env.kind === MsgKind.Response) this.awaited.delete(idKey(env.id));
    }
    if (this.closed) return sink.fail(new ProxyError(ErrorCode.UnknownSession, 'session has ended'));
    const p = this.exchange ? this.exchange.post(frame, trace) : this.channel ? this.channel.send(frame, trace) : undefined;
    if (!p) return sink.fail(new ProxyError(ErrorCode.Internal, 'session not opened'));
    p.then(() => sink.accepted(), (err: unknown) => sink.fail(asProxyError(err, ErrorCode.UpstreamClosed)));
  }

  /**
   * After a long silence the upstream may have dropped us (a restarted server, a NAT timeout):
   * probe with `ping` before trusting it with a client request. False means the session is gone.
   */
  healthy(now: number, probeAfterMs: number): Promise<boolean> | true {
    if (this.closed) return Promise.resolve(false);
    if (now - this.lastActivity < probeAfterMs) return true;
    if (this.probing) return this.probing;
    const frame = `{"jsonrpc":"2.0","id":"mithril-probe-${++probeSeq}","method":"ping"}`;
    this.probing = new Promise<boolean>((resolve) => {
      const sink = new ProbeSink(resolve);
      const timer = setTimeout(() => sink.fail(new ProxyError(ErrorCode.UpstreamTimeout, 'probe timed out')), this.dest.timeouts.connectMs);
      timer.unref();
      sink.onDone = () => clearTimeout(timer);
      this.request(frame, false, sink);
    }).then((ok) => {
      this.probing = undefined;
      if (ok) this.lastActivity = Date.now();
      return ok;
    });
    return this.probing;
  }

  /** The downstream opened its server-message stream: open the upstream's, once. */
  openServerStream(): void {
    if (this.serverStreamOpened || !this.exchange) return;
    this.serverStreamOpened = true;
    this.exchange.openServerStream().catch((err: unknown) => {
      this.log.warn({ err: asProxyError(err).message }, 'upstream server stream failed to open');
    });
  }

  /** The acceptor delivered (or queued, or lost with a closed stream) `bytes` of server messages. */
  serverCredit(bytes: number): void {
    this.pushGate.credit(bytes);
  }

  private pushOut(json: string): void {
    this.out.push(this.sid, json);
    this.pushGate.sent(json.length);
  }

  /**
   * Fail requests whose deadline passed; called by the registry's sweep, not a timer per request.
   * A deadline that passed is first extended by activity (see `activityAt`), up to max_request_ms.
   */
  sweep(now: number): void {
    const { requestMs, maxRequestMs } = this.dest.timeouts;
    for (const [key, at] of this.awaited) if (now - at > maxRequestMs) this.awaited.delete(key);
    for (const [key, p] of this.pending) {
      if (p.sink.closed) {
        this.pending.delete(key);
        continue;
      }
      if (now < p.deadline) continue;
      const cap = p.started + Math.max(maxRequestMs, requestMs);
      const capped = now >= cap;
      if (!capped) {
        let next = this.activityAt + requestMs;
        if (this.awaited.size > 0) next = Math.max(next, now + requestMs);
        next = Math.min(next, cap);
        if (now < next) {
          p.deadline = next;
          continue;
        }
      }
      this.pending.delete(key);
      this.cancelSent(p, capped ? 'the call exceeded max_request_ms' : 'no reply within request_ms');
      p.sink.fail(new ProxyError(ErrorCode.UpstreamTimeout, capped && maxRequestMs > requestMs
        ? `no reply from upstream within max_request_ms (${maxRequestMs} ms), activity included`
        : `no reply from upstream within ${requestMs} ms`));
    }
  }

  /** The reply's sink closed early (client gone, deadline): tell a channel upstream to stop. */
  private cancelUpstream(key: string, sink: ReplySink, reason: string): void {
    const p = this.pending.get(key);
    if (!p || p.sink !== sink) return;
    this.pending.delete(key);
    this.cancelSent(p, reason);
  }

  private cancelSent(p: Pending, reason: string): void {
    const channel = this.channel;
    if (!channel || this.closed) return;
    const frame = `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${JSON.stringify(p.id)},"reason":${JSON.stringify(reason)}}}`;
    channel.send(frame).catch(() => undefined);
  }

  /** Server messages that count as activity for the calls in flight; requests are awaited. */
  private noteServerMessage(kind: MsgKind, id: JsonRpcId): void {
    this.activityAt = Date.now();
    if (kind === MsgKind.Request && this.awaited.size < MAX_AWAITED) this.awaited.set(idKey(id), this.activityAt);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failPending(new ProxyError(ErrorCode.UnknownSession, 'session ended'));
    try {
      if (this.channel) await this.channel.close();
      else if (this.exchange) await this.exchange.close();
    } catch (err) {
      this.log.warn({ err: asProxyError(err).message }, 'error while closing upstream session');
    }
    this.forgetChild();
  }

  // ChannelHandlers / ExchangeHandlers -------------------------------------------------------

  onMessage(json: string): void {
    this.lastActivity = Date.now();
    // From the upstream server: routed by id only, so no depth limit (see parseEnvelope).
    const env = parseEnvelope(json, false);
    if (env.kind === MsgKind.Response) {
      const key = idKey(env.id);
      const p = this.pending.get(key);
      if (p) {
        this.pending.delete(key);
        p.sink.json(json);
        return;
      }
    }
    this.noteServerMessage(env.kind, env.id);
    this.pushOut(json);
  }

  onServerMessage(json: string, _id?: string): void {
    this.lastActivity = Date.now();
    const env = parseEnvelope(json);
    this.noteServerMessage(env.kind, env.id);
    // TODO(acceptor): carry `_id` (the upstream event id) to the Push message once downstream
    // streams emit resumable ids.
    this.pushOut(json);
  }

  /** A message other than the answer on a call's reply stream (HTTP upstreams). */
  onActivity(json: string): void {
    this.activityAt = Date.now();
    // Only requests need their id; most events are answers. Called for every reply event, so the
    // test looks at the head only (serialisers put `method` first or right after jsonrpc/id; a
    // request missed here still counts as activity above).
    const head = json.length > ACTIVITY_HEAD_CHARS ? json.slice(0, ACTIVITY_HEAD_CHARS) : json;
    if (!head.includes('"method"') || NOTIFICATION_HEAD.test(head)) return;
    const env = parseEnvelope(json);
    if (env.kind === MsgKind.Request) this.noteServerMessage(env.kind, env.id);
  }

  /**
   * A stdio child was restarted under this session (stdio.on_exit: restart): the new process has
   * none of the old one's state, so the client is told in-band instead of finding out later.
   */
  onRestarted(): void {
    this.pushOut(JSON.stringify({
      jsonrpc: '2.0', method: 'notifications/message',
      params: { level: 'warning', logger: LOGGER, data: `the ${this.dest.name} server restarted: its state from before the restart is lost` },
    }));
  }

  onOversized(id: JsonRpcId | undefined, bytes: number): void {
    if (id === undefined) return;
    const key = idKey(id);
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const limit = this.dest.transport === 'stdio' ? this.dest.stdio.maxLineBytes : 0;
    p.sink.fail(new ProxyError(ErrorCode.UpstreamMessageTooLarge,
      `the upstream's reply (${bytes} bytes) is larger than stdio.max_line_bytes (${limit}) and was dropped`, { bytes }));
  }

  onInterrupted(err: ProxyError, willRecover: boolean): void {
    this.log.warn({ code: err.code, willRecover }, `upstream interrupted: ${err.message}`);
    this.failPending(err);
    this.forgetChild();
  }

  onClosed(err: ProxyError | null): void {
    this.forgetChild();
    if (this.closed) return;
    this.closed = true;
    const e = err ?? new ProxyError(ErrorCode.UpstreamClosed, 'upstream session closed');
    this.failPending(e);
    this.out.gone(this.sid, e);
  }

  // -------------------------------------------------------------------------------------------

  private failPending(err: ProxyError): void {
    // Emptied first: a failing sink's onClose must not send notifications/cancelled to a channel
    // that is interrupted or closing.
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.sink.fail(err);
  }

  onSpawn(pid: number): void {
    this.forgetChild();
    this.childPid = pid;
    this.out.childUp(pid);
  }

  private forgetChild(): void {
    if (this.childPid !== undefined) {
      this.out.childDown(this.childPid);
      this.childPid = undefined;
    }
  }
}

/**
 * A ReplySink for the proxy's own probes: resolves true on any reply, false on failure.
 * It never applies backpressure: a paused exchange that nobody resumes holds its upstream
 * connection forever (undici suspends bodyTimeout while paused). Once decided, `closed` makes the
 * exchange abandon the rest of the reply, and `onClose` aborts it when the probe times out.
 */
class ProbeSink implements ReplySink {
  closed = false;
  onDone: () => void = () => {};
  private readonly resolve: (ok: boolean) => void;
  private closeFn: (() => void) | undefined;
  constructor(resolve: (ok: boolean) => void) {
    this.resolve = resolve;
  }
  private finish(ok: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.onDone();
    this.resolve(ok);
  }
  json(): void { this.finish(true); }
  startStream(): void {}
  event(): boolean { this.finish(true); return true; }
  onResume(): void {}
  onClose(fn: () => void): void { this.closeFn = fn; }
  end(): void { this.finish(true); }
  accepted(): void { this.finish(true); }
  fail(_err?: ProxyError): void {
    this.finish(false);
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }
}
