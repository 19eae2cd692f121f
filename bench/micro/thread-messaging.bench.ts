/**
 * Main <-> worker_thread round trips for the proxy's real frame shape
 * `{ t, rid, sid, dest, body }` with a 1 KiB JSON-RPC body, pipelined (IN_FLIGHT per iteration):
 *  (a) postMessage of a JSON string, (b) postMessage of the object (structured clone),
 *  (c) msgpackr pack -> transferred ArrayBuffer -> unpack,
 *  (e) for reference, a string with a tagged header, `t rid sid dest\n` + body (no re-escaping),
 *  (d) a SharedArrayBuffer ring per direction (single producer, single consumer), writes batched
 *      per tick, the receiver sleeping in Atomics.waitAsync (never Atomics.wait: both ends have
 *      event loops).
 * Each round trip decodes the frame in the worker, builds and encodes a reply carrying a body of
 * the same size, and decodes the reply on main.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { createRequire } from 'node:module';
import { TOOLS_CALL_1K } from './envelope.bench.js';

export type Row = Record<string, string | number>;

const ROLE = 'thread-messaging-echo';
const IN_FLIGHT = 64;
type Mode = 'json' | 'tagged' | 'clone' | 'msgpack' | 'ring';

interface Frame { t: number; rid: number; sid: string; dest: string; body: string }

const SID = '0123456789abcdef0123456789abcdef';

function replyTo(f: Frame): Frame {
  return { t: 2, rid: f.rid, sid: f.sid, dest: f.dest, body: f.body };
}

interface Msgpackr { pack(v: unknown): Uint8Array; unpack(b: Uint8Array): unknown }

/**
 * msgpackr lost this comparison (bench/README.md), so the proxy does not depend on it; it is a
 * dependency of bench/ only (`cd bench && npm install`). Without it the msgpackr rows are skipped.
 */
function loadMsgpackr(): Msgpackr | undefined {
  for (const base of [import.meta.url, new URL('../../../bench/package.json', import.meta.url).href]) {
    try {
      return createRequire(base)('msgpackr') as Msgpackr;
    } catch {
      // try the next place
    }
  }
  return undefined;
}
const msgpackr = loadMsgpackr();

function unpack(b: Uint8Array): unknown {
  return msgpackr!.unpack(b);
}

/** A copy in a fresh ArrayBuffer: msgpackr returns a view of its reused buffer, which must not move. */
function packToTransfer(f: Frame): ArrayBuffer {
  const view = msgpackr!.pack(f);
  const out = new Uint8Array(view.length);
  out.set(view);
  return out.buffer;
}

/** (e): header fields space-separated, then a newline, then the body as is. */
function toTagged(f: Frame): string {
  return f.t + ' ' + f.rid + ' ' + f.sid + ' ' + f.dest + '\n' + f.body;
}

function fromTagged(m: string): Frame {
  const a = m.indexOf(' ');
  const b = m.indexOf(' ', a + 1);
  const c = b + 33; // the sid is always 32 chars
  const nl = m.indexOf('\n', c + 1);
  return { t: Number(m.slice(0, a)), rid: Number(m.slice(a + 1, b)), sid: m.slice(b + 1, c), dest: m.slice(c + 1, nl), body: m.slice(nl + 1) };
}

// ---- the SharedArrayBuffer ring ----

const enum Ctl { Head = 0, Tail = 1, Waiting = 2 }
const CTL_BYTES = 64;
const RING_BYTES = 1 << 20;
const WRAP = -1;

interface WaitAsync {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}
const atomicsWait = Atomics as unknown as WaitAsync;

/** Producer side. Positions run freely as int32; the offset is position & mask. */
class RingWriter {
  private readonly ctl: Int32Array;
  private readonly buf: Buffer;
  private readonly mask = RING_BYTES - 1;
  private tail = 0;
  private flushQueued = false;
  private readonly flushFn = (): void => this.flush();

