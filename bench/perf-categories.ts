/**
 * Sorts the on-CPU samples of `perf script -F tid,ip,sym,dso` (from bench/perf-threads.sh) into
 * where a proxy's CPU goes, per thread: socket reads and writes (kernel included), the thread
 * hand-off (postMessage and the wake-up it sends), event-loop waits (epoll, scheduling), GC, JIT
 * compilation, uWS native code, and JavaScript by owner (undici, mithril's own, node internals).
 *
 *   node dist/bench/perf-categories.js --pid PID [--freq 997] [--requests N] SCRIPT.txt
 *
 * A sample's category comes from its whole stack, leaf first: a kernel sample belongs to the
 * syscall that entered the kernel, a V8 builtin to the JavaScript that called it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Frame {
  sym: string;
  dso: string;
}

const GC = /Scavenger|MarkCompact|ConcurrentMarking|IncrementalMarking|Heap::CollectGarbage|Heap::Scavenge|Sweeper|GCTracer|MinorMC|ScavengerCollector/;
const COMPILE = /compiler::|maglev::|Maglev|OptimizingCompileDispatcher|Compiler::Compile|BytecodeGenerator|interpreter::|Parser::/;
const HANDOFF = /uv_async_send|MessagePort|Worker::PostMessage|ValueSerializer|ValueDeserializer|Message::Serialize|Message::Deserialize/;
const EPOLL = /epoll_wait|epoll_pwait/;
const READ = /uv__read|bsd_recv|us_internal_dispatch_ready_poll.*|__libc_recv|recvfrom|\bread\b|__GI___libc_read/;
const WRITE = /writev|uv__write|DoTryWrite|bsd_send|us_socket_write|__libc_send|__send\b|sendto|__GI___libc_write/;

function jsOwner(sym: string): string | undefined {
  if (!sym.startsWith('JS:') && !sym.startsWith('RegExp:')) return undefined;
  if (sym.includes('/node_modules/undici/') || sym.startsWith('JS:wasm')) return 'JS: undici (incl. llhttp wasm)';
  if (sym.includes('/node_modules/')) return 'JS: other packages';
  if (sym.includes('/dist/src/') || sym.includes('/dist/workers/')) return 'JS: mithril (src/, workers/)';
  if (sym.startsWith('RegExp:')) return 'JS: mithril (src/, workers/)';
  return 'JS: node internals';
}

export function categorise(frames: Frame[]): string {
  const syms = frames.map((f) => f.sym);
  if (syms.some((s) => GC.test(s))) return 'GC';
  if (syms.some((s) => COMPILE.test(s))) return 'JIT compile';
  const inKernel = frames[0]?.dso.includes('kernel') ?? false;
  // The native frames between the leaf and the first JavaScript frame: what this sample is doing
  // right now (further up, every JS callback run from a message sits under MessagePort::OnMessage).
  const firstJs = frames.findIndex((f) => jsOwner(f.sym) !== undefined);
  const prefix = (firstJs < 0 ? frames : frames.slice(0, firstJs)).filter((f) => !f.dso.includes('kernel')).map((f) => f.sym);
  if (prefix.slice(0, 4).some((s) => HANDOFF.test(s))) return 'thread hand-off (postMessage, wake-up)';
  if (inKernel) {
    if (prefix.slice(0, 3).some((s) => EPOLL.test(s))) return 'kernel: event-loop wait (epoll, scheduling)';
    if (prefix.slice(0, 4).some((s) => WRITE.test(s))) return 'kernel: socket write';
    if (prefix.slice(0, 4).some((s) => READ.test(s))) return 'kernel: socket read';
    return 'kernel: other';
  }
  if (frames[0]?.dso.includes('uws_')) return 'uWS native (HTTP parse, write buffers)';
  // A builtin or runtime call runs for the nearest JavaScript frame above it.
  for (const s of syms) {
    const owner = jsOwner(s);
    if (owner !== undefined) return owner;
  }
  if (frames.some((f) => f.dso.includes('uws_'))) return 'uWS native (HTTP parse, write buffers)';
  return 'native: other (malloc, libuv, node C++)';
}

export function parsePerfScript(text: string): { tid: number; frames: Frame[] }[] {
  const out: { tid: number; frames: Frame[] }[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim().length > 0);
    if (lines.length === 0) continue;
    const tid = Number(lines[0]!.trim().split(/\s+/)[0]);
    if (!Number.isInteger(tid)) continue;
    const frames = lines.slice(1).map((l) => {
      const m = /^\s*[0-9a-f]+\s+(.*)\s+\(([^)]*)\)\s*$/.exec(l);
      return m === null ? { sym: l.trim(), dso: '' } : { sym: m[1]!, dso: m[2]! };
    });
    out.push({ tid, frames });
  }
  return out;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { pid: { type: 'string' }, freq: { type: 'string', default: '997' }, requests: { type: 'string' }, names: { type: 'string' } },
  });
  if (positionals.length !== 1 || values.pid === undefined) {
    process.stderr.write('usage: perf-categories --pid PID [--freq 997] [--requests N] [--names TID=NAME,...] SCRIPT.txt\n');
    process.exitCode = 2;
    return;
  }
  const pid = Number(values.pid);
  const names = new Map((values.names ?? '').split(',').filter((x) => x.includes('=')).map((x) => x.split('=') as [string, string]).map(([t, n]) => [Number(t), n]));
  const perSample = 1e6 / Number(values.freq);
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  const threads = new Map<string, Map<string, number>>();
  for (const s of parsePerfScript(readFileSync(positionals[0]!, 'utf8'))) {
    const name = s.tid === pid ? 'main' : (names.get(s.tid) ?? 'helpers');
    const cats = threads.get(name) ?? threads.set(name, new Map()).get(name)!;
    const c = categorise(s.frames);
    cats.set(c, (cats.get(c) ?? 0) + 1);
  }
  for (const [name, cats] of [...threads].sort((a, b) => (a[0] === 'main' ? -1 : b[0] === 'main' ? 1 : a[0].localeCompare(b[0])))) {
    const total = [...cats.values()].reduce((a, b) => a + b, 0);
    const us = (n: number): string => (requests === undefined ? '' : `${((n * perSample) / requests).toFixed(1).padStart(6)} µs/req  `);
    process.stdout.write(`== ${name}: ${total} samples ${us(total)}\n`);
    for (const [c, n] of [...cats].sort((a, b) => b[1] - a[1])) {
      process.stdout.write(`  ${((100 * n) / total).toFixed(1).padStart(5)}%  ${us(n)}${c}\n`);
    }
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
