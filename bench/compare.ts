/**
 * `npm run bench:compare`: the same loads, on the same machine, in one run, against
 *   (a) the fast upstream directly over HTTP,
 *   (h) HAProxy (1 thread, keep-alive L7, http-reuse always) in front of the fast HTTP upstream: the
 *       reference cost of one plain hop,
 *   (b) mithril-proxy with 1 worker and (c) with N workers (N = cores) in front of the fast HTTP upstream,
 *   (d) mithril-proxy (N workers) in front of the fast stdio upstream,
 *   (p) mithril-proxy (N workers), MCP 2026-07-28 pass-through: session-less tools/call (no
 *       initialize, headers + `_meta` per request, every reply checked) to the same fast upstream
 *       code serving 2026 (bench/loadtest/fast-upstream-2026.ts): next to (c), the session path,
 *       it shows whether the session-less path is at least as cheap (issue 13),
 *   and, with --peers (or --only), (e) supergateway 4.0.0 (--stateful, streamableHttp) and (f) mcp-proxy
 *   6.7.19, both in front of the same stdio upstream.
 * Per target and round: start, record RSS at rest, warm up, measure idle-session memory, run every load
 * scenario (default 1 session × 10 connections and 8 sessions × 4) and the SSE notification stream,
 * record RSS after the load, stop. The target order rotates every round; medians over --runs rounds are
 * reported with ratios to (a) and (h); a target that fails gets a 'failed: reason' row and the run goes on.
 * Writes bench/RESULTS.md (command, machine, tables) unless --no-write; the raw runs go to --json.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  renderTables,
  type FloodMeasurement,
  type LoadMeasurement,
  type RunMeasurement,
  type ScenarioSpec,
  type TargetRow,
} from './loadtest/compare-table.js';
import { findHaproxy, startHaproxy, type HaproxyBinary } from './loadtest/haproxy.js';
import { openIdleSessions } from './loadtest/idle-sessions.js';
import { type LoadTransport, parseDuration } from './loadtest/options.js';
import type { PostCounts } from './loadtest/post-counter.js';
import { sampleProcess } from './loadtest/proc-stats.js';
import { runLoad } from './loadtest/run.js';
import { runSseFlood } from './loadtest/sse-flood.js';
import { freePort, mithrilListening, spawnTarget, type RunningTarget } from './loadtest/targets.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const NODE = process.execPath;
const FAST_UPSTREAM = join(ROOT, 'dist', 'examples', 'fast-upstream.js');
const FAST_UPSTREAM_2026 = join(ROOT, 'dist', 'bench', 'loadtest', 'fast-upstream-2026.js');
const MITHRIL_CLI = join(ROOT, 'dist', 'src', 'cli.js');
/**
 * The node flags the proxy ships with (package.json "start", systemd/mithril-proxy.service): the
 * targets run as operators run them.
 */
const SHIPPED_FLAGS = ['--max-semi-space-size=4'];
const PRELOAD = join(ROOT, 'dist', 'bench', 'loadtest', 'loopback-preload.js');
const THREAD_NAMES = join(ROOT, 'dist', 'bench', 'loadtest', 'thread-names.js');
const POST_COUNTER = join(ROOT, 'dist', 'bench', 'loadtest', 'post-counter.js');
const PEERS = join(ROOT, 'bench', 'node_modules');
const HAPROXY_CACHE = join(ROOT, 'bench', '.cache', 'haproxy');

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5s' },
    warmup: { type: 'string', default: '1s' },
    scenarios: { type: 'string', default: '1x10,8x4' },
    payload: { type: 'string', default: '256' },
    idle: { type: 'string', default: '1000' },
    'idle-stdio': { type: 'string', default: '50' },
    workers: { type: 'string', default: String(availableParallelism()) },
    threads: { type: 'string' },
    only: { type: 'string' },
    peers: { type: 'boolean', default: false },
    sse: { type: 'string', default: '3s' },
    'sse-streams': { type: 'string', default: '2' },
    'sse-size': { type: 'string', default: '1024' },
    'cpu-prof': { type: 'string' },
    'node-args': { type: 'string' },
    'count-posts': { type: 'boolean', default: false },
    variant: { type: 'string' },
    json: { type: 'string' },
    results: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') },
    'no-write': { type: 'boolean', default: false },
  },
});

