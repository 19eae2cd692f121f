/**
 * Runs every micro-benchmark and prints one table each. `--runs N` (default 1) repeats the whole
 * set N times and prints, per task, the median of each numeric column over the runs.
 *   npm run bench            node dist/bench/micro/run-all.js [--runs 3] [--time 500]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { run as auth } from './auth.bench.js';
import { run as envelope } from './envelope.bench.js';
import { run as sessionTable } from './session-table.bench.js';
import { run as sseParse } from './sse-parse.bench.js';
import { run as threadMessaging } from './thread-messaging.bench.js';
import { run as trace } from './trace.bench.js';

type Row = Record<string, string | number>;

const SUITES: ReadonlyArray<[string, (time: number) => Promise<Row[]>]> = [
  ['auth', auth],
  ['envelope', envelope],
  ['session-table', sessionTable],
  ['sse-parse', sseParse],
  ['thread-messaging', threadMessaging],
  ['trace', trace],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Per task: numeric columns become their median over runs; text columns keep the last value. */
function medianRows(runs: Row[][]): Row[] {
  const first = runs[0] ?? [];
  return first.map((row, i) => {
    const out: Row = {};
    for (const [col, value] of Object.entries(row)) {
      if (typeof value !== 'number') { out[col] = value; continue; }
      const m = median(runs.map((r) => r[i]?.[col]).filter((v): v is number => typeof v === 'number'));
      out[col] = Number.isInteger(value) ? Math.round(m) : Number(m.toFixed(2));
    }
    return out;
  });
}

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' }, time: { type: 'string', default: '500' } } });
const runs = Math.max(1, Number(values.runs));
const time = Math.max(50, Number(values.time));
console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? 'unknown'}), ${runs} run(s), ${time} ms per task`);
for (const [name, suite] of SUITES) {
  const results: Row[][] = [];
  for (let r = 0; r < runs; r++) results.push(await suite(time));
  console.log(`\n## ${name}${runs > 1 ? ` (median of ${runs} runs)` : ''}`);
  console.table(medianRows(results));
}
