/**
 * SSE parsing: our streaming parser (src/upstream/sse-parser.ts, eventsource-parser underneath
 * plus the BOM / trailing-CR fixes) on the shapes an upstream Streamable HTTP reply has, against
 * a baseline measured in the same run: a bare split on blank lines, which is what the parser
 * must at least match in speed to be worth its correctness.
 */
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { Bench, type Task } from 'tinybench';
import { createSseParser } from '../../src/upstream/sse-parser.js';
import { NOTIFICATION_200B, RESPONSE_64K, TOOLS_CALL_1K } from './envelope.bench.js';

export type Row = Record<string, string | number>;

const enc = new TextEncoder();
/** One reply stream: 20 progress notifications then the 1 KiB result, as one chunk. */
const STREAM_SMALL = enc.encode(Array.from({ length: 20 }, () => `event: message\ndata: ${NOTIFICATION_200B}\n\n`).join('') + `event: message\ndata: ${TOOLS_CALL_1K}\n\n`);
/** One 64 KiB result event, delivered in 16 KiB chunks as a socket would. */
const BIG_EVENT = enc.encode(`event: message\nid: 7\ndata: ${RESPONSE_64K}\n\n`);
const BIG_CHUNKS = Array.from({ length: Math.ceil(BIG_EVENT.length / 16384) }, (_, i) => BIG_EVENT.subarray(i * 16384, (i + 1) * 16384));

let sink = 0;

function rowOf(task: Task, events: number): Row {
  const r = task.result;
  if (r.state !== 'completed') return { task: task.name, state: r.state };
  return {
    task: task.name,
    'events/s': Math.round(r.throughput.p50 * events),
    'us/stream (median)': Number((r.latency.p50 * 1e3).toFixed(2)),
    'rme %': Number(r.throughput.rme.toFixed(2)),
    samples: r.latency.samplesCount,
  };
}

function parseAll(chunks: readonly Uint8Array[]): void {
  const p = createSseParser({ onEvent: (e) => { sink += e.data.length; } });
  for (const c of chunks) p.push(c);
  p.end();
}

/** Baseline: decode, split on blank lines, take the data lines. Wrong on CR, BOM and splits. */
function naive(chunks: readonly Uint8Array[]): void {
  const dec = new TextDecoder();
  let text = '';
  for (const c of chunks) text += dec.decode(c, { stream: true });
  for (const block of text.split('\n\n')) {
    for (const line of block.split('\n')) if (line.startsWith('data: ')) sink += line.length - 6;
  }
}

export async function run(time = 500): Promise<Row[]> {
  const bench = new Bench({ name: 'sse-parse', time, warmupTime: 100 });
  bench.add('sse-parser: 21-event reply, one chunk', () => parseAll([STREAM_SMALL]));
  bench.add('naive split: 21-event reply, one chunk', () => naive([STREAM_SMALL]));
  bench.add('sse-parser: 64 KiB event in 16 KiB chunks', () => parseAll(BIG_CHUNKS));
  bench.add('naive split: 64 KiB event in 16 KiB chunks', () => naive(BIG_CHUNKS));
  await bench.run();
  const events = [21, 21, 1, 1];
  const rows = bench.tasks.map((t, i) => rowOf(t as Task, events[i]!));
  for (let i = 0; i < rows.length; i += 2) {
    const ours = rows[i]!['events/s'] as number;
    const base = rows[i + 1]!['events/s'] as number;
    rows[i]!['x naive'] = Number((ours / base).toFixed(2));
    rows[i + 1]!['x naive'] = 1;
  }
  if (sink === -1) console.log(sink);
  return rows;
}

if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
}
