/**
 * The two HTTP fronts side by side in one run: the proxy on native uWebSockets.js and on
 * node:http (MITHRIL_FRONT), both 1 worker in front of the same fast upstream, with the direct
 * path measured in the same run. Rounds are interleaved (target order rotated each round) and
 * the table shows medians with ratios to direct and to the uWS front.
 *
 *   npm run build && node dist/bench/fronts.js [--runs 3] [--seconds 5] [--sessions 8] [--concurrency 4]
 *
 * Where no native uWS binding loads (Node 22/24) only the node:http row can be measured.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadUwsFront } from '../src/acceptor/front-uws.js';
import { runLoad } from './loadtest/run.js';

const NODE = process.execPath;
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const FAST = fileURLToPath(new URL('../examples/fast-upstream.js', import.meta.url));

interface Running {
  child: ChildProcess;
  url: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function start(args: string[], env: NodeJS.ProcessEnv, ready: (line: string) => string | undefined): Promise<Running> {
  const child = spawn(NODE, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start`)), 15_000);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        const url = ready(line);
        if (url !== undefined) {
          clearTimeout(timer);
          resolve({ child, url });
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${buf}`)));
  });
}

async function stop(r: Running): Promise<void> {
  if (r.child.exitCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill('SIGTERM');
  await exited;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      sessions: { type: 'string', default: '8' },
      concurrency: { type: 'string', default: '4' },
    },
  });
  const runs = Number(values.runs);
  const durationMs = Number(values.seconds) * 1000;
  const sessions = Number(values.sessions);
  const concurrency = Number(values.concurrency);
  const dir = mkdtempSync(join(tmpdir(), 'mithril-fronts-'));
  const upstream = await start([FAST, '--http', '--port', '0'], {}, (l) => (l.startsWith('listening ') ? l.slice(10).trim() : undefined));
  const fronts = loadUwsFront().ok ? ['uws', 'node'] : ['node'];
  const targets: Array<{ key: string; run: Running; pid: number }> = [{ key: 'direct', run: upstream, pid: upstream.child.pid! }];
  try {
    for (const front of fronts) {
      const port = await freePort();
      const file = join(dir, `${front}.yml`);
      writeFileSync(file, `listen: { host: 127.0.0.1, port: ${port} }\nworkers: 1\nlog_level: warn\ndestinations:\n  fast: { transport: streamable_http, url: ${JSON.stringify(upstream.url)} }\n`);
      const run = await start([CLI, 'serve', '--config', file], { MITHRIL_FRONT: front }, (l) => (/listening on http/.test(l) ? `http://127.0.0.1:${port}/fast/mcp` : undefined));
      targets.push({ key: front, run, pid: run.child.pid! });
    }
    const results = new Map<string, { rps: number[]; cpu: number[]; p99: number[] }>();
    for (let round = 0; round < runs; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const t of order) {
        const r = await runLoad({ url: t.run.url, sessions, concurrency, durationMs, pid: t.pid, payload: 256 });
        if (r.counts.errors + r.counts.lost + r.counts.mismatched > 0) throw new Error(`${t.key}: ${r.failures.join('; ')}`);
        const row = results.get(t.key) ?? { rps: [], cpu: [], p99: [] };
        row.rps.push(r.rps);
        row.cpu.push(r.proc?.cpuUsPerRequest ?? NaN);
        row.p99.push(r.latency.p99Us / 1000);
        results.set(t.key, row);
        process.stderr.write(`round ${round + 1} ${t.key}: ${Math.round(r.rps)} req/s, ${r.proc?.cpuUsPerRequest.toFixed(1)} µs CPU/req\n`);
      }
    }
    const direct = median(results.get('direct')!.rps);
    const uwsRps = results.has('uws') ? median(results.get('uws')!.rps) : NaN;
    const uwsCpu = results.has('uws') ? median(results.get('uws')!.cpu) : NaN;
    const lines = [
      `node ${process.version}, ${cpus().length} cores, ${sessions} sessions × ${concurrency}, ${values.seconds} s × ${runs} interleaved runs, medians`,
      '',
      '| target | req/s | ÷ direct | ÷ uWS front | CPU µs/req (target) | ÷ uWS front | p99 ms |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    for (const [key, row] of results) {
      const rps = median(row.rps);
      const cpu = median(row.cpu);
      const label = key === 'direct' ? 'direct to the fast upstream' : `mithril 1 worker, ${key === 'uws' ? 'uWS' : 'node:http'} front`;
      const vsUws = (v: number, base: number): string => (key === 'direct' || Number.isNaN(base) ? '' : `${(v / base).toFixed(2)}×`);
      lines.push(`| ${label} | ${Math.round(rps)} | ${(rps / direct).toFixed(2)}× | ${vsUws(rps, uwsRps)} | ${cpu.toFixed(1)} | ${vsUws(cpu, uwsCpu)} | ${median(row.p99).toFixed(2)} |`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const t of targets) await stop(t.run);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fronts: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
