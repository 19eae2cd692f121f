/**
 * Worker thread entry: owns the upstream sessions (HTTP clients, SSE streams, stdio children) of
 * the downstream sessions the acceptor pinned to this thread. Wires thread messages to the registry.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Destination, ProxyConfig } from '../src/config/types.js';
import { ErrorCode, ProxyError, asProxyError } from '../src/errors.js';
import { createLogger } from '../src/observability/log.js';
import { workerStats } from '../src/observability/worker-stats.js';
import {
  FrameKind, type Frame2026Msg, type FrameMsg, Outbox, type ResumeMsg, ToMain, type ToMainMsg, ToWorker, type ToWorkerMsg, type WorkerInit, decodeToWorker, encodeToMain, receive,
} from '../src/threads/messages.js';
import { RequestStateSigner } from '../src/era/request-state.js';
import { ThreadSink } from '../src/threads/thread-sink.js';
import { closeAllPools } from '../src/upstream/http-pool.js';
import { Registry } from '../src/upstream/registry.js';
import { BridgeSessions } from '../src/upstream/bridge-sessions.js';
import { SessionlessHttp } from '../src/upstream/sessionless-http.js';
import type { SessionOutput } from '../src/upstream/upstream-session.js';
import { Aggregator } from '../src/virtual/aggregator.js';

const port = parentPort;
if (!port) throw new Error('session-worker must run as a worker thread');
const init = workerData as WorkerInit;
let config: ProxyConfig = init.config;
const log = createLogger(config.logLevel, { worker: init.index });

const outbox = new Outbox<ToMainMsg>(port, encodeToMain);
const post = (msg: ToMainMsg): void => outbox.send(msg);
const sinks = new Map<number, ThreadSink>();
const dropSink = (rid: number): void => {
  sinks.delete(rid);
};

const out: SessionOutput = {
  push: (sid, data) => post({ t: ToMain.Push, sid, data }),
  gone: (sid, err) => {
    post({ t: ToMain.SessionGone, sid, code: err.code, message: err.message });
  },
  childUp: (pid) => post({ t: ToMain.ChildUp, pid }),
  childDown: (pid) => post({ t: ToMain.ChildDown, pid }),
};
const registry = new Registry(out, log);
// Virtual servers: one downstream session fans out to one upstream session per member (src/virtual/).
const aggregator = new Aggregator({ registry, config: () => config, out, log });
/**
 * 2026-07-28 pass-through: session-less requests to 2026 upstreams. What a tools/list result
 * declares (x-mcp-header) goes to the acceptor, which validates calls whichever worker serves them.
 */
const sessionless = new SessionlessHttp((dest, tools, append) =>
  post({ t: ToMain.ToolHeaders, dest: dest.name, tools, append, connectKey: dest.connectKey }));
/** B1 bridge: 2026 clients to session-era upstreams, one upstream session per principal. */
const bridges = new BridgeSessions(log, {
  // The acceptor's key: a token minted here verifies there (and names this worker).
  signer: new RequestStateSigner(init.requestStateKey),
  worker: init.index,
  ttlMs: () => config.requestStateTtlMs,
}, { registry, config: () => config }, (dest, tools, append) => post({ t: ToMain.ToolHeaders, dest: dest.name, tools, append, connectKey: dest.connectKey }));

function destination(name: string): Destination | undefined {
  return config.destinations[name];
}

function onFrame(m: FrameMsg): void {
  const trace = m.trace ?? '';
  const sink = new ThreadSink(m.rid, outbox, dropSink);
  sinks.set(m.rid, sink);
  const vs = config.virtualServers[m.dest];
  if (vs) return aggregator.frame(m, vs, sink);
  const dest = destination(m.dest);
  if (!dest) return sink.fail(new ProxyError(ErrorCode.UnknownDestination, `unknown destination ${m.dest}`));
  if (m.init) {
    const session = registry.create(m.sid, dest);
    sink.timed(session.latency);
    session.open().then(
      () => session.request(m.body, true, sink, trace),
      (err: unknown) => {
        registry.forget(m.sid, m.dest, session);
        void session.close();
        sink.fail(asProxyError(err, ErrorCode.UpstreamConnect));
      },
    );
    return;
  }
  const session = registry.get(m.sid, m.dest);
  if (!session) {
    return sink.fail(new ProxyError(ErrorCode.UnknownSession, 'no upstream session: initialize first'));
  }
  if (m.kind === FrameKind.Request) sink.timed(session.latency);
  const send = (): void => {
    if (m.kind === FrameKind.Request) session.request(m.body, false, sink, trace);
    else session.oneWay(m.body, sink, trace);
  };
  const ok = session.healthy(Date.now(), config.healthProbeAfterMs);
  if (ok === true) {
    if (session.isOpen) return send();
    return void session.open().then(send, (err: unknown) => sink.fail(asProxyError(err)));
  }
  ok.then((alive) => {
    if (alive) return send();
    const err = new ProxyError(ErrorCode.UnknownSession, 'upstream session was lost while idle: initialize again');
    registry.forget(m.sid, m.dest, session);
    void session.close();
    out.gone(m.sid, err);
    sink.fail(err);
  }, (err: unknown) => sink.fail(asProxyError(err)));
}

