/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, pinned; Node 22) against
 * the suite's own reference server (test/fixtures/conformance/, see ORIGIN.md):
 *   direct                      the reference server over Streamable HTTP,
 *   through the proxy → http    the same server as a `streamable_http` destination,
 *   through the proxy → stdio   the same server code as a `stdio` destination (a child per session),
 * and the client scenario `sse-retry` with the SDK client direct and through the proxy.
 * Direct must pass every scenario; every proxied result must equal direct scenario by scenario,
 * except the KNOWN_GAPS entries, which must still differ (so a fix forces their removal).
 * The scenario × path table is printed and written to bench/results/conformance.md.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { ProxyHandle } from '../src/proxy.js';
import {
  CONFORMANCE_VERSION, conformanceCli, conformanceInstallMs, runClientScenario, runServerScenario, runServerSuite,
  type ScenarioResult, type SuiteRun, verdict,
} from './helpers/conformance.js';
import { type ConformancePath, INTERMITTENT_TRIES, KNOWN_GAPS, knownGap } from './helpers/conformance-gaps.js';
import { REPO_ROOT } from './helpers/npm-cache.js';
import { httpYaml, startTestProxy, stopChild, waitFor } from './helpers/proxy.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/conformance/', import.meta.url));
const HTTP_SERVER = join(FIXTURES, 'everything-server.js');
const STDIO_SERVER = join(FIXTURES, 'everything-stdio.js');
const SSE_CLIENT = join(FIXTURES, 'sse-retry-client.js');

let reference: ChildProcessWithoutNullStreams;
let proxy: ProxyHandle;
const urls = new Map<'direct' | 'http' | 'stdio', string>();
/** For intermittent gaps: how many runs it took to see the difference (0 = never seen). */
const reproducedAfter = new Map<string, number>();
/** Causes (KnownGap.cause) that showed in at least one of their scenarios this run. */
const causeSeen = new Set<string>();
const runs = new Map<'direct' | 'http' | 'stdio', SuiteRun>();
const client = new Map<'direct' | 'client-via-proxy', ScenarioResult>();
const started = Date.now();
/**
 * Direct, a scenario takes 0.2–4 s on a loaded 2-core machine; a hang is cut off at this. 10 s
 * cut off tools-call-sampling through the proxy once (2026-12-02, CI sharing the box with another
 * test run): its round trips (call, sampling request, client answer, result) each wait on a busy
 * CPU. 20 s still fails a real hang well inside RUN_MS (3 scenarios run at once).
 */
const SCENARIO_MS = 20_000;
/** The whole run: well under npm test's per-file --test-timeout (120 s), which also bounds it. */
const RUN_MS = 115_000;

/** The reference server on 127.0.0.1:0, as a real child process; resolves with its /mcp URL. */
async function startReference(): Promise<string> {
  reference = spawn(process.execPath, [HTTP_SERVER], { env: { ...process.env, PORT: '0' } });
  let out = '';
  reference.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  reference.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor(() => /MCP endpoint: http:\/\/127\.0\.0\.1:\d+\/mcp/.test(out), 15_000, `reference server (output: ${out})`);
  return /MCP endpoint: (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(out)![1]!;
}

/** Same verdict (check counts and warnings) as direct. */
function same(a: ScenarioResult | undefined, b: ScenarioResult | undefined): boolean {
  return !!a && !!b && a.passed === b.passed && a.failed === b.failed && a.warnings === b.warnings;
}

function cell(r: ScenarioResult | undefined, path: ConformancePath, scenario: string): string {
  const v = verdict(r);
  const gap = knownGap(scenario, path);
  if (!gap) return v;
  if (!gap.intermittent) return `${v} (known gap)`;
  const n = reproducedAfter.get(`${scenario}@${path}`) ?? 0;
  const how = n ? `failed on run ${n}` : gap.cause && causeSeen.has(gap.cause) ? 'passed; its cause showed in another scenario' : `not seen in ${INTERMITTENT_TRIES} runs`;
  return `${v} (known gap, intermittent: ${how})`;
}

function table(): string {
  const direct = runs.get('direct')!.results;
  const lines = [
    `Conformance: \`@modelcontextprotocol/conformance\` ${CONFORMANCE_VERSION}, every server scenario (active and pending), reference server `
      + '`everything-server.ts` (v0.1.16). Cells: checks passed/total; `FAIL 0/1` = no result in 10 s (timed out).', '',
    '| Scenario | direct | proxy → streamable_http | proxy → stdio |', '|---|---|---|---|',
  ];
  const totals = { direct: [0, 0], http: [0, 0], stdio: [0, 0] } as Record<string, [number, number]>;
  for (const [scenario, d] of direct) {
    const h = runs.get('http')?.results.get(scenario);
    const s = runs.get('stdio')?.results.get(scenario);
    lines.push(`| ${scenario} | ${verdict(d)} | ${cell(h, 'http', scenario)} | ${cell(s, 'stdio', scenario)} |`);
    for (const [k, r] of [['direct', d], ['http', h], ['stdio', s]] as const) {
      if (r) { totals[k]![0] += r.passed; totals[k]![1] += r.passed + r.failed; }
    }
  }
  lines.push(`| **server total** | ${totals.direct![0]}/${totals.direct![1]} | ${totals.http![0]}/${totals.http![1]} | ${totals.stdio![0]}/${totals.stdio![1]} |`);
  lines.push('', '| Client scenario | SDK client direct | SDK client through the proxy |', '|---|---|---|');
  lines.push(`| sse-retry | ${verdict(client.get('direct'))} | ${cell(client.get('client-via-proxy'), 'client-via-proxy', 'sse-retry')} |`);
  lines.push('', 'Known gaps (tested: each must still differ from direct):', '');
  for (const g of KNOWN_GAPS) lines.push(`- \`${g.scenario}\` (${g.path}): ${g.reason} — ${g.issue}.`);
  const times = [...runs].map(([k, r]) => `${k} ${(r.ms / 1000).toFixed(1)} s`).join(', ');
  lines.push('', `Run ${new Date().toISOString().slice(0, 10)}: ${times}; whole file ${((Date.now() - started) / 1000).toFixed(1)} s`
    + `${conformanceInstallMs() ? `, first install ${(conformanceInstallMs() / 1000).toFixed(1)} s` : ''}.`);
  return lines.join('\n') + '\n';
}

before(async () => {
  conformanceCli(); // install on first use, before any deadline starts
  const url = await startReference();
  proxy = await startTestProxy(
    httpYaml('ref-http', url)
    + `  ref-stdio:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(STDIO_SERVER)}]\n`,
  );
  urls.set('direct', url).set('http', `${proxy.url}/ref-http/mcp`).set('stdio', `${proxy.url}/ref-stdio/mcp`);
  for (const [path, u] of urls) runs.set(path, await runServerSuite(u, { concurrency: 3, timeoutMs: SCENARIO_MS }));
  // An intermittent gap that passed this time is re-run until it shows (bounded), so it is
  // proven still present rather than assumed.
  // In parallel (each try is its own session), so the wall time is the slowest gap's, not the sum.
  await Promise.all(KNOWN_GAPS.filter((x) => x.intermittent && (x.path === 'http' || x.path === 'stdio')).map(async (g) => {
    const path = g.path as 'http' | 'stdio';
    const d = runs.get('direct')!.results.get(g.scenario);
    let tries = 1;
    let r = runs.get(path)!.results.get(g.scenario);
    if (!same(d, r) && g.cause) causeSeen.add(g.cause);
    while (same(d, r) && tries < INTERMITTENT_TRIES && !(g.cause && causeSeen.has(g.cause))) {
      tries++;
      r = await runServerScenario(urls.get(path)!, g.scenario, SCENARIO_MS);
      if (!same(d, r) && g.cause) causeSeen.add(g.cause);
    }
    reproducedAfter.set(`${g.scenario}@${path}`, same(d, r) ? 0 : tries);
  }));
  // The client command runs through the CLI's shell; process.execPath and our paths have no spaces.
  client.set('direct', await runClientScenario(`${process.execPath} ${SSE_CLIENT}`, 'sse-retry'));
  client.set('client-via-proxy', await runClientScenario(`${process.execPath} ${SSE_CLIENT} --via-proxy`, 'sse-retry'));
}, { timeout: RUN_MS });

after(async () => {
  if (runs.has('direct')) {
    const text = table();
    process.stdout.write(`\n${text}\n`);
    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO_ROOT, 'bench', 'results', 'conformance.md'), text);
  }
  await proxy?.close({ drainMs: 1000 });
  if (reference) await stopChild(reference);
});

