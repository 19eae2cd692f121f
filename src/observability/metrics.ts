/**
 * Prometheus metrics, exposed by the main thread. What the acceptor sees (every downstream
 * exchange, sessions, queues) it counts itself; what only workers see (upstream latency, stdio
 * restarts and exits) each worker counts in its own thread (worker-stats.ts) and the acceptor
 * asks every worker for a snapshot at scrape time and adds them up, so every number is exact
 * across workers.
 *
 * Per-request cost is kept to two Map lookups and array increments: requests are counted into a
 * preallocated array per (destination, era, status) indexed by the method's slot (method-label.ts),
 * and durations into a FixedHistogram per (destination, era). `era` is the protocol era of the
 * client's request, '2025' (session revisions) or '2026' (2026-07-28): two values, never more. prom-client formats them at scrape time
 * through collected metrics (registerMetric of an object with get()), so no label object is
 * built or hashed per request.
 */
import client from 'prom-client';
import { FixedHistogram, type HistogramData, type Sample, histogramSamples } from './histogram.js';
import { METHODS, methodIndex } from './method-label.js';
import type { WorkerStatsSnapshot } from './worker-stats.js';

/** The original scrape-time sources (proxy.ts passes them). */
export interface GaugeSources {
  sessions(): number;
  workersUp(): number;
  children(): number;
}

/** What the acceptor core adds once it exists (Core's constructor binds it). */
export interface CoreSources {
  /** Live downstream sessions: destination, owning worker, queued server messages. */
  sessions(): Iterable<{ dest: string; worker: number; queue: readonly unknown[] }>;
  workerCount(): number;
  inflight(worker: number): number;
  /** One snapshot per worker index; undefined for a worker that is down or did not answer. */
  workerStats(): Promise<Array<WorkerStatsSnapshot | undefined>>;
}

/**
 * Bound on distinct values of a client-influenced label (destination names reach logExchange
 * before the unknown-destination check; auth reasons come from other modules): past it, values
 * are reported as "other" so a hostile client cannot grow the series set.
 */
const MAX_LABEL_VALUES = 256;

class BoundedLabels {
  private readonly seen = new Set<string>();
  constructor(private readonly max = MAX_LABEL_VALUES) {}
  of(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(v);
    return v;
  }
}

/** The `era` label: the request's protocol era (acceptor/core.ts passes it; '2025' by default). */
export type MetricsEra = '2025' | '2026';
const ERAS: readonly MetricsEra[] = ['2025', '2026'];

interface EraCounters {
  byStatus: Map<number, Float64Array>;
  duration: FixedHistogram;
}

/** Per destination, one slot per era (index in ERAS), made on the era's first exchange. */
type DestCounters = [EraCounters | undefined, EraCounters | undefined];

type Collected = () => Sample[] | Promise<Sample[]>;

export class Metrics {
  readonly registry = new client.Registry();
  private readonly sources: GaugeSources;
  private core: CoreSources | undefined;
  /** Per destination and era: counts by status, then by method slot; and the exchange durations. */
  private readonly requests = new Map<string, DestCounters>();
  private readonly slowCuts = new Map<string, number>();
  private readonly dests = new BoundedLabels();
  private readonly ended: client.Counter<'dest' | 'reason'>;
  private readonly rejected: client.Counter<'reason'>;
  private readonly authFailures: client.Counter<'reason'>;
  private readonly rateLimitedTotal: client.Counter<'scope'>;
  private readonly authReasons = new BoundedLabels(64);
  private readonly rateScopes = new BoundedLabels(64);
  /** Last snapshot per worker index, and the sum of those of workers that died (kept monotonic). */
  private readonly lastStats: Array<WorkerStatsSnapshot | undefined> = [];
  private readonly retired: WorkerStatsSnapshot = { latency: [], restarts: [], exits: [] };
  /** Bumped per worker death: a snapshot asked for before the death must not land after it. */
  private readonly epochs: number[] = [];

