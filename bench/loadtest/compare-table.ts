/**
 * Tables for bench:compare: per target the median over runs of each number, ratios to the direct
 * path and to HAProxy measured in the same run, rendered as plain text (terminal) or Markdown
 * (bench/RESULTS.md). One table per load scenario, one per-thread CPU table, one for the
 * notification stream and one for memory.
 */
import type { ThreadCpu } from './thread-stats.js';

export interface LoadMeasurement {
  rps: number;
  p50Us: number;
  p99Us: number;
  /** The target's own CPU per request. */
  ownCpuUsPerRequest: number;
  /** Including its children (stdio upstreams): the fair number across designs. */
  cpuUsPerRequest: number;
  rssKiB: number;
  /** errors + lost + mismatched. */
  bad: number;
  threads: ThreadCpu[];
  /** --count-posts: postMessage calls per request and characters per string message, per thread. */
  posts?: { thread: string; perRequest: number; charsPerPost: number }[] | undefined;
}

export interface FloodMeasurement {
  bytesPerSec: number;
  eventsPerSec: number;
  cpuUsPerMiB: number;
  bad: number;
  threads: ThreadCpu[];
}

export interface MemoryMeasurement {
  /** Target (and children) RSS after start-up, before any load. */
  startRssKiB: number;
  /** After every load of the run. */
  afterLoadRssKiB: number;
  idleSessions: number;
  idleKiBPerSession: number;
  idleTreeKiBPerSession: number;
}

export interface RunMeasurement {
  loads: Map<string, LoadMeasurement>;
  flood: FloodMeasurement | undefined;
  /** Why the notification stream failed in this run (the load numbers still count). */
  floodFailure?: string | undefined;
  memory: MemoryMeasurement;
}

export interface TargetRow {
  key: string;
  label: string;
  runs: RunMeasurement[];
  failures: string[];
}

/** Keys with a meaning in the ratio columns. */
export const DIRECT = 'a';
export const HAPROXY = 'h';

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianOf<T>(items: T[], pick: (t: T) => number): number {
  return median(items.map(pick));
}

/** Median per thread group over runs (a group missing in a run counts as absent, not 0). */
function medianThreads(lists: ThreadCpu[][], value: (t: ThreadCpu) => number): Map<string, number> {
  const by = new Map<string, number[]>();
  for (const l of lists) for (const t of l) (by.get(t.group) ?? by.set(t.group, []).get(t.group)!).push(value(t));
  return new Map([...by].map(([g, xs]) => [g, median(xs)]));
}

const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(2) : '–');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–');
const mib = (kib: number): string => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : '–');

function textGrid(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n') + '\n';
}

