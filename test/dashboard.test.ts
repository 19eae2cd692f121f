/**
 * deploy/grafana-dashboard.json and deploy/prometheus.yml name only metrics a running proxy
 * exports: a real proxy is started and scraped, and every PromQL query in the dashboard (panels
 * and template variables) and every alert example in the scrape file is checked against it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import type { ProxyHandle } from '../src/proxy.js';
import { counterServerPath } from './helpers/counter-upstream.js';
import { type Scrape, scrape } from './helpers/prom.js';
import { rawSession, startTestProxy, stdioCounterYaml } from './helpers/proxy.js';

const root = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));

interface Target { expr?: string; refId: string }
interface Panel { id: number; type: string; title: string; gridPos: { h: number; w: number; x: number; y: number }; datasource?: unknown; targets?: Target[]; panels?: Panel[] }
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
}

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'topk', 'bottomk', 'quantile', 'group',
  'rate', 'irate', 'increase', 'delta', 'deriv', 'histogram_quantile', 'clamp_min', 'clamp_max', 'abs', 'absent',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'label_values',
]);

/** The metric names a PromQL expression selects. */
export function metricNames(expr: string): string[] {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  e = e.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  e = e.replace(/(^|[^\w:])\d+(\.\d+)?(e[-+]?\d+)?/gi, '$1 ');
  const lv = /label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/.exec(e);
  if (lv) return [lv[1]!];
  return (e.match(/[a-zA-Z_:][\w:]*/g) ?? []).filter((t) => !PROMQL_WORDS.has(t));
}

/** Whether `name` is a series of an exported family (histograms export _bucket, _sum, _count). */
function exported(s: Scrape, name: string): boolean {
  if (s.families.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return !!m && ['histogram', 'summary'].includes(s.families.get(m[1]!) ?? '');
}

const dashboard = JSON.parse(readFileSync(root('deploy/grafana-dashboard.json'), 'utf8')) as Dashboard;

function allPanels(list: Panel[]): Panel[] {
  return list.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

function queries(): string[] {
  const out: string[] = [];
  for (const p of allPanels(dashboard.panels)) for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query' || v.query === undefined) continue;
    out.push(typeof v.query === 'string' ? v.query : v.query.query);
  }
  return out;
}

let proxy: ProxyHandle;
let scraped: Scrape;

before(async () => {
  proxy = await startTestProxy(stdioCounterYaml('local', counterServerPath()));
  await rawSession(`${proxy.url}/local/mcp`);
  scraped = await scrape(proxy.url);
});
after(async () => {
  await proxy.close();
});

test('metricNames reads PromQL the way the dashboard writes it', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, dest) (rate(a_bucket{dest=~"$dest",x="sum"}[$__rate_interval])))'), ['a_bucket']);
  assert.deepEqual(metricNames('sum(rate(a{s=~"5.."}[5m])) / clamp_min(sum(rate(b[5m])), 1e-9)'), ['a', 'b']);
  assert.deepEqual(metricNames('label_values(mithril_requests_total, dest)'), ['mithril_requests_total']);
});

test('the dashboard is a Grafana dashboard: uid, title, schema, laid-out panels with a data source', () => {
  assert.equal(dashboard.uid, 'mithril-proxy');
  assert.ok(dashboard.title && dashboard.schemaVersion >= 30);
  const panels = allPanels(dashboard.panels);
  const ids = new Set<number>();
  for (const p of panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
    ids.add(p.id);
    assert.ok(p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
    if (p.type === 'row') continue;
    assert.ok(p.datasource, `${p.title}: has a data source`);
    assert.ok((p.targets ?? []).length > 0, `${p.title}: has a query`);
  }
});

test('every query in the dashboard names only metrics a running proxy exports', () => {
  const qs = queries();
  assert.ok(qs.length >= 20, `${qs.length} queries`);
  const used = new Set<string>();
  for (const q of qs) {
    const names = metricNames(q);
    assert.ok(names.length > 0, `query selects a metric: ${q}`);
    for (const n of names) {
      used.add(n);
      assert.ok(exported(scraped, n), `${n} (in: ${q}) is exported by /metrics`);
    }
  }
  // The operator's questions from the issue each have a panel.
  for (const need of [
    'mithril_requests_total', 'mithril_upstream_latency_seconds_bucket', 'mithril_sessions', 'mithril_stdio_children',
    'mithril_stdio_restarts_total', 'mithril_stdio_exits_total', 'mithril_auth_failures_total', 'mithril_rate_limited_total',
    'mithril_pending_pushes', 'mithril_inflight_requests', 'mithril_slow_reader_cuts_total', 'mithril_workers_up',
  ]) assert.ok(used.has(need), `the dashboard shows ${need}`);
});

test('the Prometheus example scrapes /metrics with the admin token and its alert examples name exported metrics', () => {
  const text = readFileSync(root('deploy/prometheus.yml'), 'utf8');
  const cfg = parse(text) as { scrape_configs: Array<{ job_name: string; metrics_path: string; authorization: { type: string; credentials_file: string }; static_configs: Array<{ targets: string[] }> }> };
  const job = cfg.scrape_configs.find((j) => j.job_name === 'mithril-proxy');
  assert.ok(job);
  assert.equal(job.metrics_path, '/metrics');
  assert.equal(job.authorization.type, 'Bearer');
  assert.ok(job.authorization.credentials_file);
  assert.ok(job.static_configs[0]!.targets.length > 0);
  const alerts = [...text.matchAll(/expr: (.+)$/gm)].map((m) => m[1]!);
  assert.ok(alerts.length >= 3);
  for (const a of alerts) for (const n of metricNames(a)) assert.ok(exported(scraped, n), `${n} (alert: ${a}) is exported`);
});
