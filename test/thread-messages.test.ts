import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { configFromYaml, waitFor } from './helpers/proxy.js';
import { ErrorCode } from '../src/errors.js';
import {
  BATCH_FLUSH_CHARS, FrameKind, MAX_RECORD_PAYLOAD, Outbox, ToMain, type ToMainMsg, ToWorker, type ToWorkerMsg,
  decodeToMain, decodeToWorker, encodeToMain, encodeToWorker,
} from '../src/threads/messages.js';

const SID = '0123456789abcdef0123456789abcdef';
// Payloads with the characters a length-prefixed record must carry untouched.
const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const BODY = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"text":"a,b\\n,,9:\u00e9\u2603\ud83d\ude00"}}';

test('every hot message to a worker survives encode + decode unchanged', () => {
  const msgs: ToWorkerMsg[] = [
    { t: ToWorker.Frame, rid: 1, sid: SID, dest: 'fast', kind: FrameKind.Request, init: true, trace: '', body: BODY },
    { t: ToWorker.Frame, rid: 2, sid: SID, dest: 'a_b-c', kind: FrameKind.OneWay, init: false, trace: TRACE, body: '' },
    // A tracestate is a comma-separated list: the trace travels length-prefixed like a payload.
    { t: ToWorker.Frame, rid: 3, sid: SID, dest: 'fast', kind: FrameKind.Request, init: false, trace: `${TRACE}vendor=a,b=c,d=9`, body: BODY },
    { t: ToWorker.Credit, rid: -1, sid: SID, dest: 'fast', bytes: 65536 },
    { t: ToWorker.Credit, rid: 0x3fffffff, sid: SID, dest: 'fast', bytes: 0 },
    { t: ToWorker.Abandon, rid: 42 },
    // 2026-07-28: header values and the principal may hold ',' and any character.
    {
      t: ToWorker.Frame2026, rid: 43, dest: 'fast', body: BODY, long: false, bridge: true, principal: 'anon:127.0.0.1,x',
      headers: [['mcp-protocol-version', '2026-07-28'], ['mcp-method', 'tools/call'], ['mcp-param-q', 'a,b\u00e9,'], ['mcp-name', '']],
    },
    { t: ToWorker.Frame2026, rid: 44, dest: 'a_b-c', body: '', long: true, bridge: false, principal: '', headers: [] },
  ];
  const batch = msgs.map((m) => encodeToWorker(m) as string).join('');
  const out: ToWorkerMsg[] = [];
  decodeToWorker(batch, (m) => out.push(m));
  assert.deepEqual(out, msgs);
});

test('every hot message to the acceptor survives encode + decode unchanged', () => {
  const msgs: ToMainMsg[] = [
    { t: ToMain.Json, rid: 5, body: BODY },
    { t: ToMain.StreamStart, rid: 6 },
    { t: ToMain.Event, rid: 6, data: BODY },
    { t: ToMain.Event, rid: 6, data: '' },
    { t: ToMain.StreamEnd, rid: 6 },
    { t: ToMain.Accepted, rid: 8 },
  ];
  const batch = msgs.map((m) => encodeToMain(m) as string).join('');
  const out: ToMainMsg[] = [];
  decodeToMain(batch, (m) => out.push(m));
  assert.deepEqual(out, msgs);
});

test('a Frame without a trace decodes with trace \'\' (the field is optional for senders)', () => {
  const out: ToWorkerMsg[] = [];
  decodeToWorker(encodeToWorker({ t: ToWorker.Frame, rid: 9, sid: SID, dest: 'fast', kind: FrameKind.Request, init: false, body: BODY }) as string, (m) => out.push(m));
  assert.deepEqual(out, [{ t: ToWorker.Frame, rid: 9, sid: SID, dest: 'fast', kind: FrameKind.Request, init: false, trace: '', body: BODY }]);
});

test('cold and oversized messages are not encoded; a corrupt batch throws instead of looping', () => {
  assert.equal(encodeToMain({ t: ToMain.Fail, rid: 1, code: ErrorCode.UpstreamTimeout, message: 'x' }), undefined);
  assert.equal(encodeToMain({ t: ToMain.Push, sid: SID, data: BODY }), undefined);
  assert.equal(encodeToMain({ t: ToMain.Json, rid: 1, body: 'x'.repeat(MAX_RECORD_PAYLOAD + 1) }), undefined);
  assert.equal(encodeToWorker({ t: ToWorker.EndAll, rid: 1 }), undefined);
  const big = 'x'.repeat(MAX_RECORD_PAYLOAD + 1);
  assert.equal(encodeToWorker({ t: ToWorker.Frame2026, rid: 1, dest: 'fast', body: big, long: false, bridge: false, principal: 'p', headers: [] }), undefined);
  assert.throws(() => decodeToWorker('M1,fast,0,1,p2,', () => {}), /corrupt/);
  const good = encodeToMain({ t: ToMain.Json, rid: 5, body: BODY }) as string;
  assert.throws(() => decodeToMain(good.slice(0, -3), () => {}), /corrupt/);
  assert.throws(() => decodeToMain('Q1,', () => {}), /corrupt/);
  assert.throws(() => decodeToWorker('F1', () => {}), /corrupt/);
});

