/**
 * The thread-message encodings the proxy could use, measured the way the proxy uses them: the main
 * thread keeps IN_FLIGHT frames (a ~330-byte tools/call) outstanding at a worker, the worker answers
 * each with a reply of the same size, and every reply releases the next frame. CPU is the whole
 * process (both threads) per round trip, from process.cpuUsage().
 *
 *   node dist/bench/thread-outbox.js [--runs 3] [--trips 300000]
 *
 * Modes: `object` = one postMessage of the typed object per message (structured clone, what the
 * proxy did before); `record` = the string record of src/threads/messages.ts, one postMessage each;
 * `batch` = the records batched per event-loop turn by Outbox (what the proxy does).
 */
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  FrameKind, Outbox, type PostTarget, ToMain, type ToMainMsg, ToWorker, type ToWorkerMsg,
  decodeToMain, decodeToWorker, encodeToMain, encodeToWorker,
} from '../src/threads/messages.js';

type Mode = 'object' | 'record' | 'batch';
const MODES: Mode[] = ['object', 'record', 'batch'];
const IN_FLIGHT = 32;
const SID = '0123456789abcdef0123456789abcdef';
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 12345678, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(256) } } });

/** An Outbox configured for `mode`: `object` never encodes, `record` flushes after every message. */
function outbox<M>(target: PostTarget, encode: (m: M) => string | undefined, mode: Mode): { send(m: M): void } {
  const out = new Outbox<M>(target, mode === 'object' ? () => undefined : encode);
  if (mode !== 'record') return out;
  return {
    send(m: M): void {
      out.send(m);
      out.flush();
    },
  };
}

async function measure(mode: Mode, trips: number): Promise<{ rtPerSec: number; cpuUs: number }> {
  const w = new Worker(new URL(import.meta.url), { workerData: { mode } });
  const out = outbox<ToWorkerMsg>(w, encodeToWorker, mode);
  let sent = 0;
  let got = 0;
  let t0 = 0;
  let c0 = process.cpuUsage();
  const send = (): void => {
    sent++;
    out.send({ t: ToWorker.Frame, rid: sent, sid: SID, dest: 'fast', kind: FrameKind.Request, init: false, body: BODY });
  };
  await new Promise<void>((resolve) => {
    w.on('message', (d: string | ToMainMsg) => decodeToMain(d, (m) => {
      if (m.t === ToMain.Ready) {
        t0 = performance.now();
        c0 = process.cpuUsage();
        for (let i = 0; i < IN_FLIGHT; i++) send();
        return;
      }
      if (++got === trips) return resolve();
      if (sent < trips) send();
    }));
  });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  await w.terminate();
  return { rtPerSec: (trips / ms) * 1000, cpuUs: (c.user + c.system) / trips };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

if (isMainThread) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, trips: { type: 'string', default: '300000' } } });
  const runs = Number(values.runs);
  const trips = Number(values.trips);
  const rows = new Map<Mode, { rt: number[]; cpu: number[] }>(MODES.map((m) => [m, { rt: [], cpu: [] }]));
  for (let r = 0; r < runs; r++) {
    for (const mode of MODES) {
      const x = await measure(mode, trips);
      rows.get(mode)!.rt.push(x.rtPerSec);
      rows.get(mode)!.cpu.push(x.cpuUs);
    }
  }
  const base = median(rows.get('object')!.cpu);
  console.log(`| mode | round trips/s | CPU µs per round trip | CPU ÷ object |\n|---|---:|---:|---:|`);
  for (const [mode, v] of rows) {
    const cpu = median(v.cpu);
    console.log(`| ${mode} | ${Math.round(median(v.rt) / 1000)} k | ${cpu.toFixed(2)} | ${(cpu / base).toFixed(2)} |`);
  }
} else {
  const port = parentPort!;
  const out = outbox<ToMainMsg>(port, encodeToMain, (workerData as { mode: Mode }).mode);
  port.on('message', (d: string | ToWorkerMsg) => decodeToWorker(d, (m) => {
    if (m.t === ToWorker.Frame) out.send({ t: ToMain.Json, rid: m.rid, body: m.body });
  }));
  port.postMessage({ t: ToMain.Ready, worker: 0 } satisfies ToMainMsg);
}
