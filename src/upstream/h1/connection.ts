/**
 * One keep-alive HTTP/1.1 connection to an upstream, carrying one request at a time (no
 * pipelining: a tools/call may take minutes, and a request queued behind it would wait that long).
 *
 * Per request: one socket write (head and body as one string), the reply parsed in place
 * (parser.ts) and handed to the request's handler. Deadlines use one timer per connection that is
 * re-armed only when it would fire too late (a deadline moved later is checked when the timer
 * fires), so a request costs no timer object of its own.
 */
import type { Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { H1Error, H1ErrorCode } from './errors.js';
import type { HeaderBlock } from './headers.js';
import { ResponseParser, type ResponseListener } from './parser.js';
import type { DispatchController, DispatchHandler, DispatchOptions } from './types.js';

/** What a connection reports to its pool. */
export interface ConnectionOwner {
  /** `c` finished its request and can take another. */
  idle(c: H1Connection): void;
  /** `c` is closed: forget it. */
  gone(c: H1Connection): void;
  /** How long an idle connection is kept, given the server's Keep-Alive header (ms). */
  keepAliveMs(hint: string | string[] | undefined): number;
}

const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;

const enum Timer {
  None,
  Head,
  Body,
  Idle,
}

/** A request on its way: the handler's controller. */
export class H1Request implements DispatchController {
  aborted = false;
  paused = false;
  /** Finished: ended, failed or aborted (no callback after this). */
  done = false;
  conn: H1Connection | undefined;

  constructor(
    readonly opts: DispatchOptions,
    /** `opts.headers` rendered (the pool does it before the request takes a connection). */
    readonly headers: HeaderBlock,
    readonly handler: DispatchHandler,
    /** Called when the request is aborted while still queued in the pool. */
    private readonly unqueue: (r: H1Request) => void,
  ) {}

  abort(reason: Error): void {
    if (this.done) return;
    this.aborted = true;
    const conn = this.conn;
    if (conn === undefined) this.unqueue(this);
    this.fail(reason);
    conn?.abandon(this);
  }

  pause(): void {
    if (this.paused || this.done) return;
    this.paused = true;
    this.conn?.pauseBody();
  }

  resume(): void {
    if (!this.paused || this.done) return;
    this.paused = false;
    this.conn?.resumeBody();
  }

  /** Fail once; later calls are ignored. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onResponseError?.(this, err);
  }
}

export class H1Connection implements ResponseListener {
  private req: H1Request | undefined;
  private readonly parser = new ResponseParser(this);
  private keepAlive = true;
  private keepAliveHint: string | string[] | undefined;
  /** The head of the current reply arrived (a close after it is a cut body, not a stale socket). */
  private headSeen = false;
  /** The current request went on the wire (before that, an abort leaves the connection clean). */
  private written = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer is due (ms since epoch); the armed timer may fire earlier and re-arm. */
  private timerAt = 0;
  private deadline = 0;
  private timerKind = Timer.None;

  constructor(
    private readonly socket: Socket,
    private readonly owner: ConnectionOwner,
    /** The URL's `host:port` for the Host header. */
    private readonly hostHeader: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onClose(undefined));
    socket.on('error', (err: Error) => this.onClose(err));
    socket.on('close', () => this.onClose(undefined));
  }

  /** Write `r` on this (idle) connection. */
  send(r: H1Request): void {
    this.req = r;
    r.conn = this;
    this.headSeen = false;
    this.keepAlive = true;
    this.keepAliveHint = undefined;
    this.parser.reset();
    const o = r.opts;
    const head = `${o.method} ${o.path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n${r.headers.text}`;
    const body = o.body;
    this.written = false;
    r.handler.onRequestStart?.(r, undefined);
    if (r.done) return; // aborted in onRequestStart: abandon() gave the connection back
    this.written = true;
    this.setTimer(Timer.Head, o.headersTimeout);
    if (body === undefined) {
      this.socket.write(head + '\r\n');
    } else {
      this.socket.write(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    }
  }

  /**
   * `r` was aborted. Unwritten, the connection is clean and goes back to the pool; written, the
   * reply may still be arriving and the only way to stop it is to close the connection.
   */
  abandon(r: H1Request): void {
    if (this.req !== r) return;
    if (this.written) return this.destroy();
    this.req = undefined;
    r.conn = undefined;
    this.owner.idle(this);
  }

  /** Close now; the current request (if any) fails with `err`. */
  destroy(err?: Error): void {
    if (!this.closed) this.socket.destroy();
    this.onClose(err);
  }

  pauseBody(): void {
    this.socket.pause();
    if (this.timerKind === Timer.Body) this.setTimer(Timer.None, 0);
  }

  resumeBody(): void {
    this.socket.resume();
    const r = this.req;
    if (r !== undefined && this.headSeen) this.setTimer(Timer.Body, r.opts.bodyTimeout);
  }

  /** Keep this idle connection for `ms`, then close it (the pool's keep-alive). */
  park(ms: number): void {
    this.setTimer(Timer.Idle, ms);
  }

  // ---- ResponseListener ----
  // A handler may abort its request inside onResponseData; the connection is closed then, but
  // the parser goes on through the rest of that socket read: with no request, its events are
  // dropped.

  onHead(status: number, headers: IncomingHttpHeaders, keepAlive: boolean): void {
    const r = this.req;
    if (r === undefined) return;
    this.headSeen = true;
    this.keepAlive = keepAlive;
    this.keepAliveHint = headers['keep-alive'];
    if (r.done) return;
    this.setTimer(Timer.Body, r.paused ? 0 : r.opts.bodyTimeout);
    r.handler.onResponseStart?.(r, status, headers);
  }

  onBody(chunk: Buffer): void {
    const r = this.req;
    if (r === undefined || r.done) return;
    if (this.timerKind === Timer.Body) this.deadline = Date.now() + r.opts.bodyTimeout;
    r.handler.onResponseData?.(r, chunk);
  }

  onEnd(): void {
    const r = this.req;
    if (r === undefined) return;
    this.req = undefined;
    r.conn = undefined;
    this.setTimer(Timer.None, 0);
    if (!r.done) {
      r.done = true;
      r.handler.onResponseEnd?.(r, NO_TRAILERS);
    }
  }

  // ---- socket ----

  private onData(chunk: Buffer): void {
    if (this.req === undefined) {
      // Bytes on an idle connection: nothing can be framed after them. Drop it.
      this.destroy();
      return;
    }
    try {
      this.parser.feed(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (this.req === undefined && !this.closed) this.released();
  }

  /** The reply ended: hand the connection back, or close it if it cannot carry another. */
  private released(): void {
    if (!this.keepAlive || this.parser.extra) {
      this.destroy();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.owner.idle(this);
  }

  private onClose(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.setTimer(Timer.None, 0);
    if (!this.socket.destroyed) this.socket.destroy();
    // A close-delimited body ends with the connection (parser.close runs onEnd): complete.
    const r = this.req !== undefined && !this.req.done && !this.parser.close() ? this.req : undefined;
    this.req = undefined;
    if (r !== undefined) r.conn = undefined;
    // The pool forgets the connection first: a handler may dispatch again from onResponseError.
    this.owner.gone(this);
    r?.fail(err ?? new H1Error(H1ErrorCode.Closed, this.headSeen ? 'other side closed inside the reply' : 'other side closed'));
  }

  private setTimer(kind: Timer, ms: number): void {
    this.timerKind = ms > 0 ? kind : Timer.None;
    if (this.timerKind === Timer.None) return; // an armed timer finds nothing due and stops
    const now = Date.now();
    this.deadline = now + ms;
    if (this.timer !== undefined && this.timerAt <= this.deadline) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.arm(ms, now);
  }

  private arm(ms: number, now: number): void {
    this.timerAt = now + ms;
    this.timer = setTimeout(() => this.onTimer(), ms);
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.timerKind === Timer.None || this.closed) return;
    const now = Date.now();
    if (now < this.deadline) {
      this.arm(this.deadline - now, now);
      return;
    }
    const kind = this.timerKind;
    this.timerKind = Timer.None;
    if (kind === Timer.Idle) return this.destroy();
    const ms = kind === Timer.Head ? this.req?.opts.headersTimeout : this.req?.opts.bodyTimeout;
    this.destroy(kind === Timer.Head
      ? new H1Error(H1ErrorCode.HeadersTimeout, `no response head within ${ms} ms`)
      : new H1Error(H1ErrorCode.BodyTimeout, `reply body silent for ${ms} ms`));
  }

  /** The server's Keep-Alive hint of the last reply (for the pool's idle time). */
  get hint(): string | string[] | undefined {
    return this.keepAliveHint;
  }
}
