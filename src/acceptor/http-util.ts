/**
 * Small uWS helpers shared by the route handlers: reading a bounded body, and answering with a
 * status plus JSON (or JSON-RPC error) body. Status lines and constant headers are built once.
 */
import type { HttpResponse } from './http-types.js';
import { ErrorCode, WIRE, jsonRpcErrorBody } from '../errors.js';
import type { JsonRpcId } from '../upstream/jsonrpc-envelope.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 202: '202 Accepted', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 406: '406 Not Acceptable', 409: '409 Conflict',
  413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 421: '421 Misdirected Request',
  429: '429 Too Many Requests', 431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error', 502: '502 Bad Gateway', 503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Status`;
}

/** The per-request flag uWS needs: after abort, `res` must never be touched again. */
export interface Abortable {
  aborted: boolean;
}

/**
 * Read the whole body, at most `limit` bytes. `done(null)` means it was too large (the caller
 * answers 413). The chunk buffers are detached after each callback, so they are decoded or copied
 * inside it; the one-chunk case (nearly every JSON-RPC frame) decodes straight from uWS memory.
 */
export function readBody(res: HttpResponse, limit: number, done: (body: string | null) => void): void {
  let parts: Buffer[] | undefined;
  let size = 0;
  let over = false;
  res.onData((chunk, isLast) => {
    if (over) return;
    size += chunk.byteLength;
    if (size > limit) {
      over = true;
      parts = undefined;
      done(null);
      return;
    }
    if (isLast && !parts) {
      done(Buffer.from(chunk).toString('utf8'));
      return;
    }
    (parts ??= []).push(Buffer.from(chunk.slice(0)));
    if (isLast) done(Buffer.concat(parts, size).toString('utf8'));
  });
}

export interface ExtraHeaders {
  [name: string]: string;
}

/**
 * Write a complete response. Must run inside the handler or inside `res.cork`. `close` ends the
 * connection after it (no keep-alive), e.g. while the proxy is shutting down.
 */
export function writeResponse(res: HttpResponse, status: number, contentType: string | null, body: string, headers?: ExtraHeaders, close = false): void {
  res.writeStatus(statusLine(status));
  if (contentType) res.writeHeader('content-type', contentType);
  if (headers) for (const k in headers) res.writeHeader(k, headers[k]!);
  res.end(body, close);
}

/**
 * A JSON-RPC error answer with the status and Retry-After the error table assigns to `code`.
 * Shutdown answers also close the connection: a client that reused it would meet a reset when
 * the process exits.
 */
export function writeError(res: HttpResponse, code: ErrorCode, message: string, id: JsonRpcId = null, headers?: ExtraHeaders): number {
  return writeErrorBody(res, code, jsonRpcErrorBody(id, code, message), headers);
}

/**
 * The one way an error body goes out, whatever its era (replies-2026.ts writeEraError builds the
 * 2026 body): status, Retry-After and connection handling from the error table.
 */
export function writeErrorBody(res: HttpResponse, code: ErrorCode, body: string, headers?: ExtraHeaders): number {
  const wire = WIRE[code];
  const h: ExtraHeaders = headers ? { ...headers } : {};
  // A computed wait (the auth module's token bucket) wins over the table's default.
  if (wire.retryAfter !== undefined && h['retry-after'] === undefined) h['retry-after'] = String(wire.retryAfter);
  writeResponse(res, wire.status, 'application/json', body, h, code === ErrorCode.ShuttingDown);
  return wire.status;
}

/** Same as writeError, for use after the synchronous handler returned. */
export function writeErrorCorked(res: HttpResponse, a: Abortable, code: ErrorCode, message: string, id: JsonRpcId = null, headers?: ExtraHeaders): number {
  if (a.aborted) return WIRE[code].status;
  let status = 0;
  res.cork(() => {
    status = writeError(res, code, message, id, headers);
  });
  return status;
}

/** Streamable HTTP POST: the client must take both a JSON reply and an SSE stream. */
export function acceptsBoth(accept: string): boolean {
  if (accept.includes('*/*')) return true;
  return accept.includes('application/json') && accept.includes('text/event-stream');
}

export function acceptsSse(accept: string): boolean {
  return accept.includes('text/event-stream') || accept.includes('*/*');
}

export function isJsonContentType(ct: string): boolean {
  return /^application\/json\s*(;|$)/i.test(ct);
}

/** The peer's address as text; valid only while the request is (uWS: synchronously). */
export function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}
