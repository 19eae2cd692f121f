/**
 * A generator thread (piscina task). One long-running task per thread: set up its sessions, wait for
 * the common start signal, run `concurrency` request loops per session until the deadline or the
 * request quota, then return its raw histograms and counters for the main thread to merge.
 */
import { Pool } from 'undici';
import type { Histogram } from 'hdr-histogram-js';
import { encodeHistogram, newLatencyHistogram } from './histogram.js';
import { OUTCOME_COUNT, Outcome } from './jsonrpc.js';
import type { LoadTransport } from './options.js';
import { FailureNotes, errorText, type LoadSession } from './session.js';
import { SharedState } from './shared-state.js';
import { Sessionless2026Session } from './sessionless-2026-session.js';
import { SseSession } from './sse-session.js';
import { StreamableSession } from './streamable-session.js';

export interface WorkerTask {
  thread: number;
  url: string;
  transport: LoadTransport;
  /** Global session indexes this thread drives. */
  sessions: number[];
  /** Requests per session (same order as `sessions`), or undefined for a timed run. */
  quotas: number[] | undefined;
  durationMs: number | undefined;
  concurrency: number;
  payload: number;
  timeoutMs: number;
  shared: SharedArrayBuffer;
}

export interface WorkerResult {
  thread: number;
  /** Encoded latency histogram (µs) of every judged request. */
  histogram: string;
  /** Encoded per-second histograms (index = second since the start signal). */
  perSecond: string[];
  /** Indexed by Outcome. */
  counts: number[];
  sessionsFailed: number;
  notes: string[];
  /** Milliseconds from the start signal to the last reply of this thread. */
  elapsedMs: number;
}

/** After a connection-level failure, wait a little so a dead target does not spin the loop hot. */
const LOST_BACKOFF_MS = 10;
const SETUP_PARALLELISM = 32;

export default async function runThread(task: WorkerTask): Promise<WorkerResult> {
  const shared = new SharedState(task.shared);
  const url = new URL(task.url);
  const notes = new FailureNotes();
  const counts = new Array<number>(OUTCOME_COUNT).fill(0);
  const total = newLatencyHistogram();
  const perSecond: Histogram[] = [];
  // Connections are bounded by sessions × concurrency; the SSE GET streams get their own pool.
  const pool = new Pool(url.origin, {
    connections: task.sessions.length * task.concurrency,
    pipelining: 1,
    keepAliveTimeout: 30_000,
  });
  const streamPool =
    task.transport === 'sse' ? new Pool(url.origin, { connections: task.sessions.length, pipelining: 1 }) : undefined;

  const stray = (outcome: Outcome): void => {
    counts[outcome]!++;
    shared.count(task.thread, outcome);
  };
  const sessions: LoadSession[] = task.sessions.map((index) =>
    streamPool !== undefined
      ? new SseSession(pool, streamPool, url, index, task.payload, task.timeoutMs, notes, stray)
      : task.transport === 'streamable-2026'
        ? new Sessionless2026Session(pool, url, index, task.payload, task.timeoutMs, notes)
        : new StreamableSession(pool, url, index, task.payload, task.timeoutMs, notes),
  );

  const live = await setupAll(sessions, notes);
  let sessionsFailed = 0;
  for (let i = 0; i < sessions.length; i++) {
    if (live[i]) continue;
    sessionsFailed++;
    // In a counted run, a session that never came up loses its whole quota: totals must add up.
    const quota = task.quotas?.[i] ?? 0;
    counts[Outcome.Lost]! += quota;
    for (let q = 0; q < quota; q++) shared.count(task.thread, Outcome.Lost);
  }

  shared.markReady();
  while (!shared.isGo() && !shared.isStopped()) await sleep(1);
  const start = performance.now();
  const deadline = task.durationMs === undefined ? Infinity : start + task.durationMs;

  const loops: Promise<void>[] = [];
  for (let i = 0; i < sessions.length; i++) {
    if (!live[i]) continue;
    const session = sessions[i]!;
    // Sequence numbers are per session and shared by its loops; seq 0 was the initialize.
    const state = { next: 1, remaining: task.quotas?.[i] ?? Infinity };
    for (let c = 0; c < task.concurrency; c++) loops.push(loop(session, state));
  }

  async function loop(session: LoadSession, state: { next: number; remaining: number }): Promise<void> {
    while (state.remaining > 0 && !shared.isStopped()) {
      const t0 = performance.now();
      if (t0 >= deadline) return;
      state.remaining--;
      const outcome = await session.call(state.next++);
      const t1 = performance.now();
      counts[outcome]!++;
      shared.count(task.thread, outcome);
      if (outcome === Outcome.Lost) {
        await sleep(LOST_BACKOFF_MS);
        continue;
      }
      const us = Math.max(1, Math.round((t1 - t0) * 1000));
      total.recordValue(us);
      const second = Math.floor((t1 - start) / 1000);
      (perSecond[second] ??= newLatencyHistogram(2)).recordValue(us);
    }
  }

  await Promise.all(loops);
  const elapsedMs = performance.now() - start;
  shared.markDone();
  while (!shared.isReleased()) await sleep(1);
  await Promise.all(sessions.map((s, i) => (live[i] ? s.close() : Promise.resolve())));
  await pool.close();
  await streamPool?.close();

  const empty = newLatencyHistogram(2);
  const result: WorkerResult = {
    thread: task.thread,
    histogram: encodeHistogram(total),
    perSecond: Array.from(perSecond, (h) => encodeHistogram(h ?? empty)),
    counts,
    sessionsFailed,
    notes: notes.list(),
    elapsedMs,
  };
  total.destroy();
  for (const h of perSecond) h?.destroy();
  empty.destroy();
  return result;
}

async function setupAll(sessions: LoadSession[], notes: FailureNotes): Promise<boolean[]> {
  const live = new Array<boolean>(sessions.length).fill(false);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < sessions.length) {
      const i = next++;
      try {
        await sessions[i]!.setup();
        live[i] = true;
      } catch (err) {
        notes.add(`session setup failed: ${errorText(err)}`);
        await sessions[i]!.close();
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(SETUP_PARALLELISM, sessions.length) }, lane));
  return live;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
