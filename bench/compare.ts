/**
 * `npm run bench:compare`: the same load, on the same machine, in one run, against
 *   (a) the fast upstream directly over HTTP,
 *   (b) mithril-proxy with 1 worker and (c) with N workers (N = cores) in front of the fast HTTP upstream,
 *   (d) mithril-proxy (N workers) in front of the fast stdio upstream,
 *   (e) supergateway 4.0.0 (--stateful, streamableHttp) and (f) mcp-proxy 6.7.19, both in front of
 *       the same stdio upstream.
 * Per target: start, wait until it listens, warm up, measure idle-session memory, run the load with the
 * target's pid (CPU per request, RSS), stop. Targets are visited round-robin for --runs rounds and the
 * median is reported; a target that fails gets a 'failed: reason' row and the run goes on.
 * Writes bench/RESULTS.md (command, machine, tables) unless --no-write.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { medianMeasurement, renderTables, type Measurement, type TargetRow } from './loadtest/compare-table.js';
import { openIdleSessions } from './loadtest/idle-sessions.js';
import { parseDuration } from './loadtest/options.js';
import { sampleProcess } from './loadtest/proc-stats.js';
import { runLoad } from './loadtest/run.js';
import { freePort, mithrilListening, spawnTarget, type RunningTarget } from './loadtest/targets.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const NODE = process.execPath;
const FAST_UPSTREAM = join(ROOT, 'dist', 'examples', 'fast-upstream.js');
const MITHRIL_CLI = join(ROOT, 'dist', 'src', 'cli.js');
const PRELOAD = join(ROOT, 'dist', 'bench', 'loadtest', 'loopback-preload.js');
const PEERS = join(ROOT, 'bench', 'node_modules');

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5s' },
    warmup: { type: 'string', default: '1s' },
    sessions: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '4' },
    payload: { type: 'string', default: '256' },
    idle: { type: 'string', default: '1000' },
    'idle-stdio': { type: 'string', default: '50' },
    workers: { type: 'string', default: String(availableParallelism()) },
    threads: { type: 'string' },
    only: { type: 'string' },
    results: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') },
    'no-write': { type: 'boolean', default: false },
  },
});

const RUNS = Number(args.runs);
const DURATION_MS = parseDuration(args.duration);
const WARMUP_MS = parseDuration(args.warmup);
const SESSIONS = Number(args.sessions);
const CONCURRENCY = Number(args.concurrency);
const PAYLOAD = Number(args.payload);
const IDLE = Number(args.idle);
const IDLE_STDIO = Number(args['idle-stdio']);
const WORKERS = Number(args.workers);
const THREADS = args.threads === undefined ? undefined : Number(args.threads);

interface Target {
  key: string;
  label: string;
  /** Idle sessions to open: stdio targets may spawn one child per session, so fewer. */
  idle: number;
  start(): Promise<RunningTarget>;
}

let workDir = '';
let httpUpstream: RunningTarget | undefined;

function peerBin(rel: string): string {
  const p = join(PEERS, rel);
  if (!existsSync(p)) throw new Error(`peer not installed (${p}): run \`cd bench && npm install\``);
  return p;
}

async function sharedHttpUpstream(): Promise<string> {
  httpUpstream ??= await startFastHttp();
  return httpUpstream.url;
}

function startFastHttp(): Promise<RunningTarget> {
  if (!existsSync(FAST_UPSTREAM)) throw new Error(`${FAST_UPSTREAM} missing: run npm run build`);
  return spawnTarget({
    command: NODE,
    args: [FAST_UPSTREAM, '--http', '--port', '0'],
    readyLine: (l) => (l.startsWith('listening ') ? l.slice('listening '.length).trim() : undefined),
  });
}

async function startMithril(workers: number, destination: 'fast' | 'faststdio'): Promise<RunningTarget> {
  if (!existsSync(MITHRIL_CLI)) throw new Error(`${MITHRIL_CLI} missing: the proxy is not built yet`);
  const upstream = await sharedHttpUpstream();
  const port = await freePort();
  const config = join(workDir, `mithril-${workers}-${destination}.yml`);
  writeFileSync(
    config,
    [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `workers: ${workers}`,
      'log_level: warn',
      'destinations:',
      `  fast: { transport: streamable_http, url: ${JSON.stringify(upstream)} }`,
      `  faststdio: { transport: stdio, command: ${JSON.stringify(NODE)}, args: [${JSON.stringify(FAST_UPSTREAM)}, --stdio] }`,
      '',
    ].join('\n'),
  );
  const base = `http://127.0.0.1:${port}`;
  return spawnTarget({
    command: NODE,
    args: [MITHRIL_CLI, 'serve', '--config', config],
    readyLine: (l) => (mithrilListening(l) !== undefined ? `${base}/${destination}/mcp` : undefined),
    port,
    url: `${base}/${destination}/mcp`,
  });
}

