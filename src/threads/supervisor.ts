/**
 * Starts and watches the N session workers. A worker that dies is logged once with its cause,
 * its entries in the session table are invalidated in one step (generation bump, so its sessions
 * answer 404 and clients re-initialize), the stdio children it owned are killed by process group,
 * and a fresh worker takes its index after a short backoff. The process keeps serving throughout.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config/types.js';
import { Outbox, type ToMainMsg, ToMain, type ToWorkerMsg, type WorkerInit, decodeToMain, encodeToWorker, receive } from './messages.js';
import type { SessionTable } from './session-table.js';

const WORKER_URL = new URL('../../workers/session-worker.js', import.meta.url);
const RESTART_BACKOFF_MS = [100, 500, 2000, 5000];
/**
 * Each worker's young generation (V8 new space, ≈ 3 × its semi-space), in MiB. V8's default lets
 * a busy worker's nursery grow to 48 MiB that stays resident after the load; measured in
 * bench/RESULTS.md (issue 13): 12 MiB took the 1-worker proxy's RSS after load from 144 to 127 MiB
 * (with the main thread's --max-semi-space-size=4, see package.json "start", to 112) at no
 * measurable CPU cost; 6 MiB cost CPU.
 */
const WORKER_YOUNG_GENERATION_MB = 12;

export interface SupervisorHooks {
  message(worker: number, msg: ToMainMsg): void;
  /** Called once per death, after the table was invalidated. */
  workerLost(worker: number, cause: string): void;
  /** The requestState key every worker (and respawned worker) gets in WorkerInit (B1 MRTR). */
  readonly requestStateKey: Uint8Array;
}

interface Slot {
  worker: Worker | null;
  /** Batches messages to `worker` per event-loop turn (messages.ts). */
  outbox: Outbox<ToWorkerMsg> | null;
  ready: boolean;
  /** Pids of stdio children this worker started (each is its own process group). */
  children: Set<number>;
  deaths: number;
  /** Requests in flight, for the per-worker bound. */
  inflight: number;
}

export class Supervisor {
  readonly count: number;
  private readonly slots: Slot[];
  private config: ProxyConfig;
  private readonly table: SessionTable;
  private readonly hooks: SupervisorHooks;
  private readonly log: Logger;
  private stopping = false;
  /** Where pickLeastInflight starts its scan (tie-break rotation). */
  private rotor = 0;

  constructor(config: ProxyConfig, table: SessionTable, hooks: SupervisorHooks, log: Logger) {
    this.count = config.workers;
    this.config = config;
    this.table = table;
    this.hooks = hooks;
    this.log = log;
    this.slots = Array.from({ length: this.count }, () => ({ worker: null, outbox: null, ready: false, children: new Set<number>(), deaths: 0, inflight: 0 }));
  }

  /** Resolves when every worker reported Ready. */
  async start(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => this.spawn(i)));
  }

  setConfig(config: ProxyConfig): void {
    this.config = config;
  }

  post(worker: number, msg: ToWorkerMsg): boolean {
    const s = this.slots[worker];
    if (!s?.worker || !s.outbox) return false;
    s.outbox.send(msg);
    return true;
  }

  isUp(worker: number): boolean {
    const s = this.slots[worker];
    return !!s && s.ready && s.worker !== null;
  }

  upCount(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.isUp(i)) n++;
    return n;
  }

  inflight(worker: number): number {
    return this.slots[worker]?.inflight ?? 0;
  }

  addInflight(worker: number, delta: number): void {
    const s = this.slots[worker];
    if (s) s.inflight = Math.max(0, s.inflight + delta);
  }

  /** The live worker with the fewest sessions, or -1 if none is up. */
  pick(): number {
    let best = -1;
    let bestLoad = Infinity;
    for (let i = 0; i < this.count; i++) {
      if (!this.isUp(i)) continue;
      const load = this.table.liveCount(i);
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  /**
   * The live worker with the fewest requests in flight, or -1 if none is up: 2026 requests have
   * no session to pin them. Ties rotate, so sequential requests on an idle proxy spread over workers
   * (an MRTR retry lands on whatever worker, as the 2026 model intends).
   */
  pickLeastInflight(): number {
    let best = -1;
    let bestLoad = Infinity;
    const start = this.rotor;
    this.rotor = (this.rotor + 1) % this.count;
    for (let k = 0; k < this.count; k++) {
      const i = (start + k) % this.count;
      if (!this.isUp(i)) continue;
      const load = this.slots[i]!.inflight;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Live stdio child pids across all workers (operators' diagnostics and tests). */
  childPids(): number[] {
    const out: number[] = [];
    for (const s of this.slots) out.push(...s.children);
    return out;
  }

  childCount(): number {
    let n = 0;
    for (const s of this.slots) n += s.children.size;
    return n;
  }

  /** For tests and operators: end a worker as a crash would. */
  async kill(worker: number): Promise<void> {
    await this.slots[worker]?.worker?.terminate();
  }

  /** Stop every worker; the caller has already asked them to close their sessions. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.slots.map(async (s) => {
      const w = s.worker;
      s.worker = null;
      s.outbox = null;
      if (w) await w.terminate();
      this.killChildren(s);
    }));
  }

  /** Last resort on process exit: no child outlives the proxy. */
  killAllChildrenSync(): void {
    for (const s of this.slots) this.killChildren(s);
  }

  private spawn(index: number): Promise<void> {
    const slot = this.slots[index]!;
    const init: WorkerInit = { index, config: this.config, requestStateKey: this.hooks.requestStateKey };
    const worker = new Worker(WORKER_URL, {
      workerData: init,
      name: `mithril-worker-${index}`,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    slot.worker = worker;
    slot.outbox = new Outbox<ToWorkerMsg>(worker, encodeToWorker);
    slot.ready = false;
    let cause = 'exited';
    return new Promise<void>((resolve) => {
      const deliver = (msg: ToMainMsg): void => {
        switch (msg.t) {
          case ToMain.Ready:
            slot.ready = true;
            resolve();
            return;
          case ToMain.ChildUp:
            slot.children.add(msg.pid);
            break;
          case ToMain.ChildDown:
            slot.children.delete(msg.pid);
            break;
        }
        this.hooks.message(index, msg);
      };
      let faults = 0;
      const fault = (err: unknown): void => {
        if (faults++ % 100 === 0) this.log.error({ worker: index, err: err instanceof Error ? err.message : String(err), faults }, 'thread message dropped: corrupt batch or handler fault');
      };
      worker.on('message', (data: string | ToMainMsg) => receive(decodeToMain, data, deliver, fault));
      worker.on('error', (err) => {
        cause = err.stack ?? err.message;
      });
      worker.on('exit', (code) => {
        if (slot.worker !== worker) return;
        slot.worker = null;
        slot.outbox = null;
        slot.ready = false;
        slot.inflight = 0;
        resolve();
        if (this.stopping) return;
        const stale = this.table.bumpWorkerGeneration(index);
        this.killChildren(slot);
        this.log.error({ worker: index, exitCode: code, sessionsLost: stale, cause }, 'worker thread died; its sessions are gone, restarting it');
        this.hooks.workerLost(index, cause);
        const delay = RESTART_BACKOFF_MS[Math.min(slot.deaths++, RESTART_BACKOFF_MS.length - 1)]!;
        setTimeout(() => {
          if (!this.stopping) void this.spawn(index);
        }, delay).unref();
      });
    });
  }

  private killChildren(slot: Slot): void {
    for (const pid of slot.children) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    slot.children.clear();
  }
}