function onFrame2026(m: Frame2026Msg): void {
  const sink = new ThreadSink(m.rid, outbox, dropSink);
  sinks.set(m.rid, sink);
  const vs = config.virtualServers[m.dest];
  if (m.bridge && vs) return bridges.requestVirtual(vs, m.principal, m.body, sink);
  const dest = destination(m.dest);
  if (m.bridge && dest && dest.protocol !== '2026') {
    sink.timed(workerStats.latency(dest.name, dest.transport));
    return bridges.request(dest, m.principal, m.body, sink);
  }
  // The acceptor checked the era; a reload may have changed it since.
  if (!dest || dest.transport !== 'streamable_http' || dest.protocol !== '2026') {
    return sink.fail(new ProxyError(ErrorCode.UnknownDestination, `destination ${m.dest} is not a 2026-07-28 upstream`));
  }
  sink.timed(workerStats.latency(dest.name, dest.transport));
  sessionless.request(dest, m.body, m.headers, m.long, sink);
}

/** B1 MRTR: a verified retry for a call parked on this worker. */
function onResume(m: ResumeMsg): void {
  const sink = new ThreadSink(m.rid, outbox, dropSink);
  sinks.set(m.rid, sink);
  const dest = destination(m.dest);
  // A bridged destination or a virtual server (bridged too); a reload may have changed either.
  if ((!dest || dest.protocol === '2026') && !config.virtualServers[m.dest]) {
    return sink.fail(new ProxyError(ErrorCode.RequestStateInvalid, 'requestState was already answered or has expired: send the original request again'));
  }
  bridges.resume(m.dest, m.principal, m, sink);
}

function onMessage(m: ToWorkerMsg): void {
  switch (m.t) {
    case ToWorker.Frame:
      return onFrame(m);
    case ToWorker.Frame2026:
      return onFrame2026(m);
    case ToWorker.Resume:
      return onResume(m);
    case ToWorker.StreamOpen:
      if (aggregator.has(m.sid)) return aggregator.openServerStream(m.sid);
      return registry.get(m.sid, m.dest)?.openServerStream();
    case ToWorker.Credit:
      if (m.rid < 0 && aggregator.has(m.sid)) return aggregator.serverCredit(m.sid, m.bytes);
      if (m.rid < 0) return registry.get(m.sid, m.dest)?.serverCredit(m.bytes);
      return sinks.get(m.rid)?.credit(m.bytes);
    case ToWorker.Abandon:
      return sinks.get(m.rid)?.abandon();
    case ToWorker.EndSession:
      if (aggregator.has(m.sid)) {
        aggregator.end(m.sid).finally(() => post({ t: ToMain.Done, rid: m.rid }));
        return;
      }
      registry.evictSession(m.sid, m.dest).finally(() => post({ t: ToMain.Done, rid: m.rid }));
      return;
    case ToWorker.EndAll:
      aggregator.clear();
      sessionless.closeAll();
      void bridges.closeAll();
      registry.closeAll(5000).then(closeAllPools).finally(() => post({ t: ToMain.Done, rid: m.rid }));
      return;
    case ToWorker.StatsRequest:
      return post({ t: ToMain.Stats, rid: m.rid, stats: workerStats.snapshot() });
    case ToWorker.EvictDestinations:
      config = m.config;
      log.level = config.logLevel;
      for (const d of m.dests) {
        aggregator.evictVirtual(d).then((n) => {
          if (n > 0) log.info({ virtual: d, sessions: n }, 'virtual server changed: its sessions closed');
        }, () => {});
        void bridges.evictDestination(d);
        registry.evictDestination(d).then((n) => {
          if (n > 0) log.info({ dest: d, sessions: n }, 'destination changed: upstream sessions closed');
        }, () => {});
      }
      return;
  }
}

/** Faults in the listener are logged (rate-limited), never thrown: the thread and its sessions live on. */
let faults = 0;
const fault = (err: unknown): void => {
  if (faults++ % 100 === 0) log.error({ err: err instanceof Error ? err.message : String(err), faults }, 'thread message dropped: corrupt batch or handler fault');
};
port.on('message', (data: string | ToWorkerMsg) => receive(decodeToWorker, data, onMessage, fault));

post({ t: ToMain.Ready, worker: init.index });