async function startSupergateway(): Promise<RunningTarget> {
  const bin = peerBin('supergateway/dist/index.js');
  const port = await freePort();
  return spawnTarget({
    command: NODE,
    // supergateway has no --host: the preload keeps it on loopback.
    args: ['--import', PRELOAD, bin, '--stdio', `${NODE} ${FAST_UPSTREAM} --stdio`, '--outputTransport', 'streamableHttp',
      '--stateful', '--port', String(port), '--logLevel', 'none'],
    port,
    url: `http://127.0.0.1:${port}/mcp`,
  });
}

async function startMcpProxy(): Promise<RunningTarget> {
  const bin = peerBin('mcp-proxy/dist/bin/mcp-proxy.mjs');
  const port = await freePort();
  return spawnTarget({
    command: NODE,
    args: [bin, '--host', '127.0.0.1', '--port', String(port), '--server', 'stream', '--', NODE, FAST_UPSTREAM, '--stdio'],
    port,
    url: `http://127.0.0.1:${port}/mcp`,
  });
}

const TARGETS: Target[] = [
  { key: 'a', label: 'fast upstream, direct HTTP', idle: IDLE, start: startFastHttp },
  { key: 'b', label: 'mithril-proxy, 1 worker → HTTP upstream', idle: IDLE, start: () => startMithril(1, 'fast') },
  { key: 'c', label: `mithril-proxy, ${WORKERS} workers → HTTP upstream`, idle: IDLE, start: () => startMithril(WORKERS, 'fast') },
  { key: 'd', label: `mithril-proxy, ${WORKERS} workers → stdio upstream`, idle: IDLE_STDIO, start: () => startMithril(WORKERS, 'faststdio') },
  { key: 'e', label: 'supergateway 4.0.0 --stateful → stdio upstream', idle: IDLE_STDIO, start: startSupergateway },
  { key: 'f', label: 'mcp-proxy 6.7.19 → stdio upstream', idle: IDLE_STDIO, start: startMcpProxy },
].filter((t) => args.only === undefined || args.only.split(',').includes(t.key));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(t: Target): Promise<Measurement> {
  const target = await t.start();
  try {
    const load = { url: target.url, sessions: SESSIONS, concurrency: CONCURRENCY, payload: PAYLOAD, threads: THREADS };
    const warm = await runLoad({ ...load, durationMs: WARMUP_MS });
    if (warm.counts.ok === 0) throw new Error(`warm-up: no correct reply (${warm.failures[0] ?? 'no detail'})`);

    const before = sampleProcess(target.pid);
    const idle = await openIdleSessions(target.url, t.idle);
    await sleep(500); // let lazily started session resources (children, buffers) come up
    const after = sampleProcess(target.pid);
    await idle.close();
    if (before === undefined || after === undefined) throw new Error('target exited during the idle-session test');
    if (idle.opened === 0) throw new Error(`idle sessions: none opened (${idle.failures[0] ?? 'no detail'})`);

    const r = await runLoad({ ...load, durationMs: DURATION_MS, pid: target.pid });
    if (r.counts.ok === 0) throw new Error(`no correct reply (${r.failures[0] ?? 'no detail'})`);
    if (r.proc === null) throw new Error('target exited during the load');
    return {
      rps: r.rps,
      p99Us: r.latency.p99Us,
      cpuUsPerRequest: r.proc.cpuUsPerRequest,
      treeCpuUsPerRequest: r.proc.treeCpuUsPerRequest,
      rssKiB: r.proc.rssKiB,
      idleSessions: idle.opened,
      idleKiBPerSession: (after.rssKiB - before.rssKiB) / idle.opened,
      idleTreeKiBPerSession: (after.treeRssKiB - before.treeRssKiB) / idle.opened,
      bad: r.counts.errors + r.counts.lost + r.counts.mismatched,
    };
  } finally {
    await target.stop();
  }
}

const LOAD_AT_START = loadavg().map((l) => l.toFixed(2)).join(' ');

