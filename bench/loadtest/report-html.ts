/**
 * report.html: one self-contained file (inline SVG, inline CSS, no scripts, no external URLs) with
 * the summary, latency over time (per-second p50/p99) and the latency percentile curve.
 */
import type { LoadReport } from './report.js';

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

interface Tick {
  at: number;
  label: string;
}

const W = 760;
const H = 300;
const PAD = { left: 64, right: 16, top: 16, bottom: 40 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function lineChart(series: Series[], xTicks: Tick[], xMax: number, yLabel: string): string {
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const sx = (x: number): number => PAD.left + (xMax > 0 ? (x / xMax) * iw : 0);
  const sy = (y: number): number => PAD.top + ih - (y / yMax) * ih;
  const parts: string[] = [`<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`];
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    parts.push(
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${+y.toPrecision(3)}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(
      `<line x1="${sx(t.at)}" x2="${sx(t.at)}" y1="${PAD.top}" y2="${PAD.top + ih}" stroke="#eee"/>`,
      `<text x="${sx(t.at)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${esc(t.label)}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${PAD.top + ih / 2}" transform="rotate(-90 14 ${PAD.top + ih / 2})" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(
      `<rect x="${PAD.left + 10 + i * 90}" y="${H - 14}" width="12" height="4" fill="${s.color}"/>`,
      `<text x="${PAD.left + 26 + i * 90}" y="${H - 9}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function timelineChart(r: LoadReport): string {
  const xMax = Math.max(1, r.timeline.length);
  const step = Math.max(1, Math.ceil(xMax / 10));
  const ticks: Tick[] = [];
  for (let s = 0; s <= xMax; s += step) ticks.push({ at: s, label: `${s}s` });
  const at = (p: { second: number }): number => p.second + 0.5;
  const live = r.timeline.filter((p) => p.count > 0);
  return lineChart(
    [
      { name: 'p50', color: '#2a7ab0', points: live.map((p) => [at(p), p.p50Us / 1000]) },
      { name: 'p99', color: '#d0542c', points: live.map((p) => [at(p), p.p99Us / 1000]) },
    ],
    ticks,
    xMax,
    'latency (ms)',
  );
}

/** x = log10(1 / (1 - p)): 0 → 0%, 1 → 90%, 2 → 99%, 3 → 99.9% ... */
function percentileChart(r: LoadReport): string {
  const pts = r.percentiles.filter((p) => p.percentile < 100);
  const x = (p: number): number => Math.log10(100 / (100 - p));
  const xMax = Math.max(1, Math.ceil(Math.max(0, ...pts.map((p) => x(p.percentile)))));
  const labels = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%', '99.9999%'];
  const ticks = labels.slice(0, xMax + 1).map((label, i) => ({ at: i, label }));
  return lineChart(
    [{ name: 'latency', color: '#2a7ab0', points: pts.map((p) => [x(p.percentile), p.valueUs / 1000]) }],
    ticks,
    xMax,
    'latency (ms)',
  );
}

function row(k: string, v: string): string {
  return `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`;
}

export function renderHtml(r: LoadReport): string {
  const o = r.options;
  const ms = (us: number): string => `${(us / 1000).toFixed(3)} ms`;
  const rows = [
    row('target', `${o.url} (${o.transport})`),
    row('started', r.startedAt),
    row('load', `${o.sessions} sessions × ${o.concurrency} concurrent, payload ${o.payload} B, ${o.threads} thread(s)`),
    row('bound', o.durationMs !== null ? `${o.durationMs} ms` : `${o.requests} requests`),
    row('elapsed', `${(r.elapsedMs / 1000).toFixed(2)} s`),
    row('requests / ok', `${r.counts.total} / ${r.counts.ok}`),
    row('throughput', `${Math.round(r.rps)} req/s`),
    row('errors / lost / mismatched', `${r.counts.errors} / ${r.counts.lost} / ${r.counts.mismatched}`),
    row(
      'mismatch detail',
      `wrong id ${r.counts.wrongId}, wrong token ${r.counts.wrongToken}, crossed session ${r.counts.crossedSession}`,
    ),
    row('sessions failed', String(r.sessionsFailed)),
    row('p50 / p90 / p99 / p99.9 / max', [r.latency.p50Us, r.latency.p90Us, r.latency.p99Us, r.latency.p999Us, r.latency.maxUs].map(ms).join(' / ')),
  ];
  if (r.proc !== null) {
    rows.push(row('target CPU per request', `${r.proc.cpuUsPerRequest.toFixed(1)} µs (pid ${r.proc.pid})`));
    rows.push(row('target RSS', `${r.proc.rssKiB} KiB (before: ${r.proc.rssKiBBefore} KiB)`));
    rows.push(row('with children', `${r.proc.treeCpuUsPerRequest.toFixed(1)} µs/req, ${r.proc.treeRssKiB} KiB, ${r.proc.treeProcesses} processes`));
  }
  const failures =
    r.failures.length === 0 ? '' : `<h2>Failures</h2><ul>${r.failures.map((f) => `<li><code>${esc(f)}</code></li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mithril-proxy load report</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:820px}
table{border-collapse:collapse}th{text-align:left;padding:2px 16px 2px 0;font-weight:600}td{padding:2px 0}
svg{font:11px system-ui,sans-serif;background:#fff;border:1px solid #ddd;margin:8px 0}
code{font-size:12px}
</style></head><body>
<h1>Load report</h1>
<table>${rows.join('')}</table>
<h2>Latency over time (per second)</h2>
${timelineChart(r)}
<h2>Latency distribution (percentile curve)</h2>
${percentileChart(r)}
${failures}
</body></html>
`;
}