  constructor(sources: GaugeSources) {
    this.sources = sources;
    const registers = [this.registry];
    this.collect('mithril_requests_total', 'counter', 'Downstream exchanges by destination, JSON-RPC method (bounded set, else other; GET/DELETE for HTTP-level exchanges), HTTP status and protocol era (2025 = session revisions, 2026 = 2026-07-28); refused ones included', () => this.requestSamples());
    this.collect('mithril_request_duration_seconds', 'histogram', 'Downstream exchange duration, as the acceptor saw it, by destination and protocol era', () => {
      const out: Sample[] = [];
      for (const [dest, d] of this.requests) {
        d.forEach((e, i) => {
          if (e) out.push(...histogramSamples('mithril_request_duration_seconds', { dest, era: ERAS[i]! }, e.duration));
        });
      }
      return out;
    });
    this.collect('mithril_slow_reader_cuts_total', 'counter', 'SSE streams disconnected because the client did not read (slow_reader_ms / max_buffered_bytes)', () =>
      [...this.slowCuts].map(([dest, value]) => ({ labels: { dest }, value })));
    this.ended = new client.Counter({ name: 'mithril_sessions_ended_total', help: 'Downstream sessions ended, by reason', labelNames: ['dest', 'reason'], registers });
    this.rejected = new client.Counter({ name: 'mithril_rejected_total', help: 'Requests refused before reaching a worker, by reason', labelNames: ['reason'], registers });
    this.authFailures = new client.Counter({ name: 'mithril_auth_failures_total', help: 'Requests refused for missing or bad client credentials, by reason', labelNames: ['reason'], registers });
    this.rateLimitedTotal = new client.Counter({ name: 'mithril_rate_limited_total', help: 'Requests refused with 429 by a rate or session limit, by scope', labelNames: ['scope'], registers });

    this.collect('mithril_sessions', 'gauge', 'Live downstream sessions by destination and worker', () => this.sessionSamples());
    this.collect('mithril_pending_pushes', 'gauge', 'Server messages queued for sessions with no open stream, by destination', () => {
      const by = new Map<string, number>();
      for (const s of this.core?.sessions() ?? []) by.set(s.dest, (by.get(s.dest) ?? 0) + s.queue.length);
      return [...by].map(([dest, value]) => ({ labels: { dest }, value }));
    });
    this.collect('mithril_inflight_requests', 'gauge', 'Requests in flight per worker (bounded by limits.max_inflight_per_worker)', () => {
      const c = this.core;
      if (!c) return [];
      return Array.from({ length: c.workerCount() }, (_, w) => ({ labels: { worker: w }, value: c.inflight(w) }));
    });
    new client.Gauge({ name: 'mithril_workers_up', help: 'Worker threads up', registers, collect() { this.set(sources.workersUp()); } });
    new client.Gauge({ name: 'mithril_stdio_children', help: 'Live stdio child processes', registers, collect() { this.set(sources.children()); } });

    // Worker-side numbers: one round of snapshots per scrape, shared by the three families.
    let round: Promise<WorkerStatsSnapshot[]> | undefined;
    const stats = (): Promise<WorkerStatsSnapshot[]> => (round ??= this.workerRound().finally(() => setImmediate(() => (round = undefined))));
    this.collect('mithril_upstream_latency_seconds', 'histogram', 'From forwarding a request upstream to the first byte of its reply (worker side), by destination and transport', async () => {
      const merged = new Map<string, { dest: string; transport: string; h: FixedHistogram }>();
      for (const snap of await stats()) {
        for (const [dest, transport, d] of snap.latency) {
          const key = `${dest}\u0000${transport}`;
          let m = merged.get(key);
          if (!m) merged.set(key, (m = { dest, transport, h: new FixedHistogram() }));
          m.h.add(d);
        }
      }
      const out: Sample[] = [];
      for (const m of merged.values()) out.push(...histogramSamples('mithril_upstream_latency_seconds', { dest: m.dest, transport: m.transport }, m.h));
      return out;
    });
    this.collect('mithril_stdio_restarts_total', 'counter', 'stdio child restarts scheduled after an unexpected exit, by destination', async () =>
      sumPairs((await stats()).map((s) => s.restarts)));
    this.collect('mithril_stdio_exits_total', 'counter', 'stdio children that exited unexpectedly (not closed by the proxy), by destination', async () =>
      sumPairs((await stats()).map((s) => s.exits)));
    client.collectDefaultMetrics({ register: this.registry, prefix: 'mithril_' });
  }

  /** Called by the acceptor core once it exists. */
  bind(core: CoreSources): void {
    this.core = core;
  }

  /** One downstream exchange (answered by a worker or refused by the acceptor) of a request of `era`. */
  request(dest: string, method: string | undefined, status: number, ms: number, era: MetricsEra = '2025'): void {
    const d = this.requests.get(dest) ?? this.destCounters(dest);
    const slot = era === '2026' ? 1 : 0;
    const e = d[slot] ?? (d[slot] = { byStatus: new Map(), duration: new FixedHistogram() });
    let counts = e.byStatus.get(status);
    if (!counts) e.byStatus.set(status, (counts = new Float64Array(METHODS.length)));
    counts[methodIndex(method)]!++;
    e.duration.observe(ms / 1000);
  }

  /** First exchange of a destination (or any past the label bound, which share "other"). */
  private destCounters(dest: string): DestCounters {
    const label = this.dests.of(dest);
    let d = this.requests.get(label);
    if (!d) this.requests.set(label, (d = [undefined, undefined]));
    return d;
  }