const RUNS = Number(args.runs);
const DURATION_MS = parseDuration(args.duration);
const WARMUP_MS = parseDuration(args.warmup);
const SCENARIOS: ScenarioSpec[] = args.scenarios.split(',').map((k) => {
  const m = /^(\d+)x(\d+)$/.exec(k.trim());
  if (m === null) throw new Error(`--scenarios: "${k}" is not SESSIONSxCONNECTIONS (e.g. 1x10)`);
  return { key: k.trim(), sessions: Number(m[1]), concurrency: Number(m[2]) };
});
const PAYLOAD = Number(args.payload);
const IDLE = Number(args.idle);
const IDLE_STDIO = Number(args['idle-stdio']);
const WORKERS = Number(args.workers);
const THREADS = args.threads === undefined ? undefined : Number(args.threads);
/** 0 = no notification-stream measurement. */
const SSE_MS = args.sse === '0' ? 0 : parseDuration(args.sse);
const SSE_STREAMS = Number(args['sse-streams']);
const SSE_SIZE = Number(args['sse-size']);
const CPU_PROF = args['cpu-prof'] === undefined ? undefined : resolve(args['cpu-prof']);
/** Extra node flags for the mithril targets, e.g. "--max-semi-space-size=16" (V8 flags reach the workers too). */
const NODE_ARGS = args['node-args'] === undefined ? [] : args['node-args'].split(/\s+/).filter((a) => a.length > 0);

interface Target {
  key: string;
  label: string;
  /** Idle sessions to open: stdio targets may spawn one child per session, so fewer. */
  idle: number;
  /** Measured with the SSE notification stream (needs the HTTP fast upstream's `flood` tool). */
  flood: boolean;
  /** How the load talks to it (default: session-era Streamable HTTP). */
  transport?: LoadTransport;
  start(run: number): Promise<RunningTarget>;
}

let workDir = '';
let httpUpstream: RunningTarget | undefined;
let http2026Upstream: RunningTarget | undefined;
let haproxy: HaproxyBinary | undefined;
/** --count-posts: where the target being measured writes its per-thread postMessage counts. */
let postsDir: string | undefined;

/** The post-counter files of the current target: threadId → counts. */
function readPosts(): Map<number, PostCounts> {
  const out = new Map<number, PostCounts>();
  if (postsDir === undefined || !existsSync(postsDir)) return out;
  for (const f of readdirSync(postsDir)) {
    try {
      const c = JSON.parse(readFileSync(join(postsDir, f), 'utf8')) as PostCounts;
      out.set(c.threadId, c);
    } catch {
      // Being rewritten right now: the next sample has it.
    }
  }
  return out;
}

function peerBin(rel: string): string {
  const p = join(PEERS, rel);
  if (!existsSync(p)) throw new Error(`peer not installed (${p}): run \`cd bench && npm install\``);
  return p;
}

async function sharedHttpUpstream(): Promise<string> {
  httpUpstream ??= await startFastHttp();
  return httpUpstream.url;
}

async function shared2026Upstream(): Promise<string> {
  if (http2026Upstream === undefined) {
    if (!existsSync(FAST_UPSTREAM_2026)) throw new Error(`${FAST_UPSTREAM_2026} missing: run npm run build`);
    http2026Upstream = await spawnTarget({
      command: NODE,
      args: [FAST_UPSTREAM_2026, '--port', '0'],
      readyLine: (l) => (l.startsWith('listening ') ? l.slice('listening '.length).trim() : undefined),
    });
  }
  return http2026Upstream.url;
}

function startFastHttp(): Promise<RunningTarget> {
  if (!existsSync(FAST_UPSTREAM)) throw new Error(`${FAST_UPSTREAM} missing: run npm run build`);
  return spawnTarget({
    command: NODE,
    args: [FAST_UPSTREAM, '--http', '--port', '0'],
    readyLine: (l) => (l.startsWith('listening ') ? l.slice('listening '.length).trim() : undefined),
  });
}

async function startHaproxyTarget(): Promise<RunningTarget> {
  haproxy ??= findHaproxy(HAPROXY_CACHE);
  return startHaproxy(haproxy, await sharedHttpUpstream(), workDir);
}

