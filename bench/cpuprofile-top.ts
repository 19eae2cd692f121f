/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`, one per thread) into the functions with
 * the most self time and the same time grouped by where the code lives (a package, a src/ file,
 * node:internal/..., V8's own GC and "program" buckets).
 *
 *   node dist/bench/cpuprofile-top.js [--top 25] [--requests N] FILE_OR_DIR...
 *
 * A directory means every *.cpuprofile in it. With --requests (the requests served while the
 * profile ran), times are also given as µs per request. Self time of a sample = the time until the
 * next sample (timeDeltas), so uneven sampling is weighed correctly.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  group: string;
  us: number;
}

export interface ProfileSummary {
  totalUs: number;
  /** Everything except (idle): the thread's CPU as the profiler saw it. */
  busyUs: number;
  functions: SelfTime[];
  groups: { group: string; us: number }[];
}

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/** Where a frame's code lives, short: `undici`, `src/acceptor/core.ts`, `node:internal/streams`, `(garbage collector)`. */
export function codeGroup(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) {
    const m = /^node:internal\/([^/]+)/.exec(url);
    return m !== null ? `node:internal/${m[1]!.replace(/\.js$/, '')}` : url;
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const rel = relative(join(ROOT, 'dist'), path);
  return rel.startsWith('..') ? path : rel.replace(/\.js$/, '.ts');
}

export function summarise(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, SelfTime>();
  const groups = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const group = codeGroup(url, functionName);
    const where = url === '' ? '' : `${group}:${lineNumber + 1}`;
    const key = `${functionName}\u0000${where}`;
    const slot = self.get(key) ?? { name: functionName || '(anonymous)', where, group, us: 0 };
    slot.us += us;
    self.set(key, slot);
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  return {
    totalUs,
    busyUs: totalUs - idleUs,
    functions: [...self.values()].sort((a, b) => b.us - a.us),
    groups: [...groups].map(([group, us]) => ({ group, us })).sort((a, b) => b.us - a.us),
  };
}

/** `CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile`: thread 0 is the main thread. */
export function threadOf(file: string): string {
  const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(basename(file));
  if (m === null) return basename(file);
  return m[2] === '0' ? `pid ${m[1]} main thread` : `pid ${m[1]} worker threadId ${m[2]}`;
}

function files(args: string[]): string[] {
  return args.flatMap((a) =>
    statSync(a).isDirectory() ? readdirSync(a).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(a, f)) : [a],
  );
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, requests: { type: 'string' }, groups: { type: 'string', default: '12' } },
  });
  if (positionals.length === 0) {
    process.stderr.write('usage: cpuprofile-top [--top 25] [--groups 12] [--requests N] FILE_OR_DIR...\n');
    process.exitCode = 2;
    return;
  }
  const top = Number(values.top);
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  const per = (us: number): string => (requests === undefined ? '' : ` ${(us / requests).toFixed(2).padStart(7)} µs/req`);
  for (const f of files(positionals)) {
    const s = summarise(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
    const pct = (us: number): string => `${((100 * us) / Math.max(1, s.busyUs)).toFixed(1).padStart(5)}%`;
    const out = [
      `== ${threadOf(f)} (${basename(f)})`,
      `   sampled ${(s.totalUs / 1000).toFixed(0)} ms, busy (not idle) ${(s.busyUs / 1000).toFixed(0)} ms${per(s.busyUs)}`,
      '   by code location (self time, % of busy):',
      ...s.groups.slice(0, Number(values.groups)).map((g) => `   ${pct(g.us)} ${(g.us / 1000).toFixed(0).padStart(6)} ms${per(g.us)}  ${g.group}`),
      `   top ${top} functions (self time):`,
      ...s.functions.slice(0, top).map((fn) => `   ${pct(fn.us)} ${(fn.us / 1000).toFixed(0).padStart(6)} ms${per(fn.us)}  ${fn.name}  ${fn.where}`),
      '',
    ];
    process.stdout.write(out.join('\n') + '\n');
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
