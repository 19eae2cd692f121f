/**
 * Per-request cost of W3C trace context (observability/trace.ts), on the paths a request takes:
 * the acceptor's upstreamTrace (client header; no header, body scanned for `_meta`; `_meta` found),
 * the worker's withTrace header copy, and the Frame record's extra field.
 */
import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { type Row, opsRow } from './rows.js';
import { upstreamTrace, withTrace } from '../../src/observability/trace.js';
import { FrameKind, ToWorker, decodeToWorker, encodeToWorker } from '../../src/threads/messages.js';
import { RESPONSE_64K, TOOLS_CALL_1K } from './envelope.bench.js';

export type { Row } from './rows.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const BODY_META = TOOLS_CALL_1K.replace('"_meta":{', `"_meta":{"traceparent":"${TP}",`);
const BASE_HEADERS: Record<string, string> = {
  authorization: 'Bearer x', 'content-type': 'application/json', accept: 'application/json, text/event-stream',
  'mcp-session-id': 'f0e1d2c3b4a5968778695a4b3c2d1e0f', 'mcp-protocol-version': '2025-06-18',
};
const SID = '0123456789abcdef0123456789abcdef';

let sink = 0;

export async function run(time = 500): Promise<Row[]> {
  const bench = new Bench({ name: 'trace', time, warmupTime: 100 });
  const trace = upstreamTrace(TP, '', '');
  bench.add('upstreamTrace: client header (child span)', () => { sink += upstreamTrace(TP, '', TOOLS_CALL_1K).length; });
  bench.add('upstreamTrace: header + tracestate', () => { sink += upstreamTrace(TP, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', TOOLS_CALL_1K).length; });
  bench.add(`upstreamTrace: no header, 1 KiB body scanned, new trace`, () => { sink += upstreamTrace('', '', TOOLS_CALL_1K).length; });
  bench.add(`upstreamTrace: no header, 64 KiB body (ends scanned), new trace`, () => { sink += upstreamTrace('', '', RESPONSE_64K).length; });
  bench.add('upstreamTrace: no header, no body (Core.forward default)', () => { sink += upstreamTrace('', '', '').length; });
  bench.add('upstreamTrace: no header, _meta.traceparent in 1 KiB body', () => { sink += upstreamTrace('', '', BODY_META).length; });
  bench.add('withTrace: 5 session headers + traceparent (worker)', () => { sink += Object.keys(withTrace(BASE_HEADERS, trace)).length; });
  const frame = { t: ToWorker.Frame, rid: 7, sid: SID, dest: 'fast', kind: FrameKind.Request, init: false, body: TOOLS_CALL_1K } as const;
  bench.add('Frame record encode+decode, no trace', () => { decodeToWorker(encodeToWorker(frame) as string, (m) => { sink += m.t; }); });
  const traced = { ...frame, trace };
  bench.add('Frame record encode+decode, with trace', () => { decodeToWorker(encodeToWorker(traced) as string, (m) => { sink += m.t; }); });
  await bench.run();
  if (sink === -1) console.log(sink); // keeps the results observable so the work is not optimized away
  return bench.tasks.map((t) => opsRow(t as Task));
}

if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
}
