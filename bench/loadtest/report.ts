/**
 * The result of a load run: merged from the threads' raw histograms and counters, printed as a text
 * table, and written as report.json + a self-contained report.html.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Histogram } from 'hdr-histogram-js';
import { mergeEncoded, percentileCurve, summarize, type LatencySummary, type PercentilePoint } from './histogram.js';
import { Outcome } from './jsonrpc.js';
import type { ResolvedLoadOptions } from './options.js';
import type { ProcSample } from './proc-stats.js';
import { renderHtml } from './report-html.js';
import { threadCpu, type ThreadCpu, type ThreadTicks } from './thread-stats.js';
import type { WorkerResult } from './worker.js';

export interface TimelinePoint {
  second: number;
  count: number;
  p50Us: number;
  p99Us: number;
}

export interface ProcReport {
  pid: number;
  cpuSeconds: number;
  /** Target CPU (user+sys) per completed request, µs. */
  cpuUsPerRequest: number;
  rssKiBBefore: number;
  rssKiB: number;
  /** The same, over the target and its descendants (e.g. stdio children). */
  treeCpuUsPerRequest: number;
  treeRssKiB: number;
  treeProcesses: number;
  /** CPU per thread group of the target process (main, each session worker, helpers). */
  threads: ThreadCpu[];
}

export interface LoadReport {
  startedAt: string;
  options: {
    url: string;
    transport: string;
    sessions: number;
    concurrency: number;
    durationMs: number | null;
    requests: number | null;
    payload: number;
    threads: number;
    timeoutMs: number;
  };
  elapsedMs: number;
  counts: {
    /** Requests sent (or, for sessions that never came up in a counted run, owed). */
    total: number;
    ok: number;
    errors: number;
    lost: number;
    /** wrongId + wrongToken + crossedSession */
    mismatched: number;
    wrongId: number;
    wrongToken: number;
    crossedSession: number;
  };
  sessionsFailed: number;
  /** Correct replies per second. */
  rps: number;
  latency: LatencySummary;
  percentiles: PercentilePoint[];
  timeline: TimelinePoint[];
  proc: ProcReport | null;
  /** First distinct failure descriptions (bounded). */
  failures: string[];
}

export interface ProcWindow {
  pid: number;
  before: ProcSample;
  after: ProcSample;
  threadsBefore: ThreadTicks[];
  threadsAfter: ThreadTicks[];
}

export function buildReport(
  opts: ResolvedLoadOptions,
  startedAt: Date,
  results: WorkerResult[],
  proc: ProcWindow | undefined,
): LoadReport {
  let all: Histogram | undefined;
  const seconds: (Histogram | undefined)[] = [];
  const c = [0, 0, 0, 0, 0, 0];
  let sessionsFailed = 0;
  let elapsedMs = 0;
  const failures = new Set<string>();
  for (const r of results) {
    all = mergeEncoded(all, r.histogram);
    r.perSecond.forEach((enc, s) => (seconds[s] = mergeEncoded(seconds[s], enc)));
    r.counts.forEach((n, o) => (c[o]! += n));
    sessionsFailed += r.sessionsFailed;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    for (const n of r.notes) if (failures.size < 20) failures.add(`thread ${r.thread}: ${n}`);
  }
  const timeline: TimelinePoint[] = [];
  seconds.forEach((h, second) => {
    const s = summarize(h);
    timeline.push({ second, count: s.count, p50Us: s.p50Us, p99Us: s.p99Us });
    h?.destroy();
  });
  const ok = c[Outcome.Ok]!;
  const mismatched = c[Outcome.WrongId]! + c[Outcome.WrongToken]! + c[Outcome.Crossed]!;
  const total = c.reduce((a, b) => a + b, 0);
  let procReport: ProcReport | null = null;
  if (proc !== undefined) {
    const done = Math.max(1, ok + c[Outcome.Error]! + mismatched);
    procReport = {
      pid: proc.pid,
      cpuSeconds: proc.after.cpuSeconds - proc.before.cpuSeconds,
      cpuUsPerRequest: ((proc.after.cpuSeconds - proc.before.cpuSeconds) * 1e6) / done,
      rssKiBBefore: proc.before.rssKiB,
      rssKiB: proc.after.rssKiB,
      treeCpuUsPerRequest: ((proc.after.treeCpuSeconds - proc.before.treeCpuSeconds) * 1e6) / done,
      treeRssKiB: proc.after.treeRssKiB,
      treeProcesses: proc.after.treeProcesses,
      threads: threadCpu(proc.pid, proc.threadsBefore, proc.threadsAfter, done),
    };
  }
  const report: LoadReport = {
    startedAt: startedAt.toISOString(),
    options: {
      url: opts.url,
      transport: opts.transport,
      sessions: opts.sessions,
      concurrency: opts.concurrency,
      durationMs: opts.durationMs ?? null,
      requests: opts.requests ?? null,
      payload: opts.payload,
      threads: opts.threads,
      timeoutMs: opts.timeoutMs,
    },
    elapsedMs,
    counts: {
      total,
      ok,
      errors: c[Outcome.Error]!,
      lost: c[Outcome.Lost]!,
      mismatched,
      wrongId: c[Outcome.WrongId]!,
      wrongToken: c[Outcome.WrongToken]!,
      crossedSession: c[Outcome.Crossed]!,
    },
    sessionsFailed,
    rps: elapsedMs > 0 ? (ok * 1000) / elapsedMs : 0,
    latency: summarize(all),
    percentiles: percentileCurve(all),
    timeline,
    proc: procReport,
    failures: [...failures],
  };
  all?.destroy();
  return report;
}

