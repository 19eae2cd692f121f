/**
 * CPU time and memory of a target process from /proc (Linux). CPU is user+sys clock ticks from
 * /proc/PID/stat (fields 14 and 15), converted with the kernel clock tick; RSS is VmRSS from
 * /proc/PID/status. Optionally summed over the process's descendants, so a proxy that spawns one
 * child per session is compared fairly with one that spawns none.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let clockTick: number | undefined;

/** Kernel clock ticks per second (`getconf CLK_TCK`, normally 100). */
export function clockTicksPerSecond(): number {
  if (clockTick === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTick = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      clockTick = 100;
    }
  }
  return clockTick;
}

interface StatLine {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field N is rest[N - 3].
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** CPU seconds (user + sys) consumed so far by `pid`; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  const s = readStat(pid);
  return s === undefined ? undefined : s.ticks / clockTicksPerSecond();
}

/** VmRSS of `pid` in KiB; undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** `pid` and all its live descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s === undefined) continue;
    const list = children.get(s.ppid);
    if (list === undefined) children.set(s.ppid, [Number(name)]);
    else list.push(Number(name));
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

export interface ProcSample {
  cpuSeconds: number;
  rssKiB: number;
  /** Including descendants. */
  treeCpuSeconds: number;
  treeRssKiB: number;
  treeProcesses: number;
}

/** One sample of `pid` (and its tree); undefined when the process is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  const cpu = cpuSeconds(pid);
  const rss = rssKiB(pid);
  if (cpu === undefined || rss === undefined) return undefined;
  let treeCpu = 0;
  let treeRss = 0;
  const tree = processTree(pid);
  for (const p of tree) {
    treeCpu += cpuSeconds(p) ?? 0;
    treeRss += rssKiB(p) ?? 0;
  }
  return { cpuSeconds: cpu, rssKiB: rss, treeCpuSeconds: treeCpu, treeRssKiB: treeRss, treeProcesses: tree.length };
}
