/** The row shape every micro-benchmark table prints, from a tinybench task. */
import type { Task } from 'tinybench';

export type Row = Record<string, string | number>;

/** ops/s and ns per op (medians), with the relative margin of error and the sample count. */
export function opsRow(task: Task): Row {
  const r = task.result;
  if (r.state !== 'completed') return { task: task.name, state: r.state };
  return {
    task: task.name,
    'ops/s': Math.round(r.throughput.p50),
    'ns/op (median)': Math.round(r.latency.p50 * 1e6),
    'rme %': Number(r.throughput.rme.toFixed(2)),
    samples: r.latency.samplesCount,
  };
}
