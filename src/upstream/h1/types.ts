/**
 * The upstream HTTP/1.1 client's request interface (src/upstream/h1/). It has the shape of
 * undici's dispatch API (the handler callbacks and their controller), which the exchange code
 * was written against, so callers read the same; only what the proxy uses is there.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderBlock } from './headers.js';

export interface DispatchOptions {
  /** Path and query, e.g. "/mcp?x=1". */
  path: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Rendered once (HeaderBlock.from) or a plain object rendered for this request. */
  headers: HeaderBlock | Readonly<Record<string, string>>;
  body?: string;
  /** Most ms from the write to the response head; 0 = no limit. */
  headersTimeout: number;
  /** Most ms of silence inside the body (not counted while paused); 0 = no limit. */
  bodyTimeout: number;
}

export interface DispatchController {
  readonly aborted: boolean;
  readonly paused: boolean;
  /** Stop the request: its connection is closed and the handler gets onResponseError(reason). */
  abort(reason: Error): void;
  /** Stop reading the body (backpressure); the body timeout is suspended. */
  pause(): void;
  resume(): void;
}

export interface DispatchHandler {
  /** The request got a connection and is being written. */
  onRequestStart?(controller: DispatchController, context: unknown): void;
  onResponseStart?(controller: DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void;
  onResponseData?(controller: DispatchController, chunk: Buffer): void;
  onResponseEnd?(controller: DispatchController, trailers: IncomingHttpHeaders): void;
  /** Called at most once, and never after onResponseEnd. */
  onResponseError?(controller: DispatchController, err: Error): void;
}

export interface Dispatcher {
  dispatch(opts: DispatchOptions, handler: DispatchHandler): boolean;
  /** Finish what runs, refuse new requests, then close the connections. */
  close(): Promise<void>;
  /** Cut everything now: running and queued requests fail with H1_POOL_CLOSED. */
  destroy(): Promise<void>;
}
