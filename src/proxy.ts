/**
 * startProxy: wires config, the shared session table, the worker supervisor and the uWS acceptor,
 * and returns a handle whose close() drains in order: stop accepting, end streams and sessions,
 * close upstream sessions (bounded), stop workers, reap children.
 */
import os from 'node:os';
import { planReload } from './config/reload.js';
import type { ProxyConfig } from './config/types.js';
import { ToWorker } from './threads/messages.js';
import { buildApp } from './acceptor/app.js';
import { Core } from './acceptor/core.js';
import { chooseFront } from './acceptor/front.js';
import { isLoopbackHost } from './acceptor/loopback.js';
import type { Front, Listener } from './acceptor/http-types.js';
import { type Logger, createLogger } from './observability/log.js';
import { Metrics } from './observability/metrics.js';
import { SessionTable } from './threads/session-table.js';
import { Supervisor } from './threads/supervisor.js';

export interface ReloadResult {
  evicted: string[];
  added: string[];
  /** Start-bound settings that changed in the file but need a restart to apply. */
  needsRestart: string[];
  /** Destination settings that changed and apply to new upstream sessions only. */
  newSessionsOnly: string[];
  sessionsClosed: number;
}

export interface ProxyHandle {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly core: Core;
  readonly supervisor: Supervisor;
  /** The HTTP front serving: native uWebSockets.js, or node:http where no binding loads. */
  readonly front: Front;
  /** Serve `config` from now on; destinations whose connection settings changed lose their sessions. */
  reload(config: ProxyConfig): Promise<ReloadResult>;
  /**
   * Drain and stop: stop accepting connections and new sessions, let requests in flight finish
   * (at most `drainMs`, default 5 s; what is left answers 503), then close every upstream session.
   */
  close(opts?: { drainMs?: number }): Promise<void>;
}

const MAX_WORKERS = 256;
/** How long close() lets requests in flight finish (the systemd unit allows 20 s in all). */
const DRAIN_MS = 5000;

export async function startProxy(config: ProxyConfig, opts: { log?: Logger } = {}): Promise<ProxyHandle> {
  const log = opts.log ?? createLogger(config.logLevel, { thread: 'main' });
  const { front, why } = chooseFront(process.env, { offLoopback: !isLoopbackHost(config.listen.host) });
  const table = SessionTable.create(config.maxSessions, Math.min(MAX_WORKERS, config.workers));
  // Gauges read live state at scrape time; `core` exists by the time anything scrapes.
  const metrics: Metrics = new Metrics({
    sessions: (): number => core.store.size,
    workersUp: (): number => core.supervisor.upCount(),
    children: (): number => core.supervisor.childCount(),
  });
  const core: Core = new Core(config, table, metrics, log);
  const supervisor = new Supervisor(config, table, core, log);
  core.supervisor = supervisor;
  await supervisor.start();

  const health = () => ({
    front: front.kind,
    binding: `${front.name}@${front.version}`,
    native: front.kind === 'uws',
    workers: config.workers,
    sessions: core.store.size,
    // The live config: a reload that adds or removes destinations shows here at once.
    destinations: Object.keys(core.config.destinations),
    uptimeSeconds: Math.round(process.uptime()),
  });
  const app = buildApp(core, front, health);
  let listening: Listener;
  try {
    listening = await front.listen(app, config.listen.host, config.listen.port);
  } catch (err) {
    await supervisor.stop();
    throw err;
  }
  const hostForUrl = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `http://${hostForUrl}:${listening.port}`;
  log.info({ url, host: config.listen.host, port: listening.port, workers: config.workers, front: front.kind, binding: `${front.name}@${front.version}`, why, cores: os.availableParallelism() }, 'listening');

  // Idle times are per destination (stdio sessions idle out sooner, Core.idleMsOf).
  const reaper = setInterval(() => core.reapIdle(), Math.min(60_000, Math.max(1000, Math.floor(core.shortestIdleMs() / 4))));
  reaper.unref();

  let closing: Promise<void> | undefined;
  const close = (opts: { drainMs?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      core.draining = true;
      clearInterval(reaper);
      listening.stopAccepting();
      const cut = await core.drain(opts.drainMs ?? DRAIN_MS);
      if (cut > 0) log.warn({ requests: cut }, 'shutdown: requests still in flight after the drain were answered 503');
      core.shuttingDown = true;
      for (const s of [...core.store.all()]) core.store.remove(s.sid, 'shutdown');
      await core.endAll(5000);
      await supervisor.stop();
      listening.closeAll();
      log.info('stopped');
    })();
    return closing;
  };

  const reload = async (incoming: ProxyConfig): Promise<ReloadResult> => {
    const plan = planReload(core.config, incoming);
    const evict = new Set(plan.evict);
    core.setConfig(plan.next);
    log.level = plan.next.logLevel;
    supervisor.setConfig(plan.next);
    for (let w = 0; w < supervisor.count; w++) {
      supervisor.post(w, { t: ToWorker.EvictDestinations, dests: plan.evict, config: plan.next });
    }
    // Downstream sessions of an evicted destination end too: their next request answers 404 and
    // the client re-initializes against the new settings, instead of failing on a dead upstream.
    const victims = [...core.store.all()].filter((s) => evict.has(s.dest));
    await Promise.all(victims.map((s) => core.endSession(s, 'config-changed')));
    if (plan.needsRestart.length > 0) log.warn({ settings: plan.needsRestart }, 'config reload: these settings need a restart and were not applied');
    if (plan.newSessionsOnly.length > 0) log.info({ settings: plan.newSessionsOnly }, 'config reload: these settings apply to new upstream sessions only');
    log.info({ evicted: plan.evict, added: plan.added, sessionsClosed: victims.length }, 'config reloaded');
    return { evicted: plan.evict, added: plan.added, needsRestart: plan.needsRestart, newSessionsOnly: plan.newSessionsOnly, sessionsClosed: victims.length };
  };

  return { url, port: listening.port, host: config.listen.host, core, supervisor, front, reload, close };
}