  slowReaderCut(dest: string): void {
    const d = this.dests.of(dest);
    this.slowCuts.set(d, (this.slowCuts.get(d) ?? 0) + 1);
  }

  /** For client authentication: a refused credential (`missing`, `invalid`, `expired`, `forbidden`, ...). */
  authFailure(reason: string): void {
    this.authFailures.labels(this.authReasons.of(reason)).inc();
  }

  /** For rate limiting: a request refused with 429 (`scope`: `client`, `sessions`, `ip`, ...). */
  rateLimited(scope: string): void {
    this.rateLimitedTotal.labels(this.rateScopes.of(scope)).inc();
  }

  sessionEnded(dest: string, reason: string): void {
    this.ended.labels(dest, reason).inc();
  }

  reject(reason: string): void {
    this.rejected.labels(reason).inc();
  }

  /** A worker died: its counters so far stay in the totals (counters never go backwards). */
  workerLost(worker: number): void {
    this.epochs[worker] = (this.epochs[worker] ?? 0) + 1;
    const last = this.lastStats[worker];
    this.lastStats[worker] = undefined;
    if (!last) return;
    this.retired.latency.push(...last.latency);
    this.retired.restarts.push(...last.restarts);
    this.retired.exits.push(...last.exits);
    // Fold so the retired record stays one entry per key, whatever the number of deaths.
    const folded = foldSnapshots([this.retired]);
    Object.assign(this.retired, folded);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private collect(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, values: Collected): void {
    const metric = {
      name, help, type, aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: await values() }),
      reset: () => {},
    };
    // prom-client formats any registered object with get(); its typings only name its own classes.
    this.registry.registerMetric(metric as unknown as client.Metric);
  }

  private requestSamples(): Sample[] {
    const out: Sample[] = [];
    for (const [dest, d] of this.requests) {
      d.forEach((e, k) => {
        if (!e) return;
        const era = ERAS[k]!;
        for (const [status, counts] of e.byStatus) {
          for (let i = 0; i < counts.length; i++) {
            if (counts[i]! > 0) out.push({ labels: { dest, method: METHODS[i]!, status, era }, value: counts[i]! });
          }
        }
      });
    }
    return out;
  }

  private sessionSamples(): Sample[] {
    if (!this.core) return [{ labels: {}, value: this.sources.sessions() }];
    const by = new Map<string, Map<number, number>>();
    for (const s of this.core.sessions()) {
      let w = by.get(s.dest);
      if (!w) by.set(s.dest, (w = new Map()));
      w.set(s.worker, (w.get(s.worker) ?? 0) + 1);
    }
    const out: Sample[] = [];
    for (const [dest, w] of by) for (const [worker, value] of w) out.push({ labels: { dest, worker }, value });
    return out;
  }

  /** Live workers' snapshots (a worker that did not answer counts with its last one) plus the dead ones'. */
  private async workerRound(): Promise<WorkerStatsSnapshot[]> {
    const asked = [...this.epochs];
    const fresh = this.core ? await this.core.workerStats() : [];
    fresh.forEach((s, w) => {
      if (s && (asked[w] ?? 0) === (this.epochs[w] ?? 0)) this.lastStats[w] = s;
    });
    const out: WorkerStatsSnapshot[] = [this.retired];
    for (const s of this.lastStats) if (s) out.push(s);
    return out;
  }
}

function sumPairs(lists: Array<Array<[string, number]>>): Sample[] {
  const by = new Map<string, number>();
  for (const l of lists) for (const [dest, n] of l) by.set(dest, (by.get(dest) ?? 0) + n);
  return [...by].map(([dest, value]) => ({ labels: { dest }, value }));
}

function foldSnapshots(snaps: WorkerStatsSnapshot[]): WorkerStatsSnapshot {
  const lat = new Map<string, [string, string, FixedHistogram]>();
  const restarts = new Map<string, number>();
  const exits = new Map<string, number>();
  for (const s of snaps) {
    for (const [dest, transport, d] of s.latency) {
      const key = `${dest}\u0000${transport}`;
      let e = lat.get(key);
      if (!e) lat.set(key, (e = [dest, transport, new FixedHistogram()]));
      e[2].add(d);
    }
    for (const [d, n] of s.restarts) restarts.set(d, (restarts.get(d) ?? 0) + n);
    for (const [d, n] of s.exits) exits.set(d, (exits.get(d) ?? 0) + n);
  }
  const latency: Array<[string, string, HistogramData]> = [...lat.values()].map(([d, t, h]) => [d, t, h.data()]);
  return { latency, restarts: [...restarts], exits: [...exits] };
}
