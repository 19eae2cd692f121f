/**
 * The measuring tools of bench:compare, each against real parts: the SSE flood client against the
 * fast upstream's `flood` tool (and its event counter at every chunk split), per-thread CPU of a real
 * worker thread named by the thread-names preload, HAProxy (Debian's, from PATH or the bench cache)
 * carrying a checked load, and the .cpuprofile summary of a real `node --cpu-prof` run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { floodNotification, startFastUpstream, type FastUpstream } from '../examples/fast-upstream.js';
import { findHaproxy, startHaproxy } from '../bench/loadtest/haproxy.js';
import { runLoad } from '../bench/loadtest/run.js';
import { EventCounter, runSseFlood } from '../bench/loadtest/sse-flood.js';
import { sampleThreads, threadCpu } from '../bench/loadtest/thread-stats.js';
import { summarise } from '../bench/cpuprofile-top.js';
import { categorise, parsePerfScript } from '../bench/perf-categories.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const THREAD_NAMES = fileURLToPath(new URL('../bench/loadtest/thread-names.js', import.meta.url));

describe('bench tools', () => {
  let upstream: FastUpstream;
  let dir: string;
  before(async () => {
    upstream = await startFastUpstream({ port: 0, host: '127.0.0.1' });
    dir = mkdtempSync(join(tmpdir(), 'bench-tools-'));
  });
  after(() => {
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the event counter counts every data line wherever the stream is split, and ignores comments', () => {
    const events = [': keepalive\n\n', ...[0, 1, 2].map((i) => `event: message\ndata: ${floodNotification(i, 40)}\n\n`),
      'id: 7\ndata: {"jsonrpc":"2.0","id":3,"result":{}}\n\n'];
    const stream = Buffer.from(events.join(''));
    for (let a = 0; a <= stream.length; a++) {
      for (const b of [a, Math.min(stream.length, a + 1), Math.min(stream.length, a + 6)]) {
        const c = new EventCounter();
        for (const part of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) if (part.length > 0) c.feed(part);
        assert.equal(c.events, 4, `split at ${a}/${b}`);
        assert.equal(c.lastEvent()?.id, 3);
      }
    }
  });

  test('a notification flood from the fast upstream is received whole and checked', async () => {
    const r = await runSseFlood({ url: upstream.url, durationMs: 300, streams: 2, count: 200, size: 512, pid: process.pid });
    assert.deepEqual(r.failures, []);
    assert.equal(r.streamsBad, 0);
    assert.ok(r.streamsOk >= 2);
    assert.equal(r.events, r.streamsOk * 201);
    assert.ok(r.bytes >= r.streamsOk * 200 * 512);
  });

  test('the fast upstream refuses a flood beyond its bounds with a JSON-RPC error', async () => {
    const init = await fetch(upstream.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) });
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    const res = await fetch(upstream.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'flood', arguments: { count: 2_000_000, size: 10 } } }) });
    const body = (await res.json()) as { id: number; error?: { code: number } };
    assert.equal(body.id, 9);
    assert.equal(body.error?.code, -32602);
  });

  test('per-thread CPU finds a worker thread by the name the preload gave it', async () => {
    const script = join(dir, 'busy.mjs');
    // The worker spins only once told to (after the "before" sample) and stays alive until
    // terminated (after the "after" sample): a thread that spun before the first sample or exited
    // before the second is not counted, which a loaded CI machine made happen.
    writeFileSync(script, 'import { parentPort } from "node:worker_threads"; parentPort.on("message", () => { const end = Date.now() + 1000; let x = 0; while (Date.now() < end) x++; parentPort.postMessage(x); });');
    const w = new Worker(script, { workerData: { index: 7 }, execArgv: ['--import', THREAD_NAMES] });
    // The worker is up and spinning once its thread carries the name (bounded wait: a loaded machine starts threads slowly).
    let named: unknown;
    for (let i = 0; i < 60 && named === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      named = sampleThreads(process.pid).find((t) => t.comm === 'mithril-wrk-7');
    }
    assert.ok(named !== undefined, 'the worker thread is named mithril-wrk-7');
    // Sampled once the thread exists: a thread missing from the first sample is not counted.
    const beforeTicks = sampleThreads(process.pid);
    const spun = new Promise((r) => w.once('message', r));
    w.postMessage('go');
    await spun;
    const afterTicks = sampleThreads(process.pid);
    await w.terminate();
    const groups = threadCpu(process.pid, beforeTicks, afterTicks, 1);
    const worker = groups.find((g) => g.group === 'worker 7');
    assert.ok(worker !== undefined && worker.cpuSeconds >= 0.1, `worker 7 CPU: ${JSON.stringify(groups)}`);
    assert.ok(groups.some((g) => g.group === 'main'));
  });

  test('HAProxy carries a checked load to the fast upstream (1 thread, keep-alive)', async () => {
    const bin = findHaproxy(join(ROOT, 'bench', '.cache', 'haproxy'));
    const hap = await startHaproxy(bin, upstream.url, dir);
    try {
      const r = await runLoad({ url: hap.url, sessions: 2, concurrency: 5, requests: 400, threads: 1, pid: hap.pid });
      assert.equal(r.counts.ok, 400);
      assert.equal(r.counts.errors + r.counts.lost + r.counts.mismatched, 0);
      assert.ok(r.proc !== null && r.proc.cpuSeconds >= 0);
      const threads = readdirSync(`/proc/${hap.pid}/task`).length;
      assert.equal(threads, 1, 'nbthread 1: one thread does the work');
    } finally {
      await hap.stop();
    }
  });

  test('perf samples are sorted by what the stack is doing, not by the message callback above it', () => {
    // Shapes copied from `perf script -F tid,ip,sym,dso` of a loaded proxy (bench/perf-threads.sh).
    const text = [
      '101 ',
      '\tffffffff82063419 tcp_sendmsg ([kernel.kallsyms])',
      '\t7f00000000a1 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)',
      '\t7f00000000b2 us_socket_write (/x/uws_linux_x64_115.node)',
      '',
      '202 ',
      '\tffffffff82063419 finish_task_switch.isra.0 ([kernel.kallsyms])',
      '\t7f00000000c3 __GI___libc_write (/usr/lib/x86_64-linux-gnu/libc.so.6)',
      '\t9dd94f node::worker::MessagePortData::AddToIncomingQueue (/usr/bin/node)',
      '',
      '202 ',
      '\t7f212c0a4a5b JS:*parseEnvelope file:///w/dist/src/upstream/jsonrpc-envelope.js:299:30 (/tmp/perf-1.map)',
      '\t7f212c0a4a5c JS:*onFrame file:///w/dist/workers/session-worker.js:36:1 (/tmp/perf-1.map)',
      '\t9dd950 node::worker::MessagePort::OnMessage (/usr/bin/node)',
      '',
      '303 ',
      '\t1511a73 Builtins_KeyedLoadIC (/usr/bin/node)',
      '\t7f212c08cea9 JS:*_resume /w/node_modules/undici/lib/dispatcher/client.js:589:18 (/tmp/perf-1.map)',
      '',
    ].join('\n');
    const samples = parsePerfScript(text);
    assert.deepEqual(samples.map((x) => x.tid), [101, 202, 202, 303]);
    assert.deepEqual(samples.map((x) => categorise(x.frames)), [
      'kernel: socket write',
      'thread hand-off (postMessage, wake-up)',
      'JS: mithril (src/, workers/)',
      'JS: undici (incl. llhttp wasm)',
    ]);
  });

  test('the profile summary puts a busy function at the top of its thread', () => {
    const script = join(dir, 'spin.mjs');
    writeFileSync(script, 'function spinHere() { let x = 0; const end = Date.now() + 300; while (Date.now() < end) x += Math.sqrt(x + 1); return x; } spinHere();');
    const profDir = join(dir, 'prof');
    execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, script]);
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
    const s = summarise(JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Parameters<typeof summarise>[0]);
    assert.ok(s.busyUs > 200_000, `busy ${s.busyUs} µs`);
    assert.ok(s.functions.slice(0, 3).some((f) => f.name === 'spinHere'), JSON.stringify(s.functions.slice(0, 3)));
  });
});
