/**
 * runLoad: spreads the sessions over piscina worker threads (one long-running task per thread, so
 * the generator is not the bottleneck), starts them together once every session is set up, prints a
 * progress line every second, samples the target process around the measured window, and merges the
 * threads' raw results into one LoadReport.
 */
import { Piscina } from 'piscina';
import { Outcome } from './jsonrpc.js';
import { resolveOptions, type LoadOptions, type ResolvedLoadOptions } from './options.js';
import { sampleProcess, type ProcSample } from './proc-stats.js';
import { buildReport, fmtInt, writeReport, type LoadReport } from './report.js';
import { SharedState } from './shared-state.js';
import { sampleThreads, type ThreadTicks } from './thread-stats.js';
import type { WorkerResult, WorkerTask } from './worker.js';

export type { LoadOptions } from './options.js';
export type { LoadReport } from './report.js';

/** Splits `total` into `parts` near-equal integers. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

function tasksFor(opts: ResolvedLoadOptions, shared: SharedState): WorkerTask[] {
  const quotas = opts.requests === undefined ? undefined : split(opts.requests, opts.sessions);
  const perThread = split(opts.sessions, opts.threads);
  const tasks: WorkerTask[] = [];
  let next = 0;
  perThread.forEach((n, thread) => {
    const sessions = Array.from({ length: n }, (_, i) => next + i);
    tasks.push({
      thread,
      url: opts.url,
      transport: opts.transport,
      sessions,
      quotas: quotas === undefined ? undefined : sessions.map((s) => quotas[s]!),
      durationMs: opts.durationMs,
      concurrency: opts.concurrency,
      payload: opts.payload,
      timeoutMs: opts.timeoutMs,
      shared: shared.buffer,
    });
    next += n;
  });
  return tasks;
}

function progressLine(second: number, totals: number[], previousOk: number): string {
  const ok = totals[Outcome.Ok]!;
  const mism = totals[Outcome.WrongId]! + totals[Outcome.WrongToken]! + totals[Outcome.Crossed]!;
  return (
    `[${String(second).padStart(3)}s] ${fmtInt(ok - previousOk).padStart(8)} req/s  ok ${fmtInt(ok)}  ` +
    `errors ${totals[Outcome.Error]}  lost ${totals[Outcome.Lost]}  mismatched ${mism}\n`
  );
}

/** Runs one bounded load against `opts.url` and returns (and, with `out`, writes) the report. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const opts = resolveOptions(options);
  const startedAt = new Date();
  const shared = new SharedState(opts.threads);
  const pool = new Piscina({
    filename: new URL('./worker.js', import.meta.url).href,
    minThreads: opts.threads,
    maxThreads: opts.threads,
    // One task per thread for the whole run: no queueing, and never park a thread that owns sockets.
    maxQueue: 0,
    concurrentTasksPerWorker: 1,
    atomics: 'disabled',
    idleTimeout: 1000,
  });
  let failed: unknown;
  const running = tasksFor(opts, shared).map((t) =>
    pool.run(t).catch((err: unknown) => {
      failed ??= err;
      shared.stop();
      throw err;
    }) as Promise<WorkerResult>,
  );
  // Keep an early rejection from being reported as unhandled before Promise.all observes it.
  for (const p of running) p.catch(() => undefined);

  let progress: NodeJS.Timeout | undefined;
  const onSigint = (): void => shared.stop();
  process.once('SIGINT', onSigint);
  try {
    while (shared.readyCount() < opts.threads && failed === undefined) await new Promise((r) => setTimeout(r, 5));
    let before: ProcSample | undefined;
    let threadsBefore: ThreadTicks[] = [];
    if (opts.pid !== undefined) {
      before = sampleProcess(opts.pid);
      threadsBefore = sampleThreads(opts.pid);
    }
    shared.go();
    if (opts.progress) {
      let second = 0;
      let previousOk = 0;
      progress = setInterval(() => {
        const totals = shared.totals(opts.threads);
        process.stderr.write(progressLine(++second, totals, previousOk));
        previousOk = totals[Outcome.Ok]!;
      }, 1000);
    }
    while (shared.doneCount() < opts.threads && failed === undefined) await new Promise((r) => setTimeout(r, 2));
    const after = opts.pid !== undefined ? sampleProcess(opts.pid) : undefined;
    const threadsAfter = opts.pid !== undefined ? sampleThreads(opts.pid) : [];
    shared.release();
    const results = await Promise.all(running);
    const procWindow =
      opts.pid !== undefined && before !== undefined && after !== undefined ? { pid: opts.pid, before, after, threadsBefore, threadsAfter } : undefined;
    const report = buildReport(opts, startedAt, results, procWindow);
    if (opts.out !== undefined) writeReport(opts.out, report);
    return report;
  } finally {
    if (progress !== undefined) clearInterval(progress);
    process.removeListener('SIGINT', onSigint);
    shared.stop();
    await Promise.allSettled(running);
    await pool.destroy();
  }
}
