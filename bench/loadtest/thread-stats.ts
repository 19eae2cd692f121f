/**
 * CPU time per thread of a target process, from /proc/PID/task/TID/stat (utime+stime, fields 14 and
 * 15) and .../comm, grouped: the main thread (TID = PID), each session worker (named by
 * thread-names.ts), and everything else in the process (V8 platform/GC threads, libuv's pool, the
 * inspector): "helpers". A difference of two samples over a load window gives µs per request per group.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { clockTicksPerSecond } from './proc-stats.js';
import { WORKER_COMM_PREFIX } from './thread-names.js';

export interface ThreadTicks {
  tid: number;
  comm: string;
  ticks: number;
  /** Context switches from /proc/PID/task/TID/status: voluntary = the thread slept (an event-loop
   * wait ended by a wake-up), involuntary = it was preempted. */
  voluntary: number;
  involuntary: number;
}

export interface ThreadCpu {
  /** 'main', 'worker N', 'helpers'. */
  group: string;
  threads: number;
  cpuSeconds: number;
  usPerRequest: number;
  /** Voluntary / involuntary context switches per request. */
  wakeupsPerRequest: number;
  preemptionsPerRequest: number;
}

export function sampleThreads(pid: number): ThreadTicks[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: ThreadTicks[] = [];
  for (const t of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      const status = readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      out.push({
        tid: Number(t), comm, ticks: Number(rest[11]) + Number(rest[12]),
        voluntary: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
        involuntary: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      });
    } catch {
      // The thread ended between readdir and read: its ticks are gone with it.
    }
  }
  return out;
}

export function threadGroup(pid: number, t: { tid: number; comm: string }): string {
  if (t.tid === pid) return 'main';
  if (t.comm.startsWith(WORKER_COMM_PREFIX)) return `worker ${t.comm.slice(WORKER_COMM_PREFIX.length)}`;
  return 'helpers';
}

const ORDER = (g: string): number => (g === 'main' ? 0 : g === 'helpers' ? 2 : 1);

/** Per-group CPU between two samples; threads born in the window count from 0. */
export function threadCpu(pid: number, before: ThreadTicks[], after: ThreadTicks[], requests: number): ThreadCpu[] {
  const start = new Map(before.map((t) => [t.tid, t]));
  const groups = new Map<string, { threads: number; ticks: number; vol: number; invol: number }>();
  for (const t of after) {
    const g = threadGroup(pid, t);
    const slot = groups.get(g) ?? { threads: 0, ticks: 0, vol: 0, invol: 0 };
    const b = start.get(t.tid);
    slot.threads++;
    slot.ticks += t.ticks - (b?.ticks ?? 0);
    slot.vol += t.voluntary - (b?.voluntary ?? 0);
    slot.invol += t.involuntary - (b?.involuntary ?? 0);
    groups.set(g, slot);
  }
  const hz = clockTicksPerSecond();
  const n = requests > 0 ? requests : 1;
  return [...groups.entries()]
    .map(([group, s]) => ({
      group, threads: s.threads, cpuSeconds: s.ticks / hz, usPerRequest: ((s.ticks / hz) * 1e6) / n,
      wakeupsPerRequest: s.vol / n, preemptionsPerRequest: s.invol / n,
    }))
    .sort((a, b) => ORDER(a.group) - ORDER(b.group) || a.group.localeCompare(b.group, 'en', { numeric: true }));
}