async function startMithril(key: string, run: number, workers: number, destination: 'fast' | 'faststdio' | 'fast2026', extraArgs: string[] = NODE_ARGS): Promise<RunningTarget> {
  if (!existsSync(MITHRIL_CLI)) throw new Error(`${MITHRIL_CLI} missing: the proxy is not built yet`);
  const upstream = await sharedHttpUpstream();
  // The 2026 upstream only when a target uses it (its destination is configured only then).
  const modern = destination === 'fast2026' ? [`  fast2026: { transport: streamable_http, protocol: 2026, url: ${JSON.stringify(await shared2026Upstream())} }`] : [];
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
      ...modern,
      '',
    ].join('\n'),
  );
  const base = `http://127.0.0.1:${port}`;
  // thread-names.js names each session worker's OS thread, so per-thread CPU can tell them apart.
  const flags = ['--import', THREAD_NAMES, ...SHIPPED_FLAGS, ...extraArgs];
  let env: NodeJS.ProcessEnv | undefined;
  if (args['count-posts']) {
    postsDir = join(workDir, `posts-${key}-run${run}`);
    mkdirSync(postsDir, { recursive: true });
    flags.push('--import', POST_COUNTER);
    env = { ...process.env, MITHRIL_BENCH_POSTS_DIR: postsDir };
  }
  if (CPU_PROF !== undefined) {
    const dir = join(CPU_PROF, `${key}-run${run}`);
    mkdirSync(dir, { recursive: true });
    // One .cpuprofile per thread (CPU.<date>.<pid>.<threadId>.<seq>.cpuprofile), written at exit.
    flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  return spawnTarget({
    command: NODE,
    args: [...flags, MITHRIL_CLI, 'serve', '--config', config],
    env,
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

const NODE_NOTE = NODE_ARGS.length > 0 ? ` [${NODE_ARGS.join(' ')}]` : '';
const ALL_TARGETS: Target[] = [
  { key: 'a', label: 'fast upstream, direct HTTP', idle: IDLE, flood: true, start: startFastHttp },
  { key: 'h', label: 'HAProxy, 1 thread → HTTP upstream', idle: IDLE, flood: true, start: startHaproxyTarget },
  { key: 'b', label: `mithril-proxy, 1 worker → HTTP upstream${NODE_NOTE}`, idle: IDLE, flood: true, start: (r) => startMithril('b', r, 1, 'fast') },
  { key: 'c', label: `mithril-proxy, ${WORKERS} workers → HTTP upstream${NODE_NOTE}`, idle: IDLE, flood: true, start: (r) => startMithril('c', r, WORKERS, 'fast') },
  { key: 'd', label: `mithril-proxy, ${WORKERS} workers → stdio upstream${NODE_NOTE}`, idle: IDLE_STDIO, flood: false, start: (r) => startMithril('d', r, WORKERS, 'faststdio') },
  // No sessions on the 2026 path: "sessions" of the loads are independent clients, and there is no
  // idle-session memory to measure (idle 0) nor a notification stream (flood is a session-era tool).
  { key: 'p', label: `mithril-proxy, ${WORKERS} workers → 2026 HTTP upstream, session-less (2026-07-28)${NODE_NOTE}`, idle: 0, flood: false,
    transport: 'streamable-2026', start: (r) => startMithril('p', r, WORKERS, 'fast2026') },
  { key: 'e', label: 'supergateway 4.0.0 --stateful → stdio upstream', idle: IDLE_STDIO, flood: false, start: startSupergateway },
  { key: 'f', label: 'mcp-proxy 6.7.19 → stdio upstream', idle: IDLE_STDIO, flood: false, start: startMcpProxy },
];
/** --variant "FLAGS": (v) is (b) with other node flags, measured interleaved with it: an A/B in one run. */
const VARIANT_ARGS = args.variant === undefined ? undefined : args.variant.split(/\s+/).filter((a) => a.length > 0);
if (VARIANT_ARGS !== undefined) {
  ALL_TARGETS.push({ key: 'v', label: `mithril-proxy, 1 worker → HTTP upstream [${VARIANT_ARGS.join(' ')}]`, idle: IDLE, flood: true,
    start: (r) => startMithril('v', r, 1, 'fast', VARIANT_ARGS) });
}
const DEFAULT_KEYS = ['a', 'h', 'b', 'c', 'p', 'd', ...(args.peers ? ['e', 'f'] : []), ...(VARIANT_ARGS !== undefined ? ['v'] : [])];
const TARGETS = ALL_TARGETS.filter((t) => (args.only === undefined ? DEFAULT_KEYS : args.only.split(',')).includes(t.key));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(t: Target, run: number): Promise<RunMeasurement> {
  postsDir = undefined;
  const target = await t.start(run);
  try {
    await sleep(500); // settle after start-up before the at-rest sample
    const atStart = sampleProcess(target.pid);
    if (atStart === undefined) throw new Error('target exited after start');
    const first = SCENARIOS[0]!;
    const load = { url: target.url, payload: PAYLOAD, threads: THREADS, transport: t.transport ?? 'streamable' };
    const warm = await runLoad({ ...load, sessions: first.sessions, concurrency: first.concurrency, durationMs: WARMUP_MS });
    if (warm.counts.ok === 0) throw new Error(`warm-up: no correct reply (${warm.failures[0] ?? 'no detail'})`);

    const loads = new Map<string, LoadMeasurement>();
    for (const s of SCENARIOS) {
      await sleep(postsDir === undefined ? 0 : 400); // the counters rewrite their files every 200 ms
      const postsBefore = readPosts();
      const r = await runLoad({ ...load, sessions: s.sessions, concurrency: s.concurrency, durationMs: DURATION_MS, pid: target.pid });
      if (r.counts.ok === 0) throw new Error(`${s.key}: no correct reply (${r.failures[0] ?? 'no detail'})`);
      if (r.proc === null) throw new Error(`${s.key}: target exited during the load`);
      let posts: LoadMeasurement['posts'];
      if (postsDir !== undefined) {
        await sleep(400);
        const done = r.counts.ok + r.counts.errors + r.counts.mismatched;
        posts = [...readPosts()].map(([tid, c]) => {
          const b = postsBefore.get(tid);
          const n = c.posts - (b?.posts ?? 0);
          return { thread: tid === 0 ? 'main' : `threadId ${tid}`, perRequest: n / Math.max(1, done),
            charsPerPost: (c.chars - (b?.chars ?? 0)) / Math.max(1, c.stringPosts - (b?.stringPosts ?? 0)) };
        });
        process.stderr.write(`[${s.key} posts: ${posts.map((p) => `${p.thread} ${p.perRequest.toFixed(3)}/req, ${Math.round(p.charsPerPost)} chars/post`).join('; ')}] `);
      }
      loads.set(s.key, {
        rps: r.rps,
        p50Us: r.latency.p50Us,
        p99Us: r.latency.p99Us,
        ownCpuUsPerRequest: r.proc.cpuUsPerRequest,
        cpuUsPerRequest: r.proc.treeCpuUsPerRequest,
        rssKiB: r.proc.treeRssKiB,
        bad: r.counts.errors + r.counts.lost + r.counts.mismatched,
        threads: r.proc.threads,
        posts,
      });
    }
    let flood: FloodMeasurement | undefined;
    let floodFailure: string | undefined;
    if (t.flood && SSE_MS > 0) {
      // A broken stream is reported in its own table; the load numbers of the run still count.
      const f = await runSseFlood({ url: target.url, durationMs: SSE_MS, streams: SSE_STREAMS, size: SSE_SIZE, pid: target.pid }).catch(
        (err: unknown) => err instanceof Error ? err.message : String(err),
      );
      if (typeof f === 'string') floodFailure = f;
      else if (f.streamsOk === 0) floodFailure = `no correct stream (${f.failures[0] ?? 'no detail'})`;
      else flood = { bytesPerSec: f.bytesPerSec, eventsPerSec: f.eventsPerSec, cpuUsPerMiB: f.cpuUsPerMiB, bad: f.streamsBad, threads: f.threads };
    }
    const end = sampleProcess(target.pid);
    if (end === undefined) throw new Error('target exited after the load');
    // Idle sessions last: the garbage of 1000 initialize exchanges would otherwise be collected (by
    // V8's helper threads) inside the first load window and be billed to its requests.
    const before = sampleProcess(target.pid);
    const idle = t.idle > 0 ? await openIdleSessions(target.url, t.idle) : { opened: 0, failures: [], close: async () => {} };
    if (t.idle > 0) await sleep(500); // let lazily started session resources (children, buffers) come up
    const after = sampleProcess(target.pid);
    await idle.close();
    if (before === undefined || after === undefined) throw new Error('target exited during the idle-session test');
    if (t.idle > 0 && idle.opened === 0) throw new Error(`idle sessions: none opened (${idle.failures[0] ?? 'no detail'})`);

    return {
      loads,
      flood,
      floodFailure,
      memory: {
        startRssKiB: atStart.treeRssKiB,
        afterLoadRssKiB: end.treeRssKiB,
        idleSessions: idle.opened,
        // NaN (shown as –) when the target has no sessions to hold.
        idleKiBPerSession: idle.opened > 0 ? (after.rssKiB - before.rssKiB) / idle.opened : NaN,
        idleTreeKiBPerSession: idle.opened > 0 ? (after.treeRssKiB - before.treeRssKiB) / idle.opened : NaN,
      },
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
  const rows: TargetRow[] = TARGETS.map((t) => ({ key: t.key, label: t.label, runs: [], failures: [] }));
  try {
    for (let run = 1; run <= RUNS; run++) {
      // Rotate the order every round: a target is not always measured right after the same other one
      // (nor always first, on a machine whose load drifts).
      const shift = (run - 1) % TARGETS.length;
      const order = [...TARGETS.slice(shift), ...TARGETS.slice(0, shift)];
      for (const t of order) {
        const row = rows.find((r) => r.key === t.key)!;
        process.stderr.write(`run ${run}/${RUNS}: (${t.key}) ${t.label} ... `);
        try {
          const m = await measure(t, run);
          row.runs.push(m);
          const parts = [...m.loads].map(([k, l]) => `${k} ${Math.round(l.rps)} req/s p99 ${(l.p99Us / 1000).toFixed(2)} ms`);
          if (m.flood !== undefined) parts.push(`sse ${(m.flood.bytesPerSec / 1048576).toFixed(1)} MiB/s`);
          if (m.floodFailure !== undefined) parts.push(`sse failed: ${m.floodFailure}`);
          process.stderr.write(parts.join(', ') + '\n');
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          row.failures.push(reason);
          process.stderr.write(`failed: ${reason}\n`);
        }
      }
    }
  } finally {
    await httpUpstream?.stop();
    await http2026Upstream?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }

  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  process.stdout.write('\n' + renderTables(rows, SCENARIOS, false));
  const failures = rows.flatMap((r) => [...new Set(r.failures)].map((f) => `- (${r.key}) failed in ${r.failures.length} of ${RUNS} run(s): ${f}`));
  if (failures.length > 0) process.stdout.write('\n' + failures.join('\n') + '\n');
  process.stdout.write(`\n(median of ${RUNS} run(s); ${minutes} min)\n`);
  if (args.json !== undefined) {
    const plain = rows.map((r) => ({ ...r, runs: r.runs.map((m) => ({ ...m, loads: Object.fromEntries(m.loads) })) }));
    writeFileSync(args.json, JSON.stringify({ machine: machine(), scenarios: SCENARIOS, rows: plain }, null, 1));
  }
  if (args['no-write']) return;

  const command = `npm run bench:compare${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const md = [
    '# bench:compare results',
    '',
    'Generated by `bench/compare.ts`; rerun it to refresh this file. Method and caveats: bench/README.md',
    '("Load generator" and "bench:compare").',
    '',
    '## Command',
    '',
    '```',
    command,
    '```',
    '',
    `Loads per target: ${SCENARIOS.map((s) => `${s.sessions} session(s) × ${s.concurrency} connections`).join(' and ')}, tools/call echo,`,
    `payload ${PAYLOAD} B, unique ids, every reply checked; warm-up ${WARMUP_MS} ms, measured ${DURATION_MS} ms each;`,
    SSE_MS > 0 ? `SSE notification stream: ${SSE_STREAMS} streams × ${SSE_SIZE} B notifications for ${SSE_MS} ms;` : 'no SSE stream;',
    `idle-session memory over ${IDLE} sessions (${IDLE_STDIO} for stdio-upstream targets). Median of ${RUNS} run(s),`,
    `target order rotated every round; the whole comparison took ${minutes} min.` +
      (haproxy !== undefined ? ` HAProxy ${haproxy.version} (${haproxy.source === 'PATH' ? haproxy.bin : 'Debian .deb unpacked in bench/.cache/haproxy'}).` : ''),
    '',
    '## Machine',
    '',
    ...machine(),
    '',
    '## Results',
    '',
    renderTables(rows, SCENARIOS, true),
    ...(failures.length > 0 ? ['## Failures', '', ...failures, ''] : []),
    '## Reading the tables',
    '',
    '- req/s counts correct replies only; "bad replies" (errors + lost + mismatched, max over runs) must be 0.',
    '- (p) is the 2026-07-28 pass-through: no sessions, so its "sessions" are independent clients with that',
    '  many connections each, and it has no idle-session memory; compare it with (c), same workers, same loads.',
    '- × direct and × HAProxy are ratios of medians from this same run; CPU µs/req is the target\'s own',
    '  user+sys from /proc, children included (stdio upstreams), over the measured window.',
    '- CPU per thread: main = the uWS acceptor thread, worker N = session worker N, helpers = V8 platform /',
    '  GC threads, libuv pool and the rest of the process.',
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