export function fmtUs(us: number): string {
  if (us >= 1_000_000) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${Math.round(us)} µs`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The human summary printed on stdout at the end of a run. */
export function textTable(r: LoadReport): string {
  const o = r.options;
  const rows: [string, string][] = [
    ['target', `${o.url} (${o.transport})`],
    ['load', `${o.sessions} sessions × ${o.concurrency} concurrent, payload ${o.payload} B, ${o.threads} thread(s)`],
    ['elapsed', `${(r.elapsedMs / 1000).toFixed(2)} s`],
    ['requests', fmtInt(r.counts.total)],
    ['ok', fmtInt(r.counts.ok)],
    ['throughput', `${fmtInt(r.rps)} req/s`],
    ['errors', fmtInt(r.counts.errors)],
    ['lost', fmtInt(r.counts.lost)],
    [
      'mismatched',
      `${fmtInt(r.counts.mismatched)} (wrong id ${r.counts.wrongId}, wrong token ${r.counts.wrongToken}, crossed session ${r.counts.crossedSession})`,
    ],
    ['sessions failed', fmtInt(r.sessionsFailed)],
    ['latency p50', fmtUs(r.latency.p50Us)],
    ['latency p90', fmtUs(r.latency.p90Us)],
    ['latency p99', fmtUs(r.latency.p99Us)],
    ['latency p99.9', fmtUs(r.latency.p999Us)],
    ['latency max', fmtUs(r.latency.maxUs)],
  ];
  if (r.proc !== null) {
    rows.push(['target cpu/req', `${r.proc.cpuUsPerRequest.toFixed(1)} µs (pid ${r.proc.pid})`]);
    rows.push(['target rss', `${fmtInt(r.proc.rssKiB)} KiB (before ${fmtInt(r.proc.rssKiBBefore)})`]);
    if (r.proc.treeProcesses > 1) {
      rows.push([
        'with children',
        `${r.proc.treeCpuUsPerRequest.toFixed(1)} µs/req, ${fmtInt(r.proc.treeRssKiB)} KiB over ${r.proc.treeProcesses} processes`,
      ]);
    }
    const perThread = r.proc.threads.map((t) => `${t.group} ${t.usPerRequest.toFixed(1)}`).join(', ');
    if (perThread.length > 0) rows.push(['cpu/req by thread', `${perThread} µs`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (r.failures.length > 0) lines.push('failures:', ...r.failures.map((f) => `  ${f}`));
  return lines.join('\n') + '\n';
}

/** Writes report.json and report.html into `dir` (created). */
export function writeReport(dir: string, r: LoadReport): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(html, renderHtml(r));
  return { json, html };
}
