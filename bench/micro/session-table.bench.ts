/**
 * Session table: lookup hit / miss and insert+delete at 10% and 50% fill of a 10000-session table,
 * and lookups on this thread while another thread is the writer (insert/delete churn).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { type Row, opsRow } from './rows.js';
import { SessionTable } from '../../src/threads/session-table.js';
import { mintSessionId } from '../../src/threads/session-id.js';

export type { Row } from './rows.js';

const MAX_SESSIONS = 10_000;
const WORKERS = 4;
const ROLE = 'session-table-writer';


function filled(count: number): { table: SessionTable; present: string[]; absent: string[] } {
  const table = SessionTable.create(MAX_SESSIONS, WORKERS);
  const present = Array.from({ length: count }, () => mintSessionId());
  present.forEach((id, i) => table.insert(id, i % WORKERS));
  const absent = Array.from({ length: 4096 }, () => mintSessionId());
  return { table, present, absent };
}

let sink = 0;

/** The writer thread: owns the table, churns it until told to stop. */
function writerMain(): void {
  const { table, present, absent } = filled(MAX_SESSIONS / 2);
  const control = new Int32Array(new SharedArrayBuffer(8)); // [0] stop, [1] writes done (in thousands)
  parentPort?.postMessage({ sab: table.buffer, control: control.buffer, present, absent });
  const churn = Array.from({ length: 1024 }, () => mintSessionId());
  // Runs only after main's go-ahead, so setup on main is not measured under contention.
  parentPort?.once('message', () => {
    let i = 0;
    while (Atomics.load(control, 0) === 0) {
      for (let k = 0; k < 1000; k++) {
        const id = churn[i++ & 1023] as string;
        if (!table.delete(id)) table.insert(id, i & 3);
      }
      Atomics.add(control, 1, 1);
    }
    parentPort?.postMessage('stopped');
  });
}

async function contention(time: number): Promise<Row[]> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
  try {
    const init = await new Promise<{ sab: SharedArrayBuffer; control: SharedArrayBuffer; present: string[]; absent: string[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const table = SessionTable.attach(init.sab);
    const control = new Int32Array(init.control);
    const bench = new Bench({ name: 'session-table contention', time, warmupTime: 100 });
    let h = 0, m = 0;
    bench.add('lookup hit, 50% fill, writer thread churning', () => { sink += table.lookup(init.present[h++ % init.present.length] as string); });
    bench.add('lookup miss, 50% fill, writer thread churning', () => { sink += table.lookup(init.absent[m++ & 4095] as string); });
    worker.postMessage('go');
    await bench.run();
    const writes = Atomics.load(control, 1) * 1000;
    Atomics.store(control, 0, 1);
    await new Promise((resolve) => worker.once('message', resolve));
    const rows = bench.tasks.map((t) => opsRow(t as Task));
    for (const row of rows) row.note = `writer did ${writes} insert-or-delete ops meanwhile`;
    return rows;
  } finally {
    await worker.terminate();
  }
}

export async function run(time = 500): Promise<Row[]> {
  const bench = new Bench({ name: 'session-table', time, warmupTime: 100 });
  for (const pct of [10, 50]) {
    const { table, present, absent } = filled((MAX_SESSIONS * pct) / 100);
    let h = 0, m = 0, c = 0;
    bench.add(`lookup hit, ${pct}% fill`, () => { sink += table.lookup(present[h++ % present.length] as string); });
    bench.add(`lookup miss, ${pct}% fill`, () => { sink += table.lookup(absent[m++ & 4095] as string); });
    bench.add(`insert+delete, ${pct}% fill`, () => {
      const id = absent[c++ & 4095] as string;
      table.insert(id, c & 3);
      table.delete(id);
    });
  }
  await bench.run();
  const rows = bench.tasks.map((t) => opsRow(t as Task));
  rows.push(...await contention(time));
  // Contended lookups against the same lookups at 50% fill without a writer.
  const quiet = (name: string): number => (rows.find((r) => r.task === name)?.['ops/s'] as number | undefined) ?? NaN;
  for (const row of rows) {
    const t = String(row.task);
    if (t.includes('churning')) row['x uncontended'] = Number(((row['ops/s'] as number) / quiet(t.replace(', writer thread churning', ''))).toFixed(2));
  }
  if (sink === 0.5) console.log(sink);
  return rows;
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  writerMain();
} else if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
}
