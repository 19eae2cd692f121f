/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned), installed on
 * first use into .cache/conformance/ and run with Node 22 (it needs `fs.globSync`). Results come
 * from the CLI's `-o DIR`, which writes `<kind>-<scenario>-<timestamp>/checks.json` per scenario
 * (the machine-readable result; stdout is for people).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedPackage } from './npm-cache.js';
import { nodeBinary } from './node-bin.js';

export const CONFORMANCE_VERSION = '0.1.16';

export type Status = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';

export interface Check {
  id: string;
  status: Status;
  description?: string;
  errorMessage?: string;
}

export interface ScenarioResult {
  scenario: string;
  passed: number;
  failed: number;
  warnings: number;
  /** `check-id: message` of every FAILURE (and WARNING), for the report. */
  problems: string[];
}

export interface SuiteRun {
  results: Map<string, ScenarioResult>;
  ms: number;
}

/** The CLI did not exit within its deadline (it was killed). */
export class CliTimeout extends Error {}

let installMs = -1;

/** The CLI's entry script, installing the package first if needed. */
export function conformanceCli(): string {
  const pkg = cachedPackage('conformance', '@modelcontextprotocol/conformance', CONFORMANCE_VERSION);
  if (installMs < 0) installMs = pkg.installMs;
  return join(pkg.dir, 'dist', 'index.js');
}

/** How long this process spent installing the package (0 when it was cached). */
export function conformanceInstallMs(): number {
  return Math.max(installMs, 0);
}

/** `pass` (no failure, no warning), `warn`, or `FAIL`, with the check counts. */
export function verdict(r: ScenarioResult | undefined): string {
  if (!r) return 'not run';
  const total = r.passed + r.failed;
  if (r.failed > 0) return `FAIL ${r.passed}/${total}`;
  if (r.warnings > 0) return `warn ${r.passed}/${total} (${r.warnings} warnings)`;
  return `pass ${r.passed}/${total}`;
}

/** Run the CLI with Node 22 under a hard deadline; resolves with its exit code and output. */
function runCli(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(nodeBinary(22), [conformanceCli(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CliTimeout(`conformance ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${output.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

/** Count the checks of one checks.json into a result. */
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

/** The one `<prefix><scenario>-<timestamp>/checks.json` a single-scenario run wrote, if any. */
function readChecks(outDir: string, prefix: string): Check[] | undefined {
  const dir = readdirSync(outDir).find((d) => d.startsWith(prefix) && /-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.test(d));
  return dir ? (JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8')) as Check[]) : undefined;
}

/**
 * One server scenario against `url` in its own CLI process under its own deadline: a scenario
 * that hangs (the CLI has no deadline of its own for a server that never answers) becomes one
 * FAILURE "timed out" instead of stalling every scenario after it.
 */
export async function runServerScenario(url: string, scenario: string, timeoutMs = 30_000): Promise<ScenarioResult> {
  const outDir = mkdtempSync(join(tmpdir(), 'mithril-conformance-'));
  try {
    let output: string;
    try {
      ({ output } = await runCli(['server', '--url', url, '--scenario', scenario, '-o', outDir], timeoutMs));
    } catch (e) {
      if (!(e instanceof CliTimeout)) throw e;
      return { scenario, passed: 0, failed: 1, warnings: 0, problems: [`timed out: no result within ${timeoutMs} ms`] };
    }
    const checks = readChecks(outDir, `server-${scenario}-`);
    if (!checks) {
      // The scenario threw before any check was recorded; the CLI printed why.
      return { scenario, passed: 0, failed: 1, warnings: 0, problems: [`no checks: ${output.slice(-500)}`] };
    }
    return tally(scenario, checks);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * Every server scenario the CLI lists (active and pending: `--suite all`) against `url`. One CLI
 * process runs the suite (a process per scenario costs ~0.4 s CPU each, which on a loaded
 * 2-core machine is most of the time); a scenario that shows no progress for `timeoutMs` is cut
 * off there, counted as timed out, and the scenarios after it run one process each.
 */
export async function runServerSuite(url: string, opts: { concurrency?: number; timeoutMs?: number } = {}): Promise<SuiteRun> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const started = Date.now();
  const scenarios = await listScenarios('server');
  const results = new Map<string, ScenarioResult>();
  const outDir = mkdtempSync(join(tmpdir(), 'mithril-conformance-'));
  try {
    const stalled = await runSuiteProcess(url, outDir, timeoutMs);
    for (const name of readdirSync(outDir)) {
      const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(name);
      // The CLI makes the folder when a scenario starts and writes checks.json when it ends.
      if (!m || !existsSync(join(outDir, name, 'checks.json'))) continue;
      results.set(m[1]!, tally(m[1]!, JSON.parse(readFileSync(join(outDir, name, 'checks.json'), 'utf8')) as Check[]));
    }
    if (stalled) results.set(stalled, { scenario: stalled, passed: 0, failed: 1, warnings: 0, problems: [`timed out: no result within ${timeoutMs} ms`] });
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  // After a stall, and for any scenario that threw (no checks.json): one process each.
  const rest = scenarios.filter((s) => !results.has(s));
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < rest.length) {
      const name = rest[next++]!;
      results.set(name, await runServerScenario(url, name, timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 2 }, lane));
  const ordered = new Map<string, ScenarioResult>();
  for (const name of scenarios) ordered.set(name, results.get(name)!);
  return { results: ordered, ms: Date.now() - started };
}

/**
 * `server --suite all` in one process; resolves with the scenario it was killed in when that
 * one made no progress for `stallMs` (undefined when the suite ran to its end).
 */
function runSuiteProcess(url: string, outDir: string, stallMs: number): Promise<string | undefined> {
  const child = spawn(nodeBinary(22), [conformanceCli(), 'server', '--url', url, '--suite', 'all', '-o', outDir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let current: string | undefined;
  let stalled: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => { stalled = current; child.kill('SIGKILL'); }, stallMs);
  };
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = /^=== Running scenario: (\S+) ===$/.exec(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m) { current = m[1]; arm(); }
    }
  });
  child.stderr.resume();
  arm();
  return new Promise((resolve, reject) => {
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', () => { clearTimeout(timer); resolve(stalled); });
  });
}

const listed = new Map<string, string[]>();

/** The scenario names the CLI lists for `list --server` or `list --client`, in its order. */
export async function listScenarios(kind: 'server' | 'client'): Promise<string[]> {
  let names = listed.get(kind);
  if (!names) {
    const { output } = await runCli(['list', `--${kind}`], 60_000);
    names = [...output.matchAll(/^ {2}- (\S+)/gm)].map((m) => m[1]!);
    if (names.length === 0) throw new Error(`conformance list --${kind} listed nothing:\n${output}`);
    listed.set(kind, names);
  }
  return names;
}

/**
 * One client scenario: the CLI starts its scenario server and runs `command <serverUrl>` (split
 * on spaces, run through a shell: keep paths free of spaces and shell characters).
 */
export async function runClientScenario(command: string, scenario: string, timeoutMs = 60_000): Promise<ScenarioResult> {
  const outDir = mkdtempSync(join(tmpdir(), 'mithril-conformance-'));
  try {
    const clientTimeout = Math.max(timeoutMs - 10_000, 5_000);
    const { output } = await runCli(['client', '--command', command, '--scenario', scenario,
      '--timeout', String(clientTimeout), '-o', outDir], timeoutMs);
    const checks = readChecks(outDir, `${scenario}-`);
    if (!checks) throw new Error(`conformance client ${scenario}: no checks.json:\n${output.slice(-4000)}`);
    return tally(scenario, checks);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
