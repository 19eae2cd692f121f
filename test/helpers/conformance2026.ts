/**
 * The official MCP conformance suite's 2026-07-28 server scenarios: `@modelcontextprotocol/
 * conformance` 0.2.0-alpha.12 (a prerelease; `latest` on npm is still the 0.1.16 that
 * test/helpers/conformance.ts pins for the session-era scenarios), installed on first use into
 * .cache/conformance-2026/ and run with Node 22. `server --suite all --spec-version 2026-07-28`
 * runs every scenario that applies to 2026-07-28, pending and draft ones included; each writes
 * `server-<scenario>-<timestamp>/checks.json` under `-o DIR`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Check, ScenarioResult } from './conformance.js';
import { cachedPackage } from './npm-cache.js';
import { nodeBinary } from './node-bin.js';

export const CONFORMANCE_2026_VERSION = '0.2.0-alpha.12';
export const SPEC = '2026-07-28';

let installMs = -1;

/** The alpha CLI's entry script, installing the package first if needed. */
export function conformance2026Cli(): string {
  const pkg = cachedPackage('conformance-2026', '@modelcontextprotocol/conformance', CONFORMANCE_2026_VERSION);
  if (installMs < 0) installMs = pkg.installMs;
  return join(pkg.dir, 'dist', 'index.js');
}

/** How long this process spent installing the package (0 when it was cached). */
export function conformance2026InstallMs(): number {
  return Math.max(installMs, 0);
}

/** Count one checks.json: SUCCESS passes, FAILURE fails, WARNING warns; INFO and SKIPPED are neither. */
function tally(scenario: string, checks: Check[]): ScenarioResult {
  const r: ScenarioResult = { scenario, passed: 0, failed: 0, warnings: 0, problems: [] };
  for (const c of checks) {
    if (c.status === 'SUCCESS') r.passed++;
    if (c.status === 'FAILURE') r.failed++;
    if (c.status === 'WARNING') r.warnings++;
    if (c.status === 'FAILURE' || c.status === 'WARNING') r.problems.push(`${c.id}: ${c.errorMessage ?? c.description ?? ''}`);
  }
  return r;
}

const timedOut = (scenario: string, ms: number): ScenarioResult =>
  ({ scenario, passed: 0, failed: 1, warnings: 0, problems: [`timed out: no result within ${ms} ms`] });

/**
 * One CLI process with `args` (plus `-o DIR` and the CLI's own per-scenario `--timeout`), killed
 * when a scenario shows no progress for `stallMs`; the results it wrote, and the scenario it was
 * killed in.
 */
function runProcess(args: string[], stallMs: number): Promise<{ results: Map<string, ScenarioResult>; stalled?: string; output: string }> {
  const outDir = mkdtempSync(join(tmpdir(), 'mithril-conformance-2026-'));
  const child = spawn(nodeBinary(22), [conformance2026Cli(), ...args, '--timeout', String(Math.max(stallMs - 5000, 5000)), '-o', outDir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let current: string | undefined;
  let stalled: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => { stalled = current ?? '(start)'; child.kill('SIGKILL'); }, stallMs);
  };
  let output = '';
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output = (output + d).slice(-8000);
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = /^=== Running scenario: (\S+) ===$/.exec(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m) { current = m[1]; arm(); }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-8000); });
  arm();
  return new Promise((resolve, reject) => {
    child.on('error', (e) => { clearTimeout(timer); rmSync(outDir, { recursive: true, force: true }); reject(e); });
    child.on('close', () => {
      clearTimeout(timer);
      const results = new Map<string, ScenarioResult>();
      try {
        for (const name of readdirSync(outDir)) {
          const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(name);
          // The CLI makes the folder when a scenario starts and writes checks.json when it ends.
          if (!m || !existsSync(join(outDir, name, 'checks.json'))) continue;
          results.set(m[1]!, tally(m[1]!, JSON.parse(readFileSync(join(outDir, name, 'checks.json'), 'utf8')) as Check[]));
        }
      } finally {
        rmSync(outDir, { recursive: true, force: true });
      }
      resolve({ results, stalled, output });
    });
  });
}

const listed: string[] = [];

/** The server scenarios the CLI lists for 2026-07-28, in its order. */
export async function listScenarios2026(): Promise<string[]> {
  if (listed.length) return listed;
  const child = spawn(nodeBinary(22), [conformance2026Cli(), 'list', '--server', '--spec-version', SPEC], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
  const names = [...out.matchAll(/^ {2}- (\S+)/gm)].map((m) => m[1]!);
  if (code !== 0 || names.length === 0) throw new Error(`conformance list --server --spec-version ${SPEC} (exit ${code}) listed nothing:\n${out}`);
  listed.push(...names);
  return listed;
}

/**
 * Every 2026-07-28 server scenario against `url`: one CLI process for the whole suite; a
 * scenario that stalls is counted as timed out there, and the scenarios it left unrun (and any
 * that threw before writing checks) run one process each, `concurrency` at a time.
 */
export async function runSuite2026(url: string, opts: { stallMs?: number; concurrency?: number } = {}): Promise<{ results: Map<string, ScenarioResult>; ms: number }> {
  const stallMs = opts.stallMs ?? 20_000;
  const started = Date.now();
  const scenarios = await listScenarios2026();
  const first = await runProcess(['server', '--url', url, '--suite', 'all', '--spec-version', SPEC], stallMs);
  const results = first.results;
  if (first.stalled) results.set(first.stalled, timedOut(first.stalled, stallMs));
  const rest = scenarios.filter((s) => !results.has(s));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < rest.length) {
      const name = rest[next++]!;
      results.set(name, await runScenario2026(url, name, stallMs));
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 2 }, lane));
  const ordered = new Map<string, ScenarioResult>();
  for (const name of scenarios) ordered.set(name, results.get(name)!);
  for (const [name, r] of results) if (!ordered.has(name)) ordered.set(name, r);
  return { results: ordered, ms: Date.now() - started };
}

/** One scenario in its own CLI process (after a stall, or to re-run a cell that looked wrong). */
export async function runScenario2026(url: string, name: string, stallMs = 20_000): Promise<ScenarioResult> {
  const one = await runProcess(['server', '--url', url, '--scenario', name, '--spec-version', SPEC], stallMs);
  return one.results.get(name)
    ?? (one.stalled ? timedOut(name, stallMs) : { scenario: name, passed: 0, failed: 1, warnings: 0, problems: [`no checks: ${one.output.slice(-500)}`] });
}