  constructor(sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, CTL_BYTES / 4);
    this.buf = Buffer.from(sab, CTL_BYTES, RING_BYTES);
  }

  /** Record: [int32 length][u8 t][u32 rid][32 B sid][u16 dest bytes][dest][body] padded to 4. */
  write(f: Frame): void {
    const worst = 4 + 1 + 4 + 32 + 2 + f.dest.length * 3 + f.body.length * 3;
    let off = this.tail & this.mask;
    // A record never wraps: if it might not fit before the end, skip to the start.
    const skip = off + worst > RING_BYTES ? RING_BYTES - off : 0;
    if (((this.tail - Atomics.load(this.ctl, Ctl.Head)) | 0) + skip + worst > RING_BYTES) {
      // A real ring would queue and wait for the consumer here; the bench never fills 1 MiB.
      throw new Error('ring full');
    }
    if (skip > 0) {
      this.buf.writeInt32LE(WRAP, off);
      this.tail = (this.tail + skip) | 0;
      off = 0;
    }
    const b = this.buf;
    let p = off + 4;
    b[p++] = f.t;
    b.writeUInt32LE(f.rid >>> 0, p); p += 4;
    b.write(f.sid, p, 32, 'latin1'); p += 32;
    const destLen = b.write(f.dest, p + 2, 'utf8');
    b.writeUInt16LE(destLen, p); p += 2 + destLen;
    p += b.write(f.body, p, 'utf8');
    const len = p - off - 4;
    b.writeInt32LE(len, off);
    this.tail = (this.tail + 4 + ((len + 3) & ~3)) | 0;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushFn);
    }
  }

  /** Once per tick: publish everything written, and wake the consumer only if it sleeps. */
  private flush(): void {
    this.flushQueued = false;
    Atomics.store(this.ctl, Ctl.Tail, this.tail);
    if (Atomics.load(this.ctl, Ctl.Waiting) !== 0) Atomics.notify(this.ctl, Ctl.Tail);
  }
}

/** Consumer side: drains everything available, then sleeps in waitAsync. */
async function consumeRing(sab: SharedArrayBuffer, onFrame: (f: Frame) => void): Promise<never> {
  const ctl = new Int32Array(sab, 0, CTL_BYTES / 4);
  const b = Buffer.from(sab, CTL_BYTES, RING_BYTES);
  const mask = RING_BYTES - 1;
  let head = 0;
  for (;;) {
    const tail = Atomics.load(ctl, Ctl.Tail);
    if (head !== tail) {
      while (head !== tail) {
        const off = head & mask;
        const len = b.readInt32LE(off);
        if (len === WRAP) { head = (head + (RING_BYTES - off)) | 0; continue; }
        let p = off + 4;
        const t = b[p++] as number;
        const rid = b.readUInt32LE(p); p += 4;
        const sid = b.toString('latin1', p, p + 32); p += 32;
        const destLen = b.readUInt16LE(p); p += 2;
        const dest = b.toString('utf8', p, p + destLen); p += destLen;
        const body = b.toString('utf8', p, off + 4 + len);
        head = (head + 4 + ((len + 3) & ~3)) | 0;
        onFrame({ t, rid, sid, dest, body });
      }
      Atomics.store(ctl, Ctl.Head, head);
      await undefined; // let the handlers' batched flush run before looking again
      continue;
    }
    Atomics.store(ctl, Ctl.Waiting, 1);
    if (Atomics.load(ctl, Ctl.Tail) === tail) {
      const r = atomicsWait.waitAsync(ctl, Ctl.Tail, tail);
      if (r.async) await r.value;
    }
    Atomics.store(ctl, Ctl.Waiting, 0);
  }
}

// ---- the echo worker ----

function echoMain(mode: Mode): void {
  const port = parentPort;
  if (port === null) return;
  switch (mode) {
    case 'json':
      port.on('message', (m: string) => { port.postMessage(JSON.stringify(replyTo(JSON.parse(m) as Frame))); });
      break;
    case 'tagged':
      port.on('message', (m: string) => { port.postMessage(toTagged(replyTo(fromTagged(m)))); });
      break;
    case 'clone':
      port.on('message', (m: Frame) => { port.postMessage(replyTo(m)); });
      break;
    case 'msgpack':
      port.on('message', (m: ArrayBuffer) => {
        const out = packToTransfer(replyTo(unpack(new Uint8Array(m)) as Frame));
        port.postMessage(out, [out]);
      });
      break;
    case 'ring': {
      const { toWorker, toMain } = workerData as { toWorker: SharedArrayBuffer; toMain: SharedArrayBuffer };
      const out = new RingWriter(toMain);
      port.on('message', () => {}); // keeps the thread alive: a pending waitAsync does not
      void consumeRing(toWorker, (f) => out.write(replyTo(f)));
      break;
    }
  }
  port.postMessage('ready');
}

