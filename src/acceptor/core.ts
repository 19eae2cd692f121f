/**
 * The acceptor's state and the dispatcher for worker messages. Route handlers (streamable-http,
 * legacy-sse) validate and parse; everything that involves a worker goes through here, so the
 * bookkeeping (rid table, in-flight bound, request log line, metrics) lives in one place.
 */
import type { Logger } from 'pino';
import { Authenticator } from '../auth/authenticator.js';
import type { ProxyConfig } from '../config/types.js';
import { ErrorCode } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { sessionTag } from '../observability/session-tag.js';
import { spanIdOf, startedTrace, traceIdOf } from '../observability/trace.js';
import type { WorkerStatsSnapshot } from '../observability/worker-stats.js';
import { RequestStateSigner } from '../era/request-state.js';
import { FrameKind, type Frame2026Msg, type ResumeMsg, ToMain, type ToMainMsg, ToWorker } from '../threads/messages.js';
import { sessionIdScheme } from '../threads/session-id.js';
import type { SessionTable } from '../threads/session-table.js';
import type { Supervisor, SupervisorHooks } from '../threads/supervisor.js';
import { BridgeAffinity } from './bridge-affinity.js';
import type { Reply, ReplyHost } from './replies.js';
import { type DownSession, type EndReason, SessionStore } from './sessions.js';
import type { SseLimits } from './sse-stream.js';
import { ToolHeaderCache } from './tool-header-cache.js';

const END_SESSION_TIMEOUT_MS = 10_000;
/** A scrape waits this long for each worker's counters; a late worker counts with its last snapshot. */
const STATS_TIMEOUT_MS = 1000;

export class Core implements ReplyHost, SupervisorHooks {
  /** Replace through setConfig (the authenticator follows the config). */
  config: ProxyConfig;
  /** Client authentication and per-client limits for the current config (one per config). */
  auth: Authenticator;
  readonly log: Logger;
  readonly table: SessionTable;
  readonly store: SessionStore;
  readonly metrics: Metrics;
  supervisor!: Supervisor;
  /** B1 bridge: which worker holds each (client, destination)'s bridged upstream session. */
  readonly bridgeAffinity = new BridgeAffinity();
  /** x-mcp-header specs per 2026 destination, from pass-through tools/list results (any worker). */
  readonly toolHeaders = new ToolHeaderCache();
  /**
   * B1 MRTR: verifies requestState tokens here; workers mint with the same key (WorkerInit). Made
   * once from the start config: a reload keeps it, so tokens in flight stay valid.
   */
  readonly signer: RequestStateSigner;
  /** Closing: no new sessions, but existing ones may finish what they started. */
  draining = false;
  /** Closed: every request answers 503. */
  shuttingDown = false;
  private nextRid = 1;
  private readonly replies = new Map<number, Reply>();
  private readonly waiters = new Map<number, () => void>();
  /** Scrapes waiting for worker snapshots (at most one per worker per scrape; each times out). */
  private readonly statsWaiters = new Map<number, (s: WorkerStatsSnapshot | undefined) => void>();

  constructor(config: ProxyConfig, table: SessionTable, metrics: Metrics, log: Logger) {
    this.config = config;
    this.auth = new Authenticator(config.auth, { log });
    this.signer = new RequestStateSigner(config.requestStateSecret ?? undefined);
    this.table = table;
    this.store = new SessionStore(table, () => this.config.limits, log, {
      credit: (s, rid, bytes) => this.credit(s.worker, rid, s.sid, s.dest, bytes),
      opened: (s) => this.auth.sessionOpened(s.client),
      ended: (s, reason) => {
        this.auth.sessionClosed(s.client);
        this.metrics.sessionEnded(s.dest, reason);
      },
    }, sessionIdScheme(config.instance));
    this.metrics = metrics;
    this.log = log;
    metrics.bind({
      sessions: () => this.store.all(),
      workerCount: () => this.supervisor.count,
      inflight: (w) => this.supervisor.inflight(w),
      workerStats: () => this.workerStats(),
    });
    if (config.instance) {
      // The id must equal this instance's server name in the balancer; say it where operators look.
      log.info({ instance: config.instance.id, key: config.instance.key === null ? 'random' : 'configured' }, 'session ids carry this instance');
    }
  }

