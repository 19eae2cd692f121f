/**
 * The stdio upstream: one child process per (downstream session, destination), speaking
 * newline-delimited JSON-RPC on stdin/stdout.
 *
 * Process-level concerns (groups, spawning, exit bookkeeping) live in stdio-process.ts; this
 * file is the session-facing lifecycle: framing, backpressure, restarts, re-initialize, close.
 *
 * Restart policy: an unexpected exit fails whatever was in flight (onInterrupted; never retried,
 * tools may have side effects), then the child is respawned with exponential backoff, at most
 * `maxRestarts` times inside `restartWindowMs`. A respawned child is re-initialized with the
 * client's remembered initialize request before any new traffic reaches it.
 *
 * The handshake is the exception: a child that dies before answering the client's initialize has
 * done nothing yet, so the initialize itself is sent again (same id) to the next child, within the
 * same restart budget, and the client gets one answer: the reply, or why every start failed.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import { ErrorCode, ProxyError } from '../errors.js';
import type { StdioDestination } from '../config/types.js';
import { workerStats } from '../observability/worker-stats.js';
import type { ChannelHandlers, MessageChannel } from './types.js';
import { MsgKind, idKey, memberSpans, parseEnvelope, replaceId } from './jsonrpc-envelope.js';
import { LineSplitter, RateLimitedLineLog, isBlank, looksLikeJson, oneLine } from './line-splitter.js';
import { Proc, forgetGroup, killGroup, spawnProc } from './stdio-process.js';
import { oversizedLineId } from './oversize-id.js';

export { killAllChildrenSync, liveChildCount, minimalEnv } from './stdio-process.js';

/** Bytes of sends we hold while stdin is saturated or the child is restarting. */
export const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** stderr is diagnostics only: a line past this is dropped rather than held. */
const STDERR_MAX_LINE_BYTES = 64 * 1024;
/** After a child's 'exit', how long to wait for its pipes to drain before declaring it gone. */
const PIPE_DRAIN_MS = 250;
/** After SIGKILL, how long close() waits for the exit to be reported. */
const POST_KILL_WAIT_MS = 1000;
const NON_JSON_SUMMARY_MS = 1000;
/** How much of a rejected re-initialize's error object goes into the failure text. */
const REINIT_ERROR_TEXT = 300;
const INITIALIZED_LINE = '{"jsonrpc":"2.0","method":"notifications/initialized"}\n';
const RESOLVED: Promise<void> = Promise.resolve();
const NOOP = (): void => {};

export interface StdioChildOptions {
  maxQueuedBytes?: number;
}

interface QueuedSend {
  data: string;
  bytes: number;
  resolve: () => void;
  reject: (err: ProxyError) => void;
}

type State = 'idle' | 'starting' | 'ready' | 'restarting' | 'closing' | 'closed' | 'failed';

export class StdioChild implements MessageChannel {
  private state: State = 'idle';
  private proc: Proc | undefined;
  private readonly stdoutSplitter: LineSplitter;
  private readonly stderrLog: RateLimitedLineLog;
  private readonly maxQueuedBytes: number;

  /** Sends waiting for stdin 'drain' or for a restart to finish. Head index avoids O(n) shift(). */
  private queue: Array<QueuedSend | undefined> = [];
  private queueHead = 0;
  private queuedBytes = 0;
  /** stdin returned false on write: everything goes through the queue until 'drain'. */
  private blocked = false;
  private paused = false;

  /**
   * The client's initialize as received, re-sent (under our own id) to a restarted child. Kept as
   * text and edited textually: rebuilding it from objects would recurse over client data.
   */
  private replayInit: string | undefined;
  /** The client's initialize while no child has answered it yet: resent as is on a restart. */
  private handshake: { line: string; idKey: string } | undefined;
  /** Some child has written a JSON message: past that point no handshake can begin. */
  private sawMessage = false;
  /** Processes started for this channel (the first one included), for the handshake's message. */
  private starts = 0;
  private reinitSeq = 0;
  private reinitId: string | undefined;
  private reinitTimer: NodeJS.Timeout | undefined;

  /** Start times of restarts inside the window. */
  private restarts: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private lastFailure = '';

  private nonJsonSkipped = 0;
  private nonJsonBurst = false;
  private nonJsonTimer: NodeJS.Timeout | undefined;

  private terminalError: ProxyError | undefined;
  private closedNotified = false;
  private closePromise: Promise<void> | undefined;
  /** A spawn in progress, so close() can wait for it instead of leaking the child it produces. */
  private spawning: Promise<Proc> | undefined;

