/**
 * The stdio upstream against real child processes (raw JS fixtures in test/fixtures/stdio).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { ErrorCode, ProxyError } from '../src/errors.js';
import type { StdioDestination, StdioLimits } from '../src/config/types.js';
import type { ChannelHandlers } from '../src/upstream/types.js';
import { LineSplitter } from '../src/upstream/line-splitter.js';
import {
  StdioChild,
  killAllChildrenSync,
  liveChildCount,
  minimalEnv,
  type StdioChildOptions,
} from '../src/upstream/stdio-child.js';

// Compiled to dist/test/, so the fixtures are two levels up.
function fixture(name: string): string {
  return fileURLToPath(new URL(`../../test/fixtures/stdio/${name}`, import.meta.url));
}

function makeDest(
  script: string,
  args: string[] = [],
  limits: Partial<StdioLimits> = {},
  extra: Partial<StdioDestination> = {},
): StdioDestination {
  return {
    name: 'test-stdio',
    transport: 'stdio',
    command: process.execPath,
    args: [fixture(script), ...args],
    env: {},
    cwd: undefined,
    connectKey: 'k',
    timeouts: { connectMs: 3000, firstByteMs: 5000, idleMs: 5000, endpointMs: 5000, requestMs: 5000, maxRequestMs: 60000 },
    stdio: {
      maxLineBytes: 1024 * 1024,
      maxRestarts: 3,
      restartWindowMs: 30_000,
      restartBackoffMs: 20,
      killGraceMs: 300,
      stderrLinesPerSec: 20,
      onExit: 'restart',
      maxChildren: null,
      sessionIdleMs: 600_000,
      ...limits,
    },
    ...extra,
  };
}

type LogLine = { level: string; msg: string; [k: string]: unknown };

function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: 'debug', formatters: { level: (label) => ({ level: label }) } },
    { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
  );
  return { log, lines };
}

interface Rpc {
  id?: unknown;
  method?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
  params?: Record<string, unknown>;
}

class Harness implements ChannelHandlers {
  messages: string[] = [];
  interrupted: Array<{ err: ProxyError; willRecover: boolean }> = [];
  closed: Array<ProxyError | null> = [];
  onMessage(json: string): void {
    this.messages.push(json);
  }
  onInterrupted(err: ProxyError, willRecover: boolean): void {
    this.interrupted.push({ err, willRecover });
  }
  onClosed(err: ProxyError | null): void {
    this.closed.push(err);
  }
  find(pred: (m: Rpc) => boolean): Rpc | undefined {
    for (const raw of this.messages) {
      const m = JSON.parse(raw) as Rpc;
      if (pred(m)) return m;
    }
    return undefined;
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let nextId = 0;
async function rpc(ch: StdioChild, h: Harness, method: string, params: unknown = {}): Promise<Rpc> {
  const id = `t-${nextId++}`;
  await ch.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  let reply: Rpc | undefined;
  await waitFor(() => (reply = h.find((m) => m.id === id)) !== undefined, `reply to ${method}`);
  return reply!;
}

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});

function isDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** For processes that are not our children (reaping them is init's job). Linux /proc. */
function isDeadOrZombie(pid: number): boolean {
  if (isDead(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true; // vanished between the two checks
  }
}

/** Every test is bounded: a hang fails the test instead of stalling the run. */
const T = { timeout: 20_000 };

const channels: StdioChild[] = [];
function open(
  dest: StdioDestination,
  log: Logger = captureLog().log,
  opts?: StdioChildOptions,
): { ch: StdioChild; h: Harness } {
  const h = new Harness();
  const ch = new StdioChild(dest, h, log, opts);
  channels.push(ch);
  return { ch, h };
}

after(async () => {
  await Promise.all(channels.map((c) => c.close()));
  killAllChildrenSync();
});

describe('LineSplitter', () => {
  function collect(max: number): { s: LineSplitter; lines: string[]; oversize: number[] } {
    const lines: string[] = [];
    const oversize: number[] = [];
    const s = new LineSplitter(max, { onLine: (l) => lines.push(l), onOversize: (n) => oversize.push(n) });
    return { s, lines, oversize };
  }

  test('splits across chunks, strips CR, keeps UTF-8 split between chunks intact', () => {
    const { s, lines } = collect(1024);
    const euro = Buffer.from('€'); // 3 bytes
    s.push(Buffer.from('{"a":1}\r\n{"b":'));
    s.push(Buffer.concat([Buffer.from('"x'), euro.subarray(0, 1)]));
    s.push(Buffer.concat([euro.subarray(1), Buffer.from('"}\n\n')]));
    s.push(Buffer.from('tail-without-newline'));
    assert.deepEqual(lines, ['{"a":1}', '{"b":"x€"}', '']);
    assert.equal(s.heldBytes, 'tail-without-newline'.length);
  });

  test('an oversized line is dropped once, the next line survives', () => {
    const { s, lines, oversize } = collect(16);
    s.push(Buffer.from('x'.repeat(10)));
    s.push(Buffer.from('x'.repeat(10))); // over the limit while still partial
    s.push(Buffer.from('y'.repeat(100)));
    assert.equal(s.heldBytes, 0, 'nothing of the oversized line is held');
    s.push(Buffer.from('zz\nok\n' + 'w'.repeat(40) + '\nfine\n'));
    assert.deepEqual(lines, ['ok', 'fine']);
    assert.equal(oversize.length, 2, 'one report per oversized line');
  });
});

describe('StdioChild', () => {
  test('minimalEnv keeps only PATH, HOME, LANG, the npm/XDG cache locations, plus extras', () => {
    process.env.MITHRIL_STDIO_TEST_ONLY = 'must-not-leak';
    try {
      const env = minimalEnv({ EXTRA: '1' });
      assert.equal(env.MITHRIL_STDIO_TEST_ONLY, undefined);
      assert.equal(env.EXTRA, '1');
      for (const k of Object.keys(env)) assert.ok(['PATH', 'HOME', 'LANG', 'npm_config_cache', 'XDG_CACHE_HOME', 'EXTRA'].includes(k), k);
    } finally {
      delete process.env.MITHRIL_STDIO_TEST_ONLY;
    }
  });

  test('request/response round trip, including id 0', T, async () => {
    const { ch, h } = open(makeDest('echo-server.mjs'));
    await ch.start();
    assert.equal(typeof ch.pid, 'number');
    await ch.send(INIT);
    await waitFor(() => h.find((m) => m.id === 1) !== undefined, 'initialize reply');
    await ch.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'zero' } }));
    await waitFor(() => h.find((m) => m.id === 0) !== undefined, 'reply to id 0');
    const r = await rpc(ch, h, 'tools/call', { name: 'echo', arguments: { text: 'héllo' } });
    assert.deepEqual(r.result, { echo: { name: 'echo', arguments: { text: 'héllo' } } });
    await ch.close();
    assert.deepEqual(h.closed, [null]);
  });

  test('a non-JSON banner is skipped, not forwarded, and logged once', T, async () => {
    const cap = captureLog();
    const { ch, h } = open(makeDest('echo-server.mjs', ['--banner']), cap.log);
    await ch.start();
    await rpc(ch, h, 'pid');
    assert.ok(!h.messages.some((m) => m.includes('not JSON')), 'banner forwarded');
    assert.equal(h.messages.length, 1);
    const warns = cap.lines.filter((l) => l.msg === 'non-JSON line on stdout skipped');
    assert.equal(warns.length, 1);
    // The blank lines after the banner are ignored, not counted as more skipped lines.
    assert.equal(cap.lines.filter((l) => l.msg === 'more non-JSON lines on stdout skipped').length, 0);
    await ch.close();
  });

  test('an oversized stdout line is dropped and the next line still delivered', T, async () => {
    const cap = captureLog();
    const dest = makeDest('huge-line.mjs', [String(3 * 1024 * 1024)], { maxLineBytes: 1024 * 1024 });
    const { ch, h } = open(dest, cap.log);
    await ch.start();
    const r = await rpc(ch, h, 'anything');
    assert.deepEqual(r.result, { after: 'huge' });
    assert.equal(h.messages.length, 1, 'only the normal reply is forwarded');
    const warns = cap.lines.filter((l) => l.msg === 'stdout line longer than maxLineBytes dropped');
    assert.equal(warns.length, 1);
    await ch.close();
  });

  test('stderr is logged line by line, rate-limited, with the drops summarised', T, async () => {
    const cap = captureLog();
    const { ch, h } = open(makeDest('echo-server.mjs', [], { stderrLinesPerSec: 5 }), cap.log);
    await ch.start();
    await rpc(ch, h, 'stderr', { lines: 100 });
    const stderrLogged = (): LogLine[] => cap.lines.filter((l) => l.stream === 'stderr' && l.msg.startsWith('stderr line'));
    await waitFor(() => stderrLogged().length === 5, 'five stderr lines logged');
    await ch.close(); // flushes the summary
    const summary = cap.lines.filter((l) => l.stream === 'stderr' && l.msg === 'lines dropped (rate limit)');
    const dropped = summary.reduce((n, l) => n + (l.dropped as number), 0);
    assert.equal(stderrLogged().length + dropped, 100);
    assert.ok(stderrLogged().length <= 10, 'at most two one-second windows of lines');
    assert.equal(stderrLogged()[0]!.level, 'info');
  });

  test('a message with raw newlines goes out as one line', T, async () => {
    const { ch, h } = open(makeDest('echo-server.mjs'));
    await ch.start();
    const params = { name: 'multi', arguments: { text: 'line1\nline2', list: [1, 2, 3] } };
    const pretty = JSON.stringify({ jsonrpc: '2.0', id: 'nl-1', method: 'tools/call', params }, null, 2);
    assert.ok(pretty.includes('\n'));
    await ch.send(pretty.replace(/\n/g, '\r\n'));
    await waitFor(() => h.find((m) => m.id === 'nl-1') !== undefined, 'reply');
    assert.deepEqual(h.find((m) => m.id === 'nl-1')!.result, { echo: params });
    const stats = await rpc(ch, h, 'stats');
    assert.equal(stats.result!.badLines, 0);
    await ch.close();
  });

  test('the child gets a minimal environment and the configured cwd', T, async () => {
    process.env.MITHRIL_STDIO_TEST_ONLY = 'must-not-leak';
    const cwd = realpathSync(tmpdir());
    const dest = makeDest('echo-server.mjs', [], {}, { env: { CONFIGURED_VAR: 'yes' }, cwd });
    const { ch, h } = open(dest);
    try {
      await ch.start();
    } finally {
      delete process.env.MITHRIL_STDIO_TEST_ONLY;
    }
    const env = (await rpc(ch, h, 'env')).result!.env as Record<string, string>;
    assert.equal(env.CONFIGURED_VAR, 'yes');
    assert.equal(env.MITHRIL_STDIO_TEST_ONLY, undefined);
    assert.equal(env.PATH, process.env.PATH);
    for (const k of Object.keys(env)) assert.ok(['PATH', 'HOME', 'LANG', 'npm_config_cache', 'XDG_CACHE_HOME', 'CONFIGURED_VAR'].includes(k), `unexpected ${k}`);
    assert.equal((await rpc(ch, h, 'cwd')).result!.cwd, cwd);
    await ch.close();
  });

  test('a missing command or cwd rejects start() with E_UPSTREAM_CONNECT', T, async () => {
    const noCmd = open(makeDest('echo-server.mjs', [], {}, { command: '/nonexistent/mithril-no-such-binary' }));
    await assert.rejects(noCmd.ch.start(), (err: ProxyError) => {
      assert.equal(err.code, ErrorCode.UpstreamConnect);
      assert.match(err.message, /command not found/);
      return true;
    });
    await assert.rejects(noCmd.ch.send('{}'), (err: ProxyError) => err.code === ErrorCode.UpstreamConnect);
    const noCwd = open(makeDest('echo-server.mjs', [], {}, { cwd: '/nonexistent/mithril-no-such-dir' }));
    await assert.rejects(noCwd.ch.start(), (err: ProxyError) => {
      assert.equal(err.code, ErrorCode.UpstreamConnect);
      assert.match(err.message, /cwd .* does not exist/);
      return true;
    });
    await noCmd.ch.close();
    await noCwd.ch.close();
  });

  test('a killed child fails in-flight work, restarts, is re-initialized, and serves again', T, async () => {
    const { ch, h } = open(makeDest('echo-server.mjs'));
    await ch.start();
    await ch.send(INIT);
    await waitFor(() => h.find((m) => m.id === 1) !== undefined, 'initialize reply');
    ch.setReplayOnRestart(INIT);
    await ch.send('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    const before = (await rpc(ch, h, 'stats')).result!;
    const pid1 = ch.pid!;
    assert.equal(before.pid, pid1);

    await ch.send(JSON.stringify({ jsonrpc: '2.0', id: 'slow', method: 'sleep', params: { ms: 10_000 } }));
    process.kill(pid1, 'SIGKILL');
    await waitFor(() => h.interrupted.length === 1, 'onInterrupted');
    assert.equal(h.interrupted[0]!.err.code, ErrorCode.ChildExited);
    assert.equal(h.interrupted[0]!.willRecover, true);

    // Sent while restarting: waits for the re-initialize, then flows to the new child.
    const after = (await rpc(ch, h, 'stats')).result!;
    assert.notEqual(after.pid, pid1);
    assert.equal(ch.pid, after.pid);
    assert.notEqual(after.instanceId, before.instanceId);
    assert.deepEqual(after.initIds, ['mithril-reinit-1']);
    assert.equal(after.initializedCount, 1);
    assert.ok(isDead(pid1));
    assert.equal(h.find((m) => m.id === 'slow'), undefined, 'no reply for the interrupted request');
    assert.equal(h.find((m) => typeof m.id === 'string' && m.id.startsWith('mithril-reinit')), undefined);
    const r = await rpc(ch, h, 'tools/call', { name: 'again' });
    assert.deepEqual(r.result, { echo: { name: 'again' } });
    assert.equal(h.closed.length, 0);
    await ch.close();
    assert.deepEqual(h.closed, [null]);
  });

  test('a restart replays a 100k-deep initialize textually (JSON.stringify would throw RangeError)', T, async () => {
    // Issue 9: the replay rebuilt the frame with JSON.stringify, which recursed over the client's
    // params; the RangeError escaped attemptRestart and killed the worker with all its sessions.
    const levels = 100_000;
    const deepInit = `{"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},`
      + `"clientInfo":{"name":"t","version":"1"},"deep":${'['.repeat(levels)}${']'.repeat(levels)}},"jsonrpc":"2.0","id":1}`;
    const { ch, h } = open(makeDest('echo-server.mjs'));
    await ch.start();
    await ch.send(deepInit);
    await waitFor(() => h.find((m) => m.id === 1) !== undefined, 'initialize reply');
    ch.setReplayOnRestart(deepInit);
    const pid1 = ch.pid!;
    process.kill(pid1, 'SIGKILL');
    await waitFor(() => h.interrupted.length === 1, 'onInterrupted');
    const after = (await rpc(ch, h, 'stats')).result!;
    assert.notEqual(after.pid, pid1);
    assert.deepEqual(after.initIds, ['mithril-reinit-1']);
    assert.equal(after.badLines, 0, 'the rewritten frame is valid JSON to the child');
    assert.equal(h.closed.length, 0);
    await ch.close();
  });

  test('a restart while paused still completes the re-initialize; the pause holds afterwards', T, async () => {
    const cap = captureLog();
    const dest = makeDest('echo-server.mjs', [], {}, {
      timeouts: { connectMs: 1000, firstByteMs: 5000, idleMs: 5000, endpointMs: 5000, requestMs: 5000, maxRequestMs: 60000 },
    });
    const { ch, h } = open(dest, cap.log);
    await ch.start();
    await ch.send(INIT);
    await waitFor(() => h.find((m) => m.id === 1) !== undefined, 'initialize reply');
    ch.setReplayOnRestart(INIT);
    const pid1 = ch.pid!;
    ch.pause();
    process.kill(pid1, 'SIGKILL');
    await waitFor(() => h.interrupted.length === 1, 'onInterrupted');
    await ch.send(JSON.stringify({ jsonrpc: '2.0', id: 'while-paused', method: 'stats' }));
    await waitFor(() => cap.lines.some((l) => l.msg === 'stdio server restarted'), 'restart');
    // Longer than connectMs: a re-initialize blocked by the pause would have failed by now.
    await sleep(1200);
    assert.equal(h.find((m) => m.id === 'while-paused'), undefined, 'delivered while paused');
    assert.equal(cap.lines.filter((l) => l.msg === 'stdio server restart attempt failed').length, 0);
    ch.resume();
    await waitFor(() => h.find((m) => m.id === 'while-paused') !== undefined, 'reply after resume');
    const stats = h.find((m) => m.id === 'while-paused')!.result!;
    assert.deepEqual(stats.initIds, ['mithril-reinit-1']);
    assert.notEqual(stats.pid, pid1);
    await ch.close();
  });

  test('a rejected re-initialize counts as a failed try; queued sends fail when restarts run out', T, async () => {
    const { ch, h } = open(makeDest('echo-server.mjs', ['--reject-reinit'], { maxRestarts: 2 }));
    await ch.start();
    await ch.send(INIT);
    await waitFor(() => h.find((m) => m.id === 1) !== undefined, 'initialize reply');
    ch.setReplayOnRestart(INIT);
    process.kill(ch.pid!, 'SIGKILL');
    await waitFor(() => h.interrupted.length === 1, 'onInterrupted');
    const waiting = ch.send(JSON.stringify({ jsonrpc: '2.0', id: 'queued', method: 'pid' }));
    await assert.rejects(waiting, (err: ProxyError) => err.code === ErrorCode.ChildRestartsExhausted);
    assert.equal(h.closed.length, 1);
    assert.equal(h.closed[0]!.code, ErrorCode.ChildRestartsExhausted);
    assert.match(h.closed[0]!.message, /re-initialize rejected/);
    assert.equal(h.interrupted.length, 1);
    await ch.close();
    assert.equal(h.closed.length, 1, 'onClosed only once');
  });

  test('a child that crashes on start exhausts its restarts; later sends reject', T, async () => {
    const cap = captureLog();
    const { ch, h } = open(makeDest('crash-on-start.mjs', [], { maxRestarts: 2 }), cap.log);
    await ch.start();
    await waitFor(() => h.closed.length === 1, 'onClosed');
    assert.equal(h.closed[0]!.code, ErrorCode.ChildRestartsExhausted);
    // Each spawned child ran (no re-initialize to wait for), so each exit interrupts the session.
    assert.deepEqual(
      h.interrupted.map((i) => [i.err.code, i.willRecover]),
      [
        [ErrorCode.ChildExited, true],
        [ErrorCode.ChildExited, true],
        [ErrorCode.ChildExited, false],
      ],
    );
    await assert.rejects(ch.send('{"jsonrpc":"2.0","id":5,"method":"pid"}'), (err: ProxyError) => {
      return err.code === ErrorCode.ChildRestartsExhausted;
    });
    const stderrLines = cap.lines.filter((l) => l.stream === 'stderr' && l.msg.includes('crash-on-start'));
    assert.equal(stderrLines.length, 3, 'initial spawn + 2 restarts each logged their stderr line');
    assert.equal(cap.lines.filter((l) => l.msg === 'stdio server restarted').length, 2);
    await ch.close();
    assert.equal(h.closed.length, 1);
  });

  test('close() ends a child that ignores EOF and SIGTERM, with its grandchild, in bounded time', T, async () => {
    const grace = 200;
    const { ch, h } = open(makeDest('ignore-sigterm.mjs', ['--grandchild'], { killGraceMs: grace }));
    await ch.start();
    await waitFor(() => h.find((m) => m.method === 'ready') !== undefined, 'ready');
    const { pid, grandchild } = h.find((m) => m.method === 'ready')!.params as { pid: number; grandchild: number };
    assert.equal(pid, ch.pid);
    assert.ok(!isDead(grandchild));
    const t0 = Date.now();
    await ch.close();
    const elapsed = Date.now() - t0;

    // The bound is part of the contract (2 x grace + the post-SIGKILL wait), not a speed target.
    assert.ok(elapsed < 2 * grace + 1500, `close took ${elapsed} ms`);
    assert.ok(isDead(pid), 'child gone');
    // The grandchild is reparented to init, which reaps it in its own time: a zombie counts as gone.
    await waitFor(() => isDeadOrZombie(grandchild), 'grandchild gone', 2000);
    assert.deepEqual(h.closed, [null]);
    await ch.close();
    assert.deepEqual(h.closed, [null]);
    await assert.rejects(ch.send('{}'), (err: ProxyError) => err.code === ErrorCode.UpstreamClosed);
  });

  test('a child that does not read stdin: sends queue up to the bound, then E_OVERLOADED', T, async () => {
    const dest = makeDest('ignore-sigterm.mjs', ['--no-read'], { killGraceMs: 100 });
    const { ch } = open(dest, undefined, { maxQueuedBytes: 1024 * 1024 });
    await ch.start();
    const msg = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/x', params: { pad: 'p'.repeat(64 * 1024) } });
    const pending: Array<Promise<void>> = [];
    let overloaded: ProxyError | undefined;
    for (let i = 0; i < 200 && overloaded === undefined; i++) {
      const p = ch.send(msg);
      p.catch(() => undefined);
      pending.push(p);
      await Promise.race([p, sleep(0)]).catch((err: ProxyError) => {
        overloaded = err;
      });
    }
    assert.ok(overloaded !== undefined, 'send never rejected');
    assert.equal(overloaded.code, ErrorCode.Overloaded);
    // Pipe (64 KiB) + stdin high-water mark + 1 MiB of ours, in 64 KiB messages: well under 200.
    assert.ok(pending.length < 40, `accepted ${pending.length} sends`);
    await ch.close();
    const results = await Promise.allSettled(pending);
    const closedRejects = results.filter(
      (r) => r.status === 'rejected' && (r.reason as ProxyError).code === ErrorCode.UpstreamClosed,
    );
    assert.ok(closedRejects.length > 0, 'queued sends are rejected on close');
  });

  test('pause() holds a flooding child back in the pipe: no deliveries, bounded memory', T, async () => {
    const dest = makeDest('flood.mjs', [String(256 * 1024)], { killGraceMs: 300 });
    // Retain what arrives (like a slow consumer would), capped so a broken pause cannot exhaust memory.
    const retained: string[] = [];
    let retainedBytes = 0;
    const h = new Harness();
    h.onMessage = (json: string): void => {
      h.messages.push('x');
      if (retainedBytes < 256 * 1024 * 1024) {
        retained.push(json);
        retainedBytes += json.length;
      }
    };
    const ch = new StdioChild(dest, h, captureLog().log);
    channels.push(ch);
    await ch.start();
    await ch.send(INIT);
    await waitFor(() => h.messages.length >= 4, 'flood started');
    ch.pause();
    const atPause = h.messages.length;
    const rss0 = process.memoryUsage().rss;
    await sleep(1500);
    const growth = process.memoryUsage().rss - rss0;
    assert.equal(h.messages.length, atPause, 'nothing delivered while paused');
    assert.ok(growth < 64 * 1024 * 1024, `rss grew ${growth} bytes while paused`);
    retained.length = 0;
    ch.resume();
    await waitFor(() => h.messages.length > atPause + 4, 'flow after resume');
    await ch.close();
    assert.deepEqual(h.closed, [null]);
  });

  test('50 open/close cycles leave no live child', T, async () => {
    const pids: number[] = [];
    const liveBefore = liveChildCount();
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const { ch, h } = open(makeDest('echo-server.mjs'));
          await ch.start();
          const r = await rpc(ch, h, 'pid');
          pids.push(r.result!.pid as number);
          await ch.close();
          assert.deepEqual(h.closed, [null]);
        }),
      );
    }
    assert.equal(new Set(pids).size, 50);
    assert.deepEqual(pids.filter((p) => !isDead(p)), []);
    assert.equal(liveChildCount(), liveBefore);
  });

  // Last: it kills every child this process still has, including any a failed test left behind.
  test('killAllChildrenSync kills every live child group', T, async () => {
    const a = open(makeDest('echo-server.mjs', [], { maxRestarts: 0 }));
    const b = open(makeDest('ignore-sigterm.mjs', [], { maxRestarts: 0 }));
    await a.ch.start();
    await b.ch.start();
    const pids = [a.ch.pid!, b.ch.pid!];
    killAllChildrenSync();
    await waitFor(() => pids.every(isDead), 'children dead');
    await waitFor(() => a.h.closed.length === 1 && b.h.closed.length === 1, 'onClosed');
    assert.equal(a.h.interrupted[0]!.willRecover, false);
    assert.equal(a.h.closed[0]!.code, ErrorCode.ChildRestartsExhausted);
    assert.equal(liveChildCount(), 0);
    await a.ch.close();
    await b.ch.close();
  });
});