// ---- main side ----

interface Harness { roundTrips(n: number): Promise<void>; close(): Promise<void> }

async function startHarness(mode: Mode): Promise<Harness> {
  const rings = mode === 'ring'
    ? { toWorker: new SharedArrayBuffer(CTL_BYTES + RING_BYTES), toMain: new SharedArrayBuffer(CTL_BYTES + RING_BYTES) }
    : undefined;
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE, mode, ...rings } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  let pending = 0;
  let done: () => void = () => {};
  let rid = 0;
  let check = 0;
  const got = (f: Frame): void => {
    check += f.body.length;
    if (--pending === 0) done();
  };
  const frame = (): Frame => ({ t: 1, rid: rid++, sid: SID, dest: 'demo', body: TOOLS_CALL_1K });
  let send: (f: Frame) => void;
  switch (mode) {
    case 'json':
      worker.on('message', (m: string) => got(JSON.parse(m) as Frame));
      send = (f) => worker.postMessage(JSON.stringify(f));
      break;
    case 'tagged':
      worker.on('message', (m: string) => got(fromTagged(m)));
      send = (f) => worker.postMessage(toTagged(f));
      break;
    case 'clone':
      worker.on('message', got);
      send = (f) => worker.postMessage(f);
      break;
    case 'msgpack':
      worker.on('message', (m: ArrayBuffer) => got(unpack(new Uint8Array(m)) as Frame));
      send = (f) => { const ab = packToTransfer(f); worker.postMessage(ab, [ab]); };
      break;
    case 'ring': {
      const out = new RingWriter((rings as { toWorker: SharedArrayBuffer }).toWorker);
      void consumeRing((rings as { toMain: SharedArrayBuffer }).toMain, got);
      send = (f) => out.write(f);
      break;
    }
  }
  return {
    roundTrips: (n) => new Promise<void>((resolve) => {
      pending = n;
      done = resolve;
      for (let i = 0; i < n; i++) send(frame());
    }),
    close: async () => {
      if (check % TOOLS_CALL_1K.length !== 0) throw new Error('a reply body was corrupted');
      await worker.terminate();
    },
  };
}

function rowOf(task: Task, perOp: number): Row {
  const r = task.result;
  if (r.state !== 'completed') return { task: task.name, state: r.state };
  return {
    task: task.name,
    'round trips/s': Math.round(r.throughput.p50 * perOp),
    'us/batch (median)': Number((r.latency.p50 * 1e3).toFixed(1)),
    'rme %': Number(r.throughput.rme.toFixed(2)),
    samples: r.latency.samplesCount,
  };
}

const LABELS: Record<Mode, string> = {
  clone: '(b) structured clone of the object',
  json: '(a) JSON string',
  tagged: '(e) tagged string header + raw body',
  msgpack: '(c) msgpackr + transferred ArrayBuffer',
  ring: '(d) SAB ring, batched, waitAsync',
};

export async function run(time = 500): Promise<Row[]> {
  const rows: Row[] = [];
  // One bench per mode so only one echo worker is alive at a time.
  for (const mode of ['clone', 'json', 'msgpack', 'ring', 'tagged'] as const) {
    if (mode === 'msgpack' && !msgpackr) {
      rows.push({ task: LABELS.msgpack, state: 'skipped: msgpackr not installed (cd bench && npm install)' });
      continue;
    }
    const h = await startHarness(mode);
    try {
      const bench = new Bench({ name: `messaging ${mode}`, time, warmupTime: 100 });
      bench.add(`${LABELS[mode]}, ${IN_FLIGHT} in flight`, () => h.roundTrips(IN_FLIGHT));
      bench.add(`${LABELS[mode]}, 1 in flight`, () => h.roundTrips(1));
      await bench.run();
      rows.push(rowOf(bench.tasks[0] as Task, IN_FLIGHT), rowOf(bench.tasks[1] as Task, 1));
    } finally {
      await h.close();
    }
  }
  const base = (suffix: string): number => (rows.find((r) => r.task === `${LABELS.clone}, ${suffix}`)?.['round trips/s'] as number | undefined) ?? NaN;
  for (const row of rows) {
    const suffix = String(row.task).split(', ').pop() as string;
    row['x clone'] = Number(((row['round trips/s'] as number) / base(suffix)).toFixed(2));
  }
  return rows;
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  echoMain((workerData as { mode: Mode }).mode);
} else if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
}
