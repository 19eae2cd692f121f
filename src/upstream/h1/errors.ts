/**
 * Failures of the upstream HTTP/1.1 client (src/upstream/h1/), each with a stable `code`. They are
 * transport facts, not client-facing errors: src/upstream/http-pool.ts `upstreamError` maps them
 * (and socket errors such as ECONNREFUSED, which pass through with their own code) to ProxyError.
 */
export const H1ErrorCode = {
  ConnectTimeout: 'H1_CONNECT_TIMEOUT',
  /** No response head within the request's headersTimeout after it was written. */
  HeadersTimeout: 'H1_HEADERS_TIMEOUT',
  /** The body went silent for bodyTimeout (not counted while paused by the reader). */
  BodyTimeout: 'H1_BODY_TIMEOUT',
  /** The server closed the connection before the response was complete. */
  Closed: 'H1_CLOSED',
  /** The bytes from the server are not an HTTP/1.1 response. */
  Parse: 'H1_PARSE',
  /** A request header name or value that cannot go on the wire. */
  InvalidHeader: 'H1_INVALID_HEADER',
  /** The pool was closed or destroyed with the request still queued or running. */
  PoolClosed: 'H1_POOL_CLOSED',
} as const;
export type H1ErrorCode = (typeof H1ErrorCode)[keyof typeof H1ErrorCode];

export class H1Error extends Error {
  readonly code: H1ErrorCode;

  constructor(code: H1ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'H1Error';
    this.code = code;
  }
}