function machine(): string[] {
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // not Linux-like: keep 'unknown'
  }
  return [
    `- date: ${new Date().toISOString()}`,
    `- nproc: ${availableParallelism()}`,
    `- CPU: ${cpuModel}`,
    `- OS: ${os}, ${process.arch}`,
    `- node: ${process.version}`,
    // Other work on the machine shows up as noise between runs: record how busy it was.
    `- load average (1/5/15 min) at start: ${LOAD_AT_START}; at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  ];
}

async function main(): Promise<void> {
  workDir = mkdtempSync(join(tmpdir(), 'mithril-compare-'));
  const t0 = Date.now();
  const results = new Map<string, { ok: Measurement[]; failures: string[] }>(TARGETS.map((t) => [t.key, { ok: [], failures: [] }]));
  try {
    for (let run = 1; run <= RUNS; run++) {
      for (const t of TARGETS) {
        const slot = results.get(t.key)!;
        process.stderr.write(`run ${run}/${RUNS}: (${t.key}) ${t.label} ... `);
        try {
          const m = await measure(t);
          slot.ok.push(m);
          process.stderr.write(`${Math.round(m.rps)} req/s, p99 ${(m.p99Us / 1000).toFixed(2)} ms\n`);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          slot.failures.push(reason);
          process.stderr.write(`failed: ${reason}\n`);
        }
      }
    }
  } finally {
    await httpUpstream?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }

  const rows: TargetRow[] = TARGETS.map((t) => {
    const r = results.get(t.key)!;
    return { key: t.key, label: t.label, median: medianMeasurement(r.ok), runs: r.ok.length, failures: r.failures };
  });
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  process.stdout.write('\n' + renderTables(rows, false));
  const failures = rows.flatMap((r) => [...new Set(r.failures)].map((f) => `- (${r.key}) failed in ${r.failures.length} of ${RUNS} run(s): ${f}`));
  if (failures.length > 0) process.stdout.write('\n' + failures.join('\n') + '\n');
  process.stdout.write(`\n(median of ${RUNS} run(s); ${minutes} min)\n`);
  if (args['no-write']) return;

  const command = `npm run bench:compare${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const md = [
    '# bench:compare results',
    '',
    'Generated by `bench/compare.ts`; rerun it to refresh this file. Method and caveats: bench/README.md',
    '("Load generator").',
    '',
    '## Command',
    '',
    '```',
    command,
    '```',
    '',
    `Load per target: ${SESSIONS} sessions × ${CONCURRENCY} concurrent tools/call echo, payload ${PAYLOAD} B,`,
    `warm-up ${WARMUP_MS} ms, measured ${DURATION_MS} ms; idle-session memory over ${IDLE} sessions`,
    `(${IDLE_STDIO} for stdio-upstream targets, which may spawn a child per session). Median of ${RUNS} run(s),`,
    `targets visited round-robin; the whole comparison took ${minutes} min.`,
    '',
    '## Machine',
    '',
    ...machine(),
    '',
    '## Results',
    '',
    renderTables(rows, true),
    ...(failures.length > 0 ? ['## Failures', '', ...failures, ''] : []),
    '## Reading the tables',
    '',
    '- req/s counts correct replies only; "bad replies" (errors + lost + mismatched, max over runs) must be 0.',
    '- CPU µs/req is the target process alone; "incl. children" adds its descendants (stdio upstreams), which',
    '  is the fair column across designs: mithril-proxy and supergateway --stateful spawn one upstream child',
    '  per session, mcp-proxy shares one child across all sessions.',
    '- idle KiB/session "incl. children" is dominated by those per-session children (a Node process each);',
    '  the process-only column is the proxy\'s own bookkeeping per session.',
    '- The load generator shares the machine with the target (one generator thread on 2 cores), and other',
    '  work on the machine adds noise (see the load average above): compare ratios within one run.',
    '',
  ].join('\n');
  writeFileSync(args.results, md + keptNotes(args.results));
  process.stdout.write(`wrote ${args.results}\n`);
}

/** Hand-written notes (profiles, before/after numbers) that follow NOTES_MARKER survive a rerun. */
const NOTES_MARKER = '<!-- notes: kept by bench:compare -->';

function keptNotes(file: string): string {
  if (!existsSync(file)) return '';
  const old = readFileSync(file, 'utf8');
  const at = old.indexOf(NOTES_MARKER);
  return at < 0 ? '' : '\n' + old.slice(at);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:compare: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