  /**
   * Serve `next` from now on. The authenticator is rebuilt for the new clients and keys, keeping
   * the request buckets and the live-session counts (sessions survive a reload; their counts must
   * too, or max_sessions would reset with every SIGHUP).
   */
  setConfig(next: ProxyConfig): void {
    const old = this.auth;
    // A changed or removed destination's tools must be listed again before calls are checked.
    this.toolHeaders.retain(this.config, next);
    this.config = next;
    this.auth = new Authenticator(next.auth, { log: this.log, limiter: old.limiter, sessions: old.sessions });
  }

  /** How long `s` may stay idle: stdio sessions hold a child, so theirs is shorter (stdio.session_idle_ms). */
  idleMsOf(s: DownSession): number {
    const d = this.config.destinations[s.dest];
    if (d?.transport !== 'stdio') return this.config.sessionIdleMs;
    return Math.min(this.config.sessionIdleMs, d.stdio.sessionIdleMs);
  }

  /** The shortest idle time any session has: the reaper runs often enough for it. */
  shortestIdleMs(): number {
    let ms = this.config.sessionIdleMs;
    for (const d of Object.values(this.config.destinations)) if (d.transport === 'stdio') ms = Math.min(ms, d.stdio.sessionIdleMs);
    return ms;
  }

  /** End the sessions idle past their time (the idle reaper's tick). */
  reapIdle(now = Date.now()): void {
    for (const s of this.store.idleSince(now, (x) => this.idleMsOf(x))) void this.endSession(s, 'idle');
  }

