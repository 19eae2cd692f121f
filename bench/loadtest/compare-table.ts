/**
 * Tables for bench:compare: one row per target (median over runs), ratios to the direct path and to
 * each peer, rendered as plain text for the terminal and as Markdown for bench/RESULTS.md.
 */

export interface Measurement {
  rps: number;
  p99Us: number;
  cpuUsPerRequest: number;
  /** Including the target's children (stdio upstreams). */
  treeCpuUsPerRequest: number;
  rssKiB: number;
  idleSessions: number;
  /** (RSS after - RSS before) / sessions, target process only. */
  idleKiBPerSession: number;
  /** The same over the target and its children. */
  idleTreeKiBPerSession: number;
  /** errors + lost + mismatched during the measured load. */
  bad: number;
}

export interface TargetRow {
  key: string;
  label: string;
  /** Median over the successful runs; undefined when every run failed. */
  median: Measurement | undefined;
  runs: number;
  failures: string[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function medianMeasurement(ms: Measurement[]): Measurement | undefined {
  if (ms.length === 0) return undefined;
  const pick = (k: keyof Measurement): number => median(ms.map((m) => m[k]));
  return {
    rps: pick('rps'),
    p99Us: pick('p99Us'),
    cpuUsPerRequest: pick('cpuUsPerRequest'),
    treeCpuUsPerRequest: pick('treeCpuUsPerRequest'),
    rssKiB: pick('rssKiB'),
    idleSessions: pick('idleSessions'),
    idleKiBPerSession: pick('idleKiBPerSession'),
    idleTreeKiBPerSession: pick('idleTreeKiBPerSession'),
    bad: Math.max(...ms.map((m) => m.bad)),
  };
}

const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;

const HEAD = [
  'target',
  'req/s',
  'p99 ms',
  'CPU µs/req',
  'CPU µs/req incl. children',
  'RSS MiB',
  'idle KiB/session',
  'idle KiB/session incl. children',
  'bad replies',
];

function mainCells(r: TargetRow): string[] {
  const m = r.median;
  if (m === undefined) {
    // The full reasons are listed under the table; keep the row readable.
    const reason = r.failures[0] ?? 'unknown';
    return [`(${r.key}) ${r.label}`, `failed: ${reason.length > 60 ? reason.slice(0, 57) + '...' : reason}`, '', '', '', '', '', '', ''];
  }
  return [
    `(${r.key}) ${r.label}`,
    f0(m.rps),
    (m.p99Us / 1000).toFixed(2),
    f1(m.cpuUsPerRequest),
    f1(m.treeCpuUsPerRequest),
    f1(m.rssKiB / 1024),
    `${f1(m.idleKiBPerSession)} (n=${m.idleSessions})`,
    f1(m.idleTreeKiBPerSession),
    f0(m.bad),
  ];
}

const RATIO_HEAD = [
  'target',
  'req/s ÷ (a)',
  'req/s ÷ (e)',
  'req/s ÷ (f)',
  'CPU/req incl. children ÷ (e)',
  'CPU/req incl. children ÷ (f)',
  'idle KiB ÷ (e)',
  'idle KiB ÷ (f)',
  'idle KiB incl. children ÷ (e)',
  'idle KiB incl. children ÷ (f)',
];

function ratioCells(r: TargetRow, byKey: Map<string, Measurement | undefined>): string[] {
  const m = r.median;
  const a = byKey.get('a');
  const e = byKey.get('e');
  const f = byKey.get('f');
  return [
    `(${r.key})`,
    ratio(m?.rps, a?.rps),
    ratio(m?.rps, e?.rps),
    ratio(m?.rps, f?.rps),
    ratio(m?.treeCpuUsPerRequest, e?.treeCpuUsPerRequest),
    ratio(m?.treeCpuUsPerRequest, f?.treeCpuUsPerRequest),
    ratio(m?.idleKiBPerSession, e?.idleKiBPerSession),
    ratio(m?.idleKiBPerSession, f?.idleKiBPerSession),
    ratio(m?.idleTreeKiBPerSession, e?.idleTreeKiBPerSession),
    ratio(m?.idleTreeKiBPerSession, f?.idleTreeKiBPerSession),
  ];
}

function textGrid(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n') + '\n';
}

function mdGrid(rows: string[][]): string {
  const [head, ...body] = rows;
  const line = (r: string[]): string => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head!), `|${head!.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

export function renderTables(rows: TargetRow[], markdown: boolean): string {
  const byKey = new Map(rows.map((r) => [r.key, r.median]));
  const grid = markdown ? mdGrid : textGrid;
  return (
    grid([HEAD, ...rows.map(mainCells)]) +
    '\n' +
    grid([RATIO_HEAD, ...rows.map((r) => ratioCells(r, byKey))])
  );
}