function mdGrid(rows: string[][]): string {
  const [head, ...body] = rows;
  const line = (r: string[]): string => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head!), `|${head!.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

const name = (r: TargetRow): string => `(${r.key}) ${r.label}`;

function failedRow(r: TargetRow, width: number): string[] {
  const reason = r.failures[0] ?? 'no run';
  return [name(r), `failed: ${reason.length > 60 ? reason.slice(0, 57) + '...' : reason}`, ...Array<string>(width - 2).fill('')];
}

function loadTable(rows: TargetRow[], scenario: string): string[][] {
  const head = ['target', 'req/s', '× direct', '× HAProxy', 'CPU µs/req', 'CPU × HAProxy', 'p50 ms', 'p99 ms', 'p99 × HAProxy', 'RSS MiB', 'bad replies', 'runs'];
  const meds = new Map(
    rows.map((r) => {
      const ls = r.runs.map((x) => x.loads.get(scenario)).filter((x): x is LoadMeasurement => x !== undefined);
      return [r.key, ls.length === 0 ? undefined : {
        n: ls.length,
        rps: medianOf(ls, (l) => l.rps),
        cpu: medianOf(ls, (l) => l.cpuUsPerRequest),
        p50: medianOf(ls, (l) => l.p50Us),
        p99: medianOf(ls, (l) => l.p99Us),
        rss: medianOf(ls, (l) => l.rssKiB),
        bad: Math.max(...ls.map((l) => l.bad)),
      }] as const;
    }),
  );
  const d = meds.get(DIRECT);
  const h = meds.get(HAPROXY);
  return [head, ...rows.map((r) => {
    const m = meds.get(r.key);
    if (m === undefined) return failedRow(r, head.length);
    return [name(r), f0(m.rps), ratio(m.rps, d?.rps ?? NaN), ratio(m.rps, h?.rps ?? NaN), f1(m.cpu), ratio(m.cpu, h?.cpu ?? NaN),
      ms(m.p50), ms(m.p99), ratio(m.p99, h?.p99 ?? NaN), mib(m.rss), f0(m.bad), String(m.n)];
  })];
}

function threadTable(rows: TargetRow[], pick: (run: RunMeasurement) => ThreadCpu[] | undefined, unit: string,
  value: (t: ThreadCpu) => number = (t) => t.usPerRequest, fmt: (n: number) => string = f1): string[][] | undefined {
  const per = rows
    .map((r) => ({ r, med: medianThreads(r.runs.map(pick).filter((x): x is ThreadCpu[] => x !== undefined), value) }))
    // Only targets with named session workers: for the others "main" is the whole process anyway.
    .filter(({ med }) => [...med.keys()].some((g) => g.startsWith('worker ')));
  if (per.length === 0) return undefined;
  const groups = [...new Set(per.flatMap(({ med }) => [...med.keys()]))].sort(
    (a, b) => (a === 'main' ? -1 : b === 'main' ? 1 : a === 'helpers' ? 1 : b === 'helpers' ? -1 : a.localeCompare(b, 'en', { numeric: true })),
  );
  const head = ['target', ...groups.map((g) => `${g} ${unit}`), `sum ${unit}`];
  return [head, ...per.map(({ r, med }) => [name(r), ...groups.map((g) => fmt(med.get(g) ?? NaN)), fmt([...med.values()].reduce((a, b) => a + b, 0))])];
}

function floodTable(rows: TargetRow[]): string[][] | undefined {
  const head = ['target', 'MiB/s', '× direct', '× HAProxy', 'events/s', 'CPU µs/MiB', 'bad streams', 'runs'];
  const meds = new Map(
    rows.map((r) => {
      const fs = r.runs.map((x) => x.flood).filter((x): x is FloodMeasurement => x !== undefined);
      return [r.key, fs.length === 0 ? undefined : {
        n: fs.length,
        bps: medianOf(fs, (f) => f.bytesPerSec),
        eps: medianOf(fs, (f) => f.eventsPerSec),
        cpu: medianOf(fs, (f) => f.cpuUsPerMiB),
        bad: Math.max(...fs.map((f) => f.bad)),
      }] as const;
    }),
  );
  if ([...meds.values()].every((m) => m === undefined)) return undefined;
  const d = meds.get(DIRECT);
  const h = meds.get(HAPROXY);
  const streamFailed = (r: TargetRow): string | undefined => r.runs.find((x) => x.floodFailure !== undefined)?.floodFailure;
  return [head, ...rows.filter((r) => meds.get(r.key) !== undefined || streamFailed(r) !== undefined).map((r) => {
    const m = meds.get(r.key);
    if (m === undefined) return failedRow({ ...r, failures: [streamFailed(r)!] }, head.length);
    return [name(r), f1(m.bps / (1024 * 1024)), ratio(m.bps, d?.bps ?? NaN), ratio(m.bps, h?.bps ?? NaN), f0(m.eps), f0(m.cpu), f0(m.bad), String(m.n)];
  })];
}

function memoryTable(rows: TargetRow[]): string[][] {
  const head = ['target', 'RSS at start MiB', 'RSS after load MiB', 'idle KiB/session', 'idle KiB/session incl. children'];
  return [head, ...rows.map((r) => {
    const ms = r.runs.map((x) => x.memory);
    if (ms.length === 0) return failedRow(r, head.length);
    const n = medianOf(ms, (m) => m.idleSessions);
    return [name(r), mib(medianOf(ms, (m) => m.startRssKiB)), mib(medianOf(ms, (m) => m.afterLoadRssKiB)),
      `${f1(medianOf(ms, (m) => m.idleKiBPerSession))} (n=${f0(n)})`, f1(medianOf(ms, (m) => m.idleTreeKiBPerSession))];
  })];
}

export interface ScenarioSpec {
  key: string;
  sessions: number;
  concurrency: number;
}

/** All tables; headings are Markdown `###` or plain lines. */
export function renderTables(rows: TargetRow[], scenarios: ScenarioSpec[], markdown: boolean): string {
  const grid = markdown ? mdGrid : textGrid;
  const heading = (t: string): string => (markdown ? `### ${t}\n\n` : `${t}\n`);
  const parts: string[] = [];
  for (const s of scenarios) {
    parts.push(heading(`${s.sessions} session(s) × ${s.concurrency} connections: tools/call echo`) + grid(loadTable(rows, s.key)));
  }
  for (const s of scenarios) {
    const t = threadTable(rows, (run) => run.loads.get(s.key)?.threads, 'µs/req');
    if (t !== undefined) parts.push(heading(`CPU per thread, ${s.sessions} × ${s.concurrency} (µs per request)`) + grid(t));
  }
  const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
  for (const s of scenarios) {
    const t = threadTable(rows, (run) => run.loads.get(s.key)?.threads, 'sleeps/req', (x) => x.wakeupsPerRequest, f2);
    // Voluntary context switches: each is one wait of that thread's event loop ended by a wake-up.
    if (t !== undefined) parts.push(heading(`Wake-ups per thread, ${s.sessions} × ${s.concurrency} (voluntary context switches per request)`) + grid(t));
  }
  const f = floodTable(rows);
  if (f !== undefined) {
    parts.push(heading('SSE notification stream (server → client)') + grid(f));
    const ft = threadTable(rows, (run) => run.flood?.threads, 'µs/MiB');
    if (ft !== undefined) parts.push(heading('CPU per thread, notification stream (µs per MiB)') + grid(ft));
  }
  parts.push(heading('Memory') + grid(memoryTable(rows)));
  return parts.join('\n');
}
