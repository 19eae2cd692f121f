/**
 * The promise form of a dispatch, for the few requests that are not on the hot path (the
 * standalone GET stream, legacy SSE, notification POSTs, DELETE): resolves with the head once it
 * arrives and a Readable body that pauses the connection when its buffer fills.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { HeaderBlock } from './headers.js';
import type { DispatchController, DispatchHandler, Dispatcher } from './types.js';

export interface RequestOptions {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers: HeaderBlock | Readonly<Record<string, string>>;
  body?: string;
  signal?: AbortSignal;
  headersTimeout: number;
  /** 0 = a stream that may stay silent (TCP keep-alive finds a dead peer). */
  bodyTimeout: number;
}

/** A response body: a Readable, plus `dump` to drain it so the connection is reused. */
export class ResponseBody extends Readable {
  controller: DispatchController | undefined;

  override _read(): void {
    this.controller?.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const c = this.controller;
    if (c !== undefined && !this.readableEnded) c.abort(err ?? new Error('response body destroyed'));
    cb(err);
  }

  /** Read and drop the rest (at most `limit` bytes, then the connection is closed instead). */
  dump(opts?: { limit?: number }): Promise<void> {
    const limit = opts?.limit ?? 128 * 1024;
    let seen = 0;
    return new Promise<void>((resolve) => {
      if (this.readableEnded || this.destroyed) return resolve();
      this.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > limit) this.destroy();
      });
      this.once('end', resolve);
      this.once('close', resolve);
      this.once('error', () => resolve());
    });
  }
}

export interface ResponseData {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

class RequestHandler implements DispatchHandler {
  private readonly body = new ResponseBody();
  private started = false;

  constructor(
    private readonly resolve: (r: ResponseData) => void,
    private readonly reject: (err: Error) => void,
    private readonly signal: AbortSignal | undefined,
  ) {}

  onRequestStart(c: DispatchController): void {
    this.body.controller = c;
    if (this.signal?.aborted) c.abort(abortReason(this.signal));
  }

  /** The signal fired: stop the request; one still queued is refused at once. */
  abort(reason: Error): void {
    const c = this.body.controller;
    if (c !== undefined) return c.abort(reason);
    if (!this.started) this.reject(reason); // onRequestStart will abort it once it gets a connection
  }

  onResponseStart(_c: DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.started = true;
    this.resolve({ statusCode, headers, body: this.body });
  }

  onResponseData(c: DispatchController, chunk: Buffer): void {
    if (!this.body.push(chunk)) c.pause();
  }

  onResponseEnd(): void {
    this.body.controller = undefined;
    this.body.push(null);
  }

  onResponseError(_c: DispatchController, err: Error): void {
    this.body.controller = undefined;
    if (!this.started) this.reject(err);
    else this.body.destroy(err);
  }
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException('This operation was aborted', 'AbortError');
}

/** Send one request through `pool`; rejects with the failure before the head (incl. an abort). */
export function request(pool: Dispatcher, o: RequestOptions): Promise<ResponseData> {
  return new Promise<ResponseData>((resolve, reject) => {
    const signal = o.signal;
    if (signal?.aborted) return reject(abortReason(signal));
    const h = new RequestHandler(resolve, reject, signal);
    signal?.addEventListener('abort', () => h.abort(abortReason(signal)), { once: true });
    pool.dispatch({ path: o.path, method: o.method, headers: o.headers, body: o.body, headersTimeout: o.headersTimeout, bodyTimeout: o.bodyTimeout }, h);
  });
}