  /** Every worker's counters (observability/worker-stats.ts), by worker index; bounded in time. */
  workerStats(): Promise<Array<WorkerStatsSnapshot | undefined>> {
    const waits: Array<Promise<WorkerStatsSnapshot | undefined>> = [];
    for (let w = 0; w < this.supervisor.count; w++) {
      if (!this.supervisor.isUp(w)) {
        waits.push(Promise.resolve(undefined));
        continue;
      }
      const rid = this.rid();
      waits.push(new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.statsWaiters.delete(rid);
          resolve(undefined);
        }, STATS_TIMEOUT_MS);
        timer.unref();
        this.statsWaiters.set(rid, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
        this.supervisor.post(w, { t: ToWorker.StatsRequest, rid });
      }));
    }
    return Promise.all(waits);
  }

  get sseLimits(): SseLimits {
    return { maxBuffered: this.config.limits.maxBufferedBytes, slowReaderMs: this.config.limits.slowReaderMs };
  }

  rid(): number {
    const r = this.nextRid++;
    if (this.nextRid > 0x3fffffff) this.nextRid = 1;
    return r;
  }

  /** False when the worker is at its in-flight bound (caller answers 503) or down. */
  hasRoom(worker: number): boolean {
    return this.supervisor.isUp(worker) && this.supervisor.inflight(worker) < this.config.limits.maxInflightPerWorker;
  }

  /**
   * A request takes one of its session's in-flight slots (auth.per_session_inflight) until it
   * finishes; notifications and responses take none. false: none left (answer inflightRefusal).
   * Call right before `forward`, which marks the reply as holding the slot.
   */
  takeSlot(s: DownSession, kind: FrameKind): boolean {
    return kind !== FrameKind.Request || s.inflight.tryAcquire();
  }

  /**
   * Hand one frame to the session's worker (after takeSlot); `reply` receives what comes back.
   * `trace` is what goes upstream (observability/trace.ts upstreamTrace); without one, the proxy
   * starts a trace.
   */
  forward(reply: Reply & { readonly session: DownSession }, kind: FrameKind, init: boolean, body: string, trace: string = startedTrace()): void {
    const s = reply.session;
    s.lastSeen = Date.now();
    reply.holdsSlot = kind === FrameKind.Request;
    reply.trace = trace;
    this.replies.set(reply.rid, reply);
    this.supervisor.addInflight(reply.worker, 1);
    this.supervisor.post(reply.worker, { t: ToWorker.Frame, rid: reply.rid, sid: s.sid, dest: s.dest, kind, init, trace, body });
  }

  /** Hand a 2026 (session-less) request to `reply.worker`; `reply` receives what comes back. */
  forward2026(reply: Reply, msg: Omit<Frame2026Msg, 't' | 'rid' | 'dest'>): void {
    this.replies.set(reply.rid, reply);
    this.supervisor.addInflight(reply.worker, 1);
    this.supervisor.post(reply.worker, { t: ToWorker.Frame2026, rid: reply.rid, dest: reply.dest, ...msg });
  }

  /** Hand a verified MRTR retry to the worker its requestState names. */
  resume2026(reply: Reply, msg: Omit<ResumeMsg, 't' | 'rid' | 'dest'>): void {
    this.replies.set(reply.rid, reply);
    this.supervisor.addInflight(reply.worker, 1);
    this.supervisor.post(reply.worker, { t: ToWorker.Resume, rid: reply.rid, dest: reply.dest, ...msg });
  }

  /** SupervisorHooks: the key workers mint requestState tokens with. */
  get requestStateKey(): Uint8Array {
    return this.signer.keyBytes;
  }

  openServerStream(s: DownSession): void {
    this.supervisor.post(s.worker, { t: ToWorker.StreamOpen, sid: s.sid, dest: s.dest });
  }

  /** End a session everywhere; resolves when its worker closed the upstream side (bounded). */
  endSession(s: DownSession, reason: EndReason): Promise<void> {
    this.store.remove(s.sid, reason);
    if (!this.supervisor.isUp(s.worker)) return Promise.resolve();
    const rid = this.rid();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(rid);
        this.log.warn({ session: s.tag, dest: s.dest }, 'upstream session close timed out');
        resolve();
      }, END_SESSION_TIMEOUT_MS);
      timer.unref();
      this.waiters.set(rid, () => {
        clearTimeout(timer);
        resolve();
      });
      this.supervisor.post(s.worker, { t: ToWorker.EndSession, rid, sid: s.sid, dest: s.dest, reason });
    });
  }

  /**
   * Let replies in flight finish, for at most `timeoutMs`; then answer what is left with 503
   * E_SHUTTING_DOWN instead of letting the connection reset. Returns how many were cut.
   */
  async drain(timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    while (this.replies.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const left = [...this.replies.values()];
    for (const r of left) r.fail(ErrorCode.ShuttingDown, 'proxy is shutting down');
    return left.length;
  }

  /** Ask every worker to close all upstream sessions; bounded. */
  async endAll(timeoutMs: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (let w = 0; w < this.supervisor.count; w++) {
      if (!this.supervisor.isUp(w)) continue;
      const rid = this.rid();
      waits.push(new Promise<void>((resolve) => {
        this.waiters.set(rid, resolve);
        this.supervisor.post(w, { t: ToWorker.EndAll, rid });
      }));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  // ReplyHost --------------------------------------------------------------------------------

  credit(worker: number, rid: number, sid: string, dest: string, bytes: number): void {
    this.supervisor.post(worker, { t: ToWorker.Credit, rid, sid, dest, bytes });
  }

  abandon(worker: number, rid: number): void {
    this.supervisor.post(worker, { t: ToWorker.Abandon, rid });
  }

  finished(r: Reply, status: number): void {
    if (this.replies.get(r.rid) === r) {
      // Every end of an exchange comes here once (reply, error, timeout, abort, worker lost, drain).
      this.replies.delete(r.rid);
      this.supervisor.addInflight(r.worker, -1);
      if (r.holdsSlot) {
        r.holdsSlot = false;
        r.session?.inflight.release();
      }
      const done = r.onFinished;
      r.onFinished = undefined;
      done?.();
    }
    const ms = Date.now() - r.started;
    // Replies without a downstream session are 2026-07-28 requests (pass-through or bridged).
    this.metrics.request(r.dest, r.method, status, ms, r.session ? '2025' : '2026');
    // Per request on the one acceptor thread: the line's object is not even built below `info`.
    if (!this.log.isLevelEnabled('info')) return;
    // trace: the W3C trace-id; span: the proxy's span, the parent-id the upstream saw.
    const t = r.trace;
    const trace = t === '' ? undefined : traceIdOf(t);
    const span = t === '' ? undefined : spanIdOf(t);
    if (r.session) this.log.info({ dest: r.dest, session: r.session.tag, method: r.method, status, ms, bytes: r.bytes, trace, span }, 'request');
    else this.log.info({ dest: r.dest, era: '2026', worker: r.worker, method: r.method, status, ms, bytes: r.bytes, trace, span }, 'request');
  }

  /** The log line and metrics of an exchange answered by the acceptor itself (rejections, GET, DELETE). */
  logExchange(dest: string, sid: string | undefined, method: string | undefined, status: number, started: number, note: string, era?: '2026'): void {
    const ms = Date.now() - started;
    this.metrics.request(dest, method, status, ms, era ?? '2025');
    if (status >= 400) this.metrics.reject(note);
    if (note === 'slow' || note === 'sse-slow') this.metrics.slowReaderCut(dest);
    if (!this.log.isLevelEnabled('info')) return;
    // The tag, never the id: a session id is a bearer credential for its session.
    this.log.info({ dest, session: sid ? sessionTag(sid) : undefined, era, method, status, ms, note }, 'request');
  }

  slowReaderCut(dest: string): void {
    this.metrics.slowReaderCut(dest);
  }

  initFailed(s: DownSession): void {
    if (!s.established) void this.endSession(s, 'init-failed');
  }

  push(sid: string, data: string, rid: number | null): void {
    this.store.push(sid, data, rid);
  }

  // SupervisorHooks --------------------------------------------------------------------------

  message(_worker: number, msg: ToMainMsg): void {
    switch (msg.t) {
      case ToMain.Json:
        return this.replies.get(msg.rid)?.json(msg.body);
      case ToMain.Accepted:
        return this.replies.get(msg.rid)?.accepted();
      case ToMain.StreamStart:
        return this.replies.get(msg.rid)?.streamStart();
      case ToMain.Event:
        return this.replies.get(msg.rid)?.event(msg.data);
      case ToMain.StreamEnd:
        return this.replies.get(msg.rid)?.streamEnd();
      case ToMain.Fail:
        return this.replies.get(msg.rid)?.fail(msg.code, msg.message);
      case ToMain.ErrorBody:
        return this.replies.get(msg.rid)?.errorBody(msg.status, msg.body);
      case ToMain.Push:
        return this.store.push(msg.sid, msg.data, -1);
      case ToMain.SessionGone: {
        const s = this.store.remove(msg.sid, 'upstream-gone');
        if (s) this.log.warn({ session: s.tag, dest: s.dest, code: msg.code }, `upstream session ended: ${msg.message}`);
        return;
      }
      case ToMain.Done: {
        const w = this.waiters.get(msg.rid);
        this.waiters.delete(msg.rid);
        return w?.();
      }
      case ToMain.Stats: {
        const w = this.statsWaiters.get(msg.rid);
        this.statsWaiters.delete(msg.rid);
        return w?.(msg.stats);
      }
      case ToMain.ToolHeaders: {
        // Only configured destinations (2026 pass-through or B1-bridged: the cache stays bounded by
        // the config), and only from the upstream they point to now (a list that crossed a reload
        // is the old upstream's).
        const d = this.config.destinations[msg.dest];
        if (d !== undefined && d.connectKey === msg.connectKey) this.toolHeaders.learn(msg.dest, msg.tools, msg.append);
        return;
      }
      case ToMain.Ready:
      case ToMain.ChildUp:
      case ToMain.ChildDown:
        return;
    }
  }

  workerLost(worker: number): void {
    this.metrics.workerLost(worker);
    for (const [rid, r] of this.replies) {
      if (r.worker !== worker) continue;
      r.fail(ErrorCode.WorkerLost, 'the worker thread serving this session stopped');
      this.replies.delete(rid);
    }
    for (const s of this.store.ofWorker(worker)) this.store.remove(s.sid, 'worker-lost');
  }
}