test('Outbox: one post per turn, order kept across batched and object messages, size bound', async () => {
  const posted: unknown[] = [];
  const out = new Outbox<ToMainMsg>({ postMessage: (v) => posted.push(v) }, encodeToMain);
  out.send({ t: ToMain.Json, rid: 1, body: BODY });
  out.send({ t: ToMain.Accepted, rid: 2 });
  assert.equal(posted.length, 0, 'batched until the end of the turn');
  out.send({ t: ToMain.Fail, rid: 3, code: ErrorCode.UpstreamTimeout, message: 'late' });
  assert.equal(posted.length, 2, 'an object message flushes the batch first');
  assert.equal(typeof posted[0], 'string');
  assert.deepEqual(posted[1], { t: ToMain.Fail, rid: 3, code: ErrorCode.UpstreamTimeout, message: 'late' });
  out.send({ t: ToMain.Accepted, rid: 4 });
  await new Promise((r) => setImmediate(r));
  assert.equal(posted.length, 3, 'flushed at the end of the turn');
  const seen: number[] = [];
  for (const p of posted) decodeToMain(p as string | ToMainMsg, (m) => seen.push((m as { rid: number }).rid));
  assert.deepEqual(seen, [1, 2, 3, 4]);

  posted.length = 0;
  const big = 'y'.repeat(MAX_RECORD_PAYLOAD - 100);
  for (let i = 0; i < 10; i++) out.send({ t: ToMain.Event, rid: i, data: big });
  assert.ok(posted.length >= 1, 'a full batch goes out without waiting for the turn to end');
  for (const p of posted) assert.ok((p as string).length < BATCH_FLUSH_CHARS + MAX_RECORD_PAYLOAD + 32);
  out.flush();
});

test('batches cross a real MessagePort intact', async () => {
  const { port1, port2 } = new MessageChannel();
  const got: ToWorkerMsg[] = [];
  const done = new Promise<void>((resolve) => {
    port2.on('message', (d: string | ToWorkerMsg) => decodeToWorker(d, (m) => {
      got.push(m);
      if (got.length === 3) resolve();
    }));
  });
  const out = new Outbox<ToWorkerMsg>(port1, encodeToWorker);
  const sent: ToWorkerMsg[] = [
    { t: ToWorker.Frame, rid: 9, sid: SID, dest: 'fast', kind: FrameKind.Request, init: false, trace: `${TRACE}a=1,b=2`, body: BODY },
    { t: ToWorker.StreamOpen, sid: SID, dest: 'fast' },
    { t: ToWorker.Abandon, rid: 9 },
  ];
  for (const m of sent) out.send(m);
  await done;
  port1.close();
  assert.deepEqual(got, sent);
});

test('a corrupt batch reaching a real worker thread is dropped; the thread and its sessions live on', async () => {
  const config = configFromYaml(`log_level: silent\ndestinations:\n  d: { transport: streamable_http, url: "http://127.0.0.1:1/mcp" }\n`);
  const worker = new Worker(new URL('../workers/session-worker.js', import.meta.url), { workerData: { index: 0, config } });
  let exited = false;
  worker.on('exit', () => (exited = true));
  const seen: ToMainMsg[] = [];
  worker.on('message', (d: string | ToMainMsg) => decodeToMain(d, (m) => seen.push(m)));
  try {
    await waitFor(() => seen.some((m) => m.t === ToMain.Ready), 10_000, 'worker ready');
    // Records no Outbox writes: an unknown tag, a truncated Frame, a non-numeric rid.
    worker.postMessage('Q1,');
    worker.postMessage('F12,abc');
    worker.postMessage('Xnot-a-number,');
    worker.postMessage({ t: ToWorker.StatsRequest, rid: 77 });
    await waitFor(() => seen.some((m) => m.t === ToMain.Stats && m.rid === 77), 10_000, 'the worker to answer after the corrupt batches');
    assert.equal(exited, false);
  } finally {
    await worker.terminate();
  }
});
