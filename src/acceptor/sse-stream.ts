/**
 * One downstream SSE response: a POST reply streamed event by event, a Streamable HTTP GET
 * stream, or a legacy HTTP+SSE stream. It owns the uWS write path for that response:
 *  - every write outside the request handler is corked;
 *  - flow control is by credit (threads/flow.ts): each event's size is owed to the producer
 *    that sent it (a reply's rid, or -1 for the session's server messages) and paid back only
 *    while the socket accepts writes, in batches; when `write()` returns false nothing is paid
 *    until `onWritable`, so the producer runs out of credit and pauses its upstream; whatever is
 *    still owed when the stream ends is paid then, so a closed stream never strands a producer;
 *  - a reader that has not drained for `slowReaderMs`, or that somehow let more than
 *    `maxBuffered` bytes pile up, is disconnected (logged by the owner via `closed('slow')`);
 *  - events written in one turn go out as one write: a worker's batch holds many events for one
 *    stream, and a send() per event was the largest cost of the acceptor on a notification
 *    stream (0.8 syscalls per event, bench/RESULTS.md). They are joined until the microtask after
 *    the current message (no added latency) or FLUSH_CHARS.
 */
import type { HttpResponse } from './http-types.js';
import { CreditLedger } from '../threads/flow.js';
import { SSE_KEEPALIVE, sseEvent } from './sse-format.js';

export interface SseStreamHooks {
  /** Pay `bytes` of credit back to producer `rid` (-1: the session's server-message stream). */
  credit(rid: number, bytes: number): void;
  /** The stream ended: by us, by the client, or because the reader was too slow. */
  closed(reason: 'end' | 'aborted' | 'slow'): void;
}

export interface SseLimits {
  maxBuffered: number;
  slowReaderMs: number;
}

/** Queued event text beyond this is written at once (bounds the joined string). */
const FLUSH_CHARS = 64 * 1024;

export class SseStream {
  private readonly res: HttpResponse;
  private readonly hooks: SseStreamHooks;
  private readonly limits: SseLimits;
  private keepalive: NodeJS.Timeout | undefined;
  private slowTimer: NodeJS.Timeout | undefined;
  private holding = false;
  private heldBytes = 0;
  private readonly ledger: CreditLedger;
  /** Event text of this turn not yet written (see the file comment). */
  private queued = '';
  private flushPending = false;
  private readonly flushFn = (): void => {
    this.flushPending = false;
    this.flush();
  };
  done = false;
  bytes = 0;
  /** Set by the owner for streams whose events carry ids (replay.ts): returns the next id. */
  eventIds: ((data: string) => string) | undefined;

  constructor(res: HttpResponse, hooks: SseStreamHooks, limits: SseLimits) {
    this.res = res;
    this.hooks = hooks;
    this.limits = limits;
    this.ledger = new CreditLedger(hooks.credit);
  }

  /** Write status and headers (and a first comment so they flush). Call corked or in the handler. */
  open(extraHeaders: Record<string, string> | undefined, keepaliveMs: number): void {
    const res = this.res;
    res.writeStatus('200 OK');
    res.writeHeader('content-type', 'text/event-stream');
    res.writeHeader('cache-control', 'no-cache, no-transform');
    // Reverse proxies (nginx) would otherwise buffer the stream and hold events back.
    res.writeHeader('x-accel-buffering', 'no');
    if (extraHeaders) for (const k in extraHeaders) res.writeHeader(k, extraHeaders[k]!);
    res.write(SSE_KEEPALIVE);
    if (keepaliveMs > 0) {
      this.keepalive = setInterval(() => {
        // A held stream already has bytes queued; a comment would only add to them.
        if (!this.holding) this.writeRaw(SSE_KEEPALIVE, null, 0);
      }, keepaliveMs);
      this.keepalive.unref();
    }
  }

  /**
   * One JSON-RPC message as a `message` event. `rid` is the producer owed credit for it, or null
   * when none is (a message the acceptor already acknowledged when it queued it).
   */
  event(json: string, rid: number | null): boolean {
    if (this.done) return false;
    return this.writeRaw(sseEvent(json, this.eventIds?.(json)), rid, json.length);
  }

  /** Queue `chunk` (credit `creditBytes` owed to `rid`); false when the stream has ended. */
  writeRaw(chunk: string, rid: number | null, creditBytes: number): boolean {
    if (this.done) return false;
    this.bytes += chunk.length;
    if (rid !== null) this.ledger.owe(rid, creditBytes);
    this.queued += chunk;
    if (this.queued.length >= FLUSH_CHARS) this.flush();
    else if (!this.flushPending) {
      this.flushPending = true;
      queueMicrotask(this.flushFn);
    }
    return true;
  }

  /** Write what is queued; credit is paid only while the socket takes it (see the file comment). */
  private flush(): void {
    const chunk = this.queued;
    if (this.done || chunk.length === 0) return;
    this.queued = '';
    const res = this.res;
    let ok = true;
    res.cork(() => {
      ok = res.write(chunk);
    });
    if (ok && !this.holding) {
      this.ledger.due();
      return;
    }
    if (this.holding) {
      this.heldBytes += chunk.length;
      if (this.heldBytes > this.limits.maxBuffered) this.cut();
      return;
    }
    this.holding = true;
    this.heldBytes = chunk.length;
    this.slowTimer = setTimeout(() => this.cut(), this.limits.slowReaderMs);
    this.slowTimer.unref();
    res.onWritable(() => {
      if (this.done) return true;
      // uWS v20.30 calls this when the socket can take more, but sends what it still buffers
      // only on the next write: without one, the tail of a large event sat there until the next
      // keep-alive comment (~3.9 MB of a 5 MB message for 15 s). An empty write flushes it
      // (node:http ignores it). Corked: uWS flushes on uncork.
      res.cork(() => res.write(''));
      this.holding = false;
      this.heldBytes = 0;
      clearTimeout(this.slowTimer);
      this.ledger.payAll();
      return true;
    });
  }

  /** End the response normally. */
  end(lastChunk?: string): void {
    if (this.done) return;
    const res = this.res;
    // Events still queued go out with the end, in order.
    const rest = this.queued + (lastChunk ?? '');
    this.queued = '';
    this.finish('end');
    res.cork(() => {
      res.end(rest.length > 0 ? rest : undefined);
    });
  }

  /** The client went away (onAborted): only bookkeeping, `res` is dead. */
  aborted(): void {
    this.finish('aborted');
  }

  private cut(): void {
    if (this.done) return;
    this.finish('slow');
    this.res.close();
  }

  private finish(reason: 'end' | 'aborted' | 'slow'): void {
    if (this.done) return;
    this.done = true;
    this.queued = '';
    if (this.keepalive) clearInterval(this.keepalive);
    clearTimeout(this.slowTimer);
    // Delivered or lost with the connection: either way the producer must not wait for it.
    this.ledger.payAll();
    this.hooks.closed(reason);
  }
}