  constructor(
    private readonly dest: StdioDestination,
    private readonly handlers: ChannelHandlers,
    private readonly log: Logger,
    opts: StdioChildOptions = {},
  ) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.stdoutSplitter = new LineSplitter(dest.stdio.maxLineBytes, {
      onLine: (line) => this.onStdoutLine(line),
      onOversize: (held) => this.onStdoutOversize(held),
      onOversizeEnd: (head, tail, bytes) => {
        this.handlers.onOversized?.(oversizedLineId(head.toString('utf8'), tail.toString('utf8')), bytes);
      },
    });
    this.stderrLog = new RateLimitedLineLog(log, dest.stdio.stderrLinesPerSec, { stream: 'stderr' });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new ProxyError(ErrorCode.Internal, 'StdioChild.start() called twice');
    this.state = 'starting';
    try {
      await this.spawnChild();
    } catch (err) {
      if (this.state === 'starting') {
        this.state = 'failed';
        this.terminalError = err as ProxyError;
        this.rejectQueue(this.terminalError);
      }
      throw err;
    }
    // close() ran while the spawn was pending (it terminates the child).
    if (this.state !== 'starting') throw this.terminalError ?? new ProxyError(ErrorCode.UpstreamClosed, 'closed');
    this.state = 'ready';
    this.flushQueue();
  }

  send(json: string): Promise<void> {
    const data = oneLine(json) + '\n';
    const s = this.state;
    if (s === 'ready' && !this.blocked && this.queueHead === this.queue.length) {
      this.write(data);
      return RESOLVED;
    }
    if (s === 'ready' || s === 'restarting' || s === 'starting') return this.enqueue(data);
    return Promise.reject(
      this.terminalError ?? new ProxyError(ErrorCode.UpstreamClosed, `stdio channel for ${this.dest.name} is not started`),
    );
  }

  setReplayOnRestart(initializeFrame: string): void {
    // The acceptor already refused frames too deep; the replay is textual, so any depth is safe here.
    const env = parseEnvelope(initializeFrame, false);
    if (env.kind !== MsgKind.Request) {
      this.log.warn('initialize frame to replay is not a JSON-RPC request; restarts will not re-initialize');
      return;
    }
    this.replayInit = initializeFrame;
    if (!this.sawMessage) this.handshake = { line: oneLine(initializeFrame) + '\n', idKey: idKey(env.id) };
  }

  pause(): void {
    this.paused = true;
    // The re-initialize reply must still be read; becomeReady() applies the pause afterwards.
    if (this.reinitId === undefined) this.proc?.child.stdout?.pause();
  }

  resume(): void {
    this.paused = false;
    this.proc?.child.stdout?.resume();
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  // ---- stdout lines ----

  private onStdoutLine(line: string): void {
    if (isBlank(line)) return;
    if (this.reinitId !== undefined && line.includes(this.reinitId) && this.consumeReinitReply(line)) return;
    if (!looksLikeJson(line)) {
      this.onNonJson(line);
      return;
    }
    if (this.nonJsonBurst) this.flushNonJson();
    this.sawMessage = true;
    if (this.handshake !== undefined) this.checkHandshake(line);
    this.handlers.onMessage(line);
  }

  /** The handshake ends with the child's answer (result or error) to the client's initialize. */
  private checkHandshake(line: string): void {
    const env = parseEnvelope(line, false); // the child's own line: routed by id only
    if (env.kind === MsgKind.Response && idKey(env.id) === this.handshake!.idKey) this.handshake = undefined;
  }

  private onStdoutOversize(heldBytes: number): void {
    this.log.warn(
      { bytes: heldBytes, limit: this.dest.stdio.maxLineBytes },
      'stdout line longer than maxLineBytes dropped',
    );
  }

  // ---- spawning and exits ----

  /** Spawns a child and makes it current; resolves on 'spawn', rejects with a ProxyError. */
  private spawnChild(): Promise<Proc> {
    const p = this.spawnChildInner();
    this.spawning = p;
    const clear = (): void => {
      if (this.spawning === p) this.spawning = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  private spawnChildInner(): Promise<Proc> {
    return spawnProc(this.dest, this.log, (proc) => {
      this.starts++;
      this.attach(proc);
      this.proc = proc;
      this.log.debug({ childPid: proc.pid }, 'stdio child started');
      // The acceptor tracks pids too: this thread's registry dies with the thread.
      this.handlers.onSpawn?.(proc.pid);
    });
  }

  private attach(proc: Proc): void {
    const { child } = proc;
    const stdout = child.stdout!;
    const stderr = child.stderr!;
    const stdin = child.stdin!;
    const splitter = this.stdoutSplitter;
    splitter.reset();
    // Data from a predecessor that is still draining must not reach the session (its requests
    // were already failed), so every listener checks it still belongs to the current process.
    stdout.on('data', (chunk: Buffer) => {
      if (this.proc === proc) splitter.push(chunk);
    });
    const stderrSplitter = new LineSplitter(STDERR_MAX_LINE_BYTES, this.stderrLog);
    stderr.on('data', (chunk: Buffer) => stderrSplitter.push(chunk));
    // EPIPE/ECONNRESET when the child dies mid-write: the 'exit' path handles the consequences.
    const ignore = (err: Error): void => this.log.debug({ err: err.message }, 'stdio pipe error');
    stdin.on('error', ignore);
    stdout.on('error', ignore);
    stderr.on('error', ignore);
    stdin.on('drain', () => {
      if (this.proc === proc) this.onDrain();
    });
    if (this.paused && !(this.state === 'restarting' && this.replayInit !== undefined)) stdout.pause();
    // Always listening for 'exit' is what lets Node reap the child (no zombies).
    child.on('exit', (code, signal) => {
      proc.markExited(code, signal);
      // The leader is gone; anything it left in its group goes too, which also frees the pipes.
      killGroup(proc.pid, 'SIGKILL');
      forgetGroup(proc.pid);
      if (this.state === 'closing' || this.state === 'closed') return;
      // Let lines already in the pipe be read first; a paused stdout never ends, hence the bound.
      void proc.waitStdioClosed(PIPE_DRAIN_MS).then(() => {
        this.stderrLog.flush();
        stdout.destroy();
        stderr.destroy();
        this.onChildGone(proc);
      });
    });
    child.once('close', () => proc.markStdioClosed());
  }

  private onChildGone(proc: Proc): void {
    if (proc !== this.proc) return;
    if (this.state === 'closing' || this.state === 'closed' || this.state === 'failed') return;
    this.proc = undefined;
    this.blocked = false;
    this.clearReinit();
    workerStats.stdioExit(this.dest.name);
    const err = new ProxyError(
      ErrorCode.ChildExited,
      `stdio server for ${this.dest.name} exited (${proc.describeExit()})`,
      { childPid: proc.pid, code: proc.exitCode, signal: proc.exitSignal },
    );
    if (this.state === 'restarting') {
      // A restart attempt failed (crashed, or killed because re-initialize failed).
      this.lastFailure = this.lastFailure || err.message;
      this.log.warn({ childPid: proc.pid, reason: this.lastFailure }, 'stdio server restart attempt failed');
      this.retryOrGiveUp();
      return;
    }
    if (this.handshake !== undefined) {
      // Died before answering initialize: nothing was done, so try the handshake again.
      this.lastFailure = err.message;
      this.log.warn({ childPid: proc.pid }, `${err.message} before answering initialize`);
      this.state = 'restarting';
      this.retryOrGiveUp();
      return;
    }
    // 'ready': sends still queued were in flight from the caller's point of view: fail them too.
    this.rejectQueue(err);
    // on_exit: end_session: a new process would answer under the same session with none of the
    // old one's state; ending the session is how the client learns it (404 -> re-initialize).
    const restartAllowed = this.dest.stdio.onExit === 'restart';
    const willRecover = restartAllowed && this.mayRestart();
    this.log.warn({ childPid: proc.pid, willRecover }, err.message);
    this.handlers.onInterrupted(err, willRecover);
    this.lastFailure = err.message;
    if (!willRecover) {
      this.giveUp(restartAllowed ? undefined : `${err.message}; the session ended (stdio.on_exit: end_session)`);
      return;
    }
    this.state = 'restarting';
    this.scheduleRestart();
  }

  private mayRestart(): boolean {
    const cutoff = Date.now() - this.dest.stdio.restartWindowMs;
    while (this.restarts.length > 0 && this.restarts[0]! < cutoff) this.restarts.shift();
    return this.restarts.length < this.dest.stdio.maxRestarts;
  }

  private retryOrGiveUp(): void {
    if (this.mayRestart()) this.scheduleRestart();
    else this.giveUp();
  }

  private scheduleRestart(): void {
    workerStats.stdioRestart(this.dest.name);
    const delay = this.dest.stdio.restartBackoffMs * 2 ** this.restarts.length;
    this.restarts.push(Date.now());
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.attemptRestart();
    }, delay);
  }

  private async attemptRestart(): Promise<void> {
    if (this.state !== 'restarting') return;
    this.lastFailure = '';
    let proc: Proc;
    try {
      proc = await this.spawnChild();
    } catch (err) {
      this.lastFailure = (err as ProxyError).message;
      this.log.warn({ reason: this.lastFailure }, 'stdio server restart attempt failed');
      if (this.state === 'restarting') this.retryOrGiveUp();
      return;
    }
    if (this.state !== 'restarting') return; // closed meanwhile: doClose() waited for this spawn
    this.log.info({ childPid: proc.pid, restarts: this.restarts.length }, 'stdio server restarted');
    if (this.handshake !== undefined) {
      // The client's own initialize, same id: its reply goes to the request still waiting for it.
      this.requeueFirst(this.handshake.line);
      this.becomeReady();
      return;
    }
    if (this.replayInit === undefined) {
      this.becomeReady();
      this.handlers.onRestarted?.();
      return;
    }
    const id = `mithril-reinit-${++this.reinitSeq}`;
    this.reinitId = id;
    const frame = replaceId(this.replayInit, JSON.stringify(id));
    if (frame === undefined) {
      // Cannot happen for a frame setReplayOnRestart accepted; never worth a crash if it does.
      this.log.warn('remembered initialize has no id to replace; restarted without re-initialize');
      this.clearReinit();
      this.becomeReady();
      return;
    }
    this.reinitTimer = setTimeout(() => {
      this.reinitTimer = undefined;
      this.failReinit(proc, `re-initialize timed out after ${this.dest.timeouts.connectMs} ms`);
    }, this.dest.timeouts.connectMs);
    this.write(oneLine(frame) + '\n');
  }

  /**
   * Returns true when `line` was the reply to our re-initialize (and so is consumed). Read with the
   * scanner, not JSON.parse: the line may echo client data, and only its id and shape matter.
   */
  private consumeReinitReply(line: string): boolean {
    const env = parseEnvelope(line, false);
    if (env.kind !== MsgKind.Response || env.id !== this.reinitId) return false;
    const proc = this.proc!;
    const errors = memberSpans(line, 'error');
    if (errors !== undefined && errors.length > 0) {
      const [start, end] = errors[errors.length - 1]!;
      // The error object's text, cut short: enough for the log, no need to build it.
      this.failReinit(proc, `re-initialize rejected: ${line.slice(start, Math.min(end, start + REINIT_ERROR_TEXT))}`);
      return true;
    }
    this.clearReinit();
    this.write(INITIALIZED_LINE);
    this.becomeReady();
    this.handlers.onRestarted?.();
    return true;
  }

  private failReinit(proc: Proc, why: string): void {
    this.clearReinit();
    this.lastFailure = why;
    // Killing it routes the failure through onChildGone, where it counts as a failed try.
    killGroup(proc.pid, 'SIGKILL');
  }

  private clearReinit(): void {
    this.reinitId = undefined;
    if (this.reinitTimer !== undefined) clearTimeout(this.reinitTimer);
    this.reinitTimer = undefined;
  }

  private becomeReady(): void {
    this.state = 'ready';
    if (this.paused) this.proc?.child.stdout?.pause();
    this.flushQueue();
  }

  private giveUp(why?: string): void {
    const { stdio } = this.dest;
    this.state = 'failed';
    this.terminalError = why !== undefined ? new ProxyError(ErrorCode.ChildExited, why) : new ProxyError(
      ErrorCode.ChildRestartsExhausted,
      this.handshake !== undefined
        ? `${this.lastFailure} before answering initialize (${this.starts} start${this.starts === 1 ? '' : 's'}, none answered)`
        : `stdio server for ${this.dest.name} failed after ${stdio.maxRestarts} restarts within ${stdio.restartWindowMs} ms: ${this.lastFailure}`,
    );
    if (why !== undefined) this.log.info({ reason: this.lastFailure }, 'stdio server exited; session ended');
    else this.log.error({ reason: this.lastFailure }, 'stdio server restarts exhausted; session ended');
    this.rejectQueue(this.terminalError);
    this.clearTimers();
    this.notifyClosed(this.terminalError);
  }

  private notifyClosed(err: ProxyError | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.handlers.onClosed(err);
  }

  // ---- writing ----

  private write(data: string): void {
    const stdin = this.proc?.child.stdin;
    if (stdin === undefined || stdin === null) return;
    if (!stdin.write(data)) this.blocked = true;
  }

  private enqueue(data: string): Promise<void> {
    const bytes = Buffer.byteLength(data);
    if (this.queuedBytes + bytes > this.maxQueuedBytes) {
      return Promise.reject(
        new ProxyError(
          ErrorCode.Overloaded,
          `stdio server for ${this.dest.name} is not keeping up (${this.queuedBytes} bytes queued)`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data, bytes, resolve, reject });
      this.queuedBytes += bytes;
    });
  }

  private onDrain(): void {
    this.blocked = false;
    if (this.state === 'ready') this.flushQueue();
  }

  private flushQueue(): void {
    while (this.queueHead < this.queue.length && !this.blocked) {
      const item = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined;
      this.queuedBytes -= item.bytes;
      this.write(item.data);
      item.resolve();
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
  }

  /** Put `data` at the head of the queue unless it is still queued (never sent) already. */
  private requeueFirst(data: string): void {
    for (let i = this.queueHead; i < this.queue.length; i++) if (this.queue[i]!.data === data) return;
    const bytes = Buffer.byteLength(data);
    this.queue.splice(this.queueHead, 0, { data, bytes, resolve: NOOP, reject: NOOP });
    this.queuedBytes += bytes;
  }

  private rejectQueue(err: ProxyError): void {
    const pending = this.queue;
    const head = this.queueHead;
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    for (let i = head; i < pending.length; i++) pending[i]!.reject(err);
  }

  // ---- non-JSON stdout ----

  private onNonJson(line: string): void {
    if (this.nonJsonBurst) {
      this.nonJsonSkipped++;
      return;
    }
    this.nonJsonBurst = true;
    this.log.warn({ line: line.slice(0, 200) }, 'non-JSON line on stdout skipped');
    this.nonJsonTimer = setTimeout(() => this.flushNonJson(), NON_JSON_SUMMARY_MS);
    this.nonJsonTimer.unref();
  }

  private flushNonJson(): void {
    if (this.nonJsonTimer !== undefined) clearTimeout(this.nonJsonTimer);
    this.nonJsonTimer = undefined;
    this.nonJsonBurst = false;
    if (this.nonJsonSkipped === 0) return;
    this.log.warn({ skipped: this.nonJsonSkipped }, 'more non-JSON lines on stdout skipped');
    this.nonJsonSkipped = 0;
  }

  // ---- closing ----

  private clearTimers(): void {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.clearReinit();
    this.flushNonJson();
  }

  private async doClose(): Promise<void> {
    const wasFailed = this.state === 'failed';
    this.state = 'closing';
    this.clearTimers();
    const closedErr = new ProxyError(ErrorCode.UpstreamClosed, `stdio channel for ${this.dest.name} closed`);
    if (!wasFailed) this.terminalError = closedErr;
    this.rejectQueue(closedErr);
    if (this.spawning !== undefined) await this.spawning.catch(() => undefined);
    const proc = this.proc;
    if (proc !== undefined) {
      if (!proc.exited) await this.terminate(proc);
      // Its last stderr lines belong in the log before the summary.
      await proc.waitStdioClosed(PIPE_DRAIN_MS);
    }
    this.stderrLog.flush();
    this.state = 'closed';
    this.notifyClosed(null);
  }

  /** stdin EOF, then SIGTERM to the group, then SIGKILL. close() is bounded by 2×killGraceMs + ~1.25 s. */
  private async terminate(proc: Proc): Promise<void> {
    const grace = this.dest.stdio.killGraceMs;
    const stdout = proc.child.stdout;
    // Nobody wants its output any more, and a paused reader could leave the child blocked on a
    // full pipe, unable to notice EOF: discard it.
    stdout?.removeAllListeners('data');
    stdout?.resume();
    proc.child.stdin?.end();
    if (await proc.waitExit(grace)) return;
    this.log.debug({ childPid: proc.pid }, 'stdio server ignored stdin EOF; SIGTERM');
    killGroup(proc.pid, 'SIGTERM');
    if (await proc.waitExit(grace)) return;
    this.log.warn({ childPid: proc.pid }, 'stdio server ignored SIGTERM; SIGKILL');
    killGroup(proc.pid, 'SIGKILL');
    await proc.waitExit(POST_KILL_WAIT_MS);
  }
}
