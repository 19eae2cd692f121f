/**
 * Keep-alive connections to one upstream origin (http: or https:), bounded in number; requests
 * beyond the bound wait in FIFO order for the next free connection. The most recently used idle
 * connection is taken first, so under light load a few warm connections carry everything and the
 * others age out on their keep-alive timer.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isIP } from 'node:net';
import { H1Connection, H1Request, type ConnectionOwner } from './connection.js';
import { H1Error, H1ErrorCode } from './errors.js';
import { HeaderBlock } from './headers.js';
import type { DispatchHandler, DispatchOptions, Dispatcher } from './types.js';

export interface PoolOptions {
  /** Most connections at once; null = unbounded (long-lived streams: one per session). */
  connections: number | null;
  connectTimeoutMs: number;
  /** TCP keep-alive probes after this much silence (finds a dead peer on a quiet stream). */
  tcpKeepAliveMs: number;
  /** Idle keep-alive when the server gives no `Keep-Alive: timeout=N`. */
  keepAliveMs: number;
  /** A server's hint is trusted minus this margin, and never beyond keepAliveMaxMs. */
  keepAliveMarginMs: number;
  keepAliveMaxMs: number;
}

/** Request paths: printable ASCII without spaces (the URL parser has encoded everything else). */
const PATH = /^\/[\x21-\x7e]*$/;
const NO_HEADERS = HeaderBlock.from({});

export class H1Pool implements Dispatcher, ConnectionOwner {
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly hostHeader: string;
  private readonly all = new Set<H1Connection>();
  /** Idle connections, most recently used last. */
  private readonly free: H1Connection[] = [];
  private readonly queue: H1Request[] = [];
  private connecting = 0;
  private closing: Promise<void> | undefined;
  private closedResolve: (() => void) | undefined;
  private destroyed = false;
  private readonly unqueue = (r: H1Request): void => {
    const i = this.queue.indexOf(r);
    if (i >= 0) this.queue.splice(i, 1);
  };

  constructor(origin: string, private readonly o: PoolOptions) {
    const u = new URL(origin);
    this.tls = u.protocol === 'https:';
    // URL keeps IPv6 literals in brackets; the socket wants them bare.
    this.host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port === '' ? (this.tls ? 443 : 80) : Number(u.port);
    this.hostHeader = u.host;
  }

  dispatch(opts: DispatchOptions, handler: DispatchHandler): boolean {
    let refused: Error | undefined;
    let block = NO_HEADERS;
    if (this.closing !== undefined || this.destroyed) {
      refused = new H1Error(H1ErrorCode.PoolClosed, 'the upstream connection pool is closed');
    } else if (!PATH.test(opts.path)) {
      refused = new H1Error(H1ErrorCode.InvalidHeader, 'invalid request path');
    } else if (opts.headers instanceof HeaderBlock) {
      block = opts.headers;
    } else {
      // Rendered (and checked) here, before a connection is taken: a refused header fails only
      // its own request, through the handler like every other failure.
      try {
        block = HeaderBlock.from(opts.headers);
      } catch (err) {
        refused = err as Error;
      }
    }
    const r = new H1Request(opts, block, handler, this.unqueue);
    if (refused !== undefined) {
      r.fail(refused);
      return false;
    }
    const c = this.free.pop();
    if (c !== undefined) {
      this.start(c, r);
      return true;
    }
    this.queue.push(r);
    this.pump();
    return this.queue.length === 0;
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.closedResolve = resolve;
      this.settle();
    });
    return this.closing;
  }

  destroy(): Promise<void> {
    this.destroyed = true;
    const err = new H1Error(H1ErrorCode.PoolClosed, 'the upstream connection pool was destroyed');
    for (const r of this.queue.splice(0)) r.fail(err);
    for (const c of [...this.all]) c.destroy(err);
    this.free.length = 0;
    this.closedResolve?.();
    return Promise.resolve();
  }

  // ---- ConnectionOwner ----

  idle(c: H1Connection): void {
    const next = this.queue.shift();
    if (next !== undefined) return this.start(c, next);
    if (this.closing !== undefined) {
      c.destroy();
      return;
    }
    c.park(this.keepAliveMs(c.hint));
    this.free.push(c);
  }

  gone(c: H1Connection): void {
    this.all.delete(c);
    const i = this.free.indexOf(c);
    if (i >= 0) this.free.splice(i, 1);
    if (this.queue.length > 0 && !this.destroyed) this.pump();
    if (this.closing !== undefined) this.settle();
  }

  keepAliveMs(hint: string | string[] | undefined): number {
    const o = this.o;
    const v = Array.isArray(hint) ? hint[0] : hint;
    const m = v === undefined ? null : /(?:^|[,\s])timeout=(\d+)/i.exec(v);
    if (m === null) return o.keepAliveMs;
    const ms = Number(m[1]) * 1000 - o.keepAliveMarginMs;
    return ms <= 0 ? 0 : Math.min(ms, o.keepAliveMaxMs);
  }

  // ---- internals ----

  private start(c: H1Connection, r: H1Request): void {
    if (r.done) return this.idle(c); // aborted while it waited
    c.send(r);
  }

  /** Open connections for queued requests, within the bound. */
  private pump(): void {
    const max = this.o.connections ?? Infinity;
    while (this.connecting < this.queue.length && this.all.size + this.connecting < max) this.open();
  }

  private open(): void {
    this.connecting++;
    const socket: Socket = this.tls
      ? tlsConnect({ host: this.host, port: this.port, servername: isIP(this.host) === 0 ? this.host : undefined, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: this.host, port: this.port });
    let settled = false;
    const timer = setTimeout(() => fail(new H1Error(H1ErrorCode.ConnectTimeout, `connect timed out after ${this.o.connectTimeoutMs} ms`)), this.o.connectTimeoutMs);
    timer.unref();
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.connecting--;
      socket.destroy();
      // The request that would have taken this connection fails; the others keep theirs.
      this.queue.shift()?.fail(err);
      if (this.closing !== undefined) this.settle();
      else this.pump();
    };
    socket.once('error', fail);
    socket.once(this.tls ? 'secureConnect' : 'connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.connecting--;
      socket.removeListener('error', fail);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, this.o.tcpKeepAliveMs);
      const c = new H1Connection(socket, this, this.hostHeader);
      this.all.add(c);
      if (this.destroyed) return c.destroy();
      this.idle(c);
    });
  }

  /** Closing: resolve once nothing runs; idle connections go at once. */
  private settle(): void {
    for (const c of this.free.splice(0)) c.destroy();
    if (this.all.size === 0 && this.connecting === 0 && this.queue.length === 0) this.closedResolve?.();
  }
}
