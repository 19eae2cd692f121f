/**
 * Counters a worker thread keeps for what only it sees: upstream latency (forwarded -> first
 * byte of the reply) per destination and transport, and stdio child restarts and unexpected
 * exits. Each thread has its own instance (module state is per thread); the acceptor asks every
 * worker for a snapshot at scrape time (ToWorker.StatsRequest) and adds them up, so the numbers
 * are exact across workers. The hot path holds a FixedHistogram obtained once per upstream
 * session: recording is a scan of 15 bounds and three additions.
 */
import { FixedHistogram, type HistogramData } from './histogram.js';

/** Bound on distinct (destination, transport) keys: destinations are configured, this is a guard. */
const MAX_KEYS = 1024;

export interface WorkerStatsSnapshot {
  /** [destination, transport, histogram] */
  latency: Array<[string, string, HistogramData]>;
  /** [destination, restarts scheduled] */
  restarts: Array<[string, number]>;
  /** [destination, unexpected exits] */
  exits: Array<[string, number]>;
}

export class WorkerStats {
  private readonly latencies = new Map<string, Map<string, FixedHistogram>>();
  private readonly restarts = new Map<string, number>();
  private readonly exits = new Map<string, number>();
  private keys = 0;
  /** Shared by keys past MAX_KEYS, so recording never fails; reported under dest "other". */
  private readonly overflow = new FixedHistogram();

  /** The histogram of (dest, transport); call once per upstream session, not per request. */
  latency(dest: string, transport: string): FixedHistogram {
    let byTransport = this.latencies.get(dest);
    let h = byTransport?.get(transport);
    if (h) return h;
    if (this.keys >= MAX_KEYS) return this.overflow;
    if (!byTransport) this.latencies.set(dest, (byTransport = new Map()));
    byTransport.set(transport, (h = new FixedHistogram()));
    this.keys++;
    return h;
  }

  stdioRestart(dest: string): void {
    this.restarts.set(dest, (this.restarts.get(dest) ?? 0) + 1);
  }

  stdioExit(dest: string): void {
    this.exits.set(dest, (this.exits.get(dest) ?? 0) + 1);
  }

  snapshot(): WorkerStatsSnapshot {
    const latency: WorkerStatsSnapshot['latency'] = [];
    for (const [dest, m] of this.latencies) for (const [transport, h] of m) latency.push([dest, transport, h.data()]);
    if (this.overflow.count > 0) latency.push(['other', 'other', this.overflow.data()]);
    return { latency, restarts: [...this.restarts], exits: [...this.exits] };
  }
}

/** This thread's counters. */
export const workerStats = new WorkerStats();