describe('official conformance suite', () => {
  test('the reference server passes every server scenario directly', () => {
    const direct = runs.get('direct')!.results;
    assert.ok(direct.size >= 30, `only ${direct.size} scenarios ran`);
    const failing = [...direct.values()].filter((r) => r.failed > 0 || r.passed === 0 && r.warnings === 0);
    assert.deepEqual(failing.map((r) => `${r.scenario}: ${r.problems.join('; ')}`), []);
  });

  for (const path of ['http', 'stdio'] as const) {
    test(`through the proxy → ${path === 'http' ? 'streamable_http' : 'stdio'}: every scenario equals direct, except KNOWN_GAPS`, () => {
      const direct = runs.get('direct')!.results;
      const proxied = runs.get(path)!.results;
      const unexpected: string[] = [];
      const fixedGaps: string[] = [];
      for (const [scenario, d] of direct) {
        const p = proxied.get(scenario);
        const equal = same(d, p);
        const gap = knownGap(scenario, path);
        if (gap?.intermittent) {
          const seen = !!reproducedAfter.get(`${scenario}@${path}`) || (!!gap.cause && causeSeen.has(gap.cause));
          if (!seen) fixedGaps.push(`${scenario}: equal to direct in ${INTERMITTENT_TRIES} runs${gap.cause ? ' (as every gap of its cause)' : ''} — fixed? remove it from KNOWN_GAPS`);
        } else if (gap) {
          if (equal) fixedGaps.push(`${scenario}: now equals direct — remove it from KNOWN_GAPS`);
        } else if (!equal) {
          unexpected.push(`${scenario}: direct ${verdict(d)}, proxy ${verdict(p)} ${p?.problems.join('; ') ?? ''}`);
        }
      }
      for (const g of KNOWN_GAPS.filter((x) => x.path === path && !direct.has(x.scenario))) fixedGaps.push(`${g.scenario}: not a scenario any more`);
      assert.deepEqual(unexpected, []);
      assert.deepEqual(fixedGaps, []);
    });
  }

  test('client scenario sse-retry: the SDK client passes directly; through the proxy it equals direct, except KNOWN_GAPS', () => {
    const d = client.get('direct')!;
    const p = client.get('client-via-proxy')!;
    assert.equal(d.failed, 0, d.problems.join('; '));
    assert.ok(d.passed >= 3, `direct passed ${d.passed}`);
    if (knownGap('sse-retry', 'client-via-proxy')) {
      assert.ok(!same(d, p), 'sse-retry through the proxy now equals direct — remove it from KNOWN_GAPS');
    } else {
      assert.ok(same(d, p), `through the proxy: ${verdict(p)} ${p.problems.join('; ')}`);
    }
  });
});
