/**
 * Every failure the proxy reports has one class here with a stable `code`. The acceptor maps a code
 * to its HTTP status and JSON-RPC error code through `WIRE` (one table, nowhere else), so a given
 * failure always looks the same to clients and in the logs.
 */

export const ErrorCode = {
  ParseError: 'E_PARSE',
  InvalidRequest: 'E_INVALID_REQUEST',
  BatchRejected: 'E_BATCH_REJECTED',
  BodyTooLarge: 'E_BODY_TOO_LARGE',
  NotAcceptable: 'E_NOT_ACCEPTABLE',
  UnsupportedMediaType: 'E_UNSUPPORTED_MEDIA_TYPE',
  BadProtocolVersion: 'E_BAD_PROTOCOL_VERSION',
  MissingSession: 'E_MISSING_SESSION',
  UnknownSession: 'E_UNKNOWN_SESSION',
  UnknownDestination: 'E_UNKNOWN_DESTINATION',
  MethodNotAllowed: 'E_METHOD_NOT_ALLOWED',
  ForbiddenOrigin: 'E_FORBIDDEN_ORIGIN',
  NotFound: 'E_NOT_FOUND',
  SessionTableFull: 'E_SESSION_TABLE_FULL',
  Overloaded: 'E_OVERLOADED',
  StreamConflict: 'E_STREAM_CONFLICT',
  UpstreamConnect: 'E_UPSTREAM_CONNECT',
  UpstreamTimeout: 'E_UPSTREAM_TIMEOUT',
  UpstreamStatus: 'E_UPSTREAM_STATUS',
  UpstreamProtocol: 'E_UPSTREAM_PROTOCOL',
  UpstreamClosed: 'E_UPSTREAM_CLOSED',
  /** A reply larger than the proxy forwards (stdio `max_line_bytes`). */
  UpstreamMessageTooLarge: 'E_UPSTREAM_MESSAGE_TOO_LARGE',
  ChildExited: 'E_CHILD_EXITED',
  ChildRestartsExhausted: 'E_CHILD_RESTARTS_EXHAUSTED',
  WorkerLost: 'E_WORKER_LOST',
  ShuttingDown: 'E_SHUTTING_DOWN',
  SlowConsumer: 'E_SLOW_CONSUMER',
  Internal: 'E_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** JSON-RPC 2.0 reserved codes plus the implementation-defined range (-32000..-32099) we own. */
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  /** Proxy-side: upstream unreachable, timed out, or gone. */
  UpstreamError: -32001,
  /** Proxy-side: no such session (re-initialize). */
  SessionNotFound: -32002,
  /** Proxy-side: at capacity, retry later. */
  Overloaded: -32003,
} as const;

export interface WireShape {
  status: number;
  rpc: number;
  /** Seconds for Retry-After on capacity answers. */
  retryAfter?: number;
}

export const WIRE: Readonly<Record<ErrorCode, WireShape>> = {
  E_PARSE: { status: 400, rpc: JsonRpcCode.ParseError },
  E_INVALID_REQUEST: { status: 400, rpc: JsonRpcCode.InvalidRequest },
  E_BATCH_REJECTED: { status: 400, rpc: JsonRpcCode.InvalidRequest },
  E_BODY_TOO_LARGE: { status: 413, rpc: JsonRpcCode.InvalidRequest },
  E_NOT_ACCEPTABLE: { status: 406, rpc: JsonRpcCode.InvalidRequest },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, rpc: JsonRpcCode.InvalidRequest },
  E_BAD_PROTOCOL_VERSION: { status: 400, rpc: JsonRpcCode.InvalidRequest },
  E_MISSING_SESSION: { status: 400, rpc: JsonRpcCode.InvalidRequest },
  E_UNKNOWN_SESSION: { status: 404, rpc: JsonRpcCode.SessionNotFound },
  E_UNKNOWN_DESTINATION: { status: 404, rpc: JsonRpcCode.InvalidRequest },
  E_METHOD_NOT_ALLOWED: { status: 405, rpc: JsonRpcCode.InvalidRequest },
  E_FORBIDDEN_ORIGIN: { status: 403, rpc: JsonRpcCode.InvalidRequest },
  E_NOT_FOUND: { status: 404, rpc: JsonRpcCode.InvalidRequest },
  E_SESSION_TABLE_FULL: { status: 503, rpc: JsonRpcCode.Overloaded, retryAfter: 5 },
  E_OVERLOADED: { status: 503, rpc: JsonRpcCode.Overloaded, retryAfter: 1 },
  E_STREAM_CONFLICT: { status: 409, rpc: JsonRpcCode.InvalidRequest },
  E_UPSTREAM_CONNECT: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_UPSTREAM_TIMEOUT: { status: 504, rpc: JsonRpcCode.UpstreamError },
  E_UPSTREAM_STATUS: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_UPSTREAM_PROTOCOL: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_UPSTREAM_CLOSED: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_UPSTREAM_MESSAGE_TOO_LARGE: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_CHILD_EXITED: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_CHILD_RESTARTS_EXHAUSTED: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_WORKER_LOST: { status: 502, rpc: JsonRpcCode.UpstreamError },
  E_SHUTTING_DOWN: { status: 503, rpc: JsonRpcCode.Overloaded, retryAfter: 5 },
  E_SLOW_CONSUMER: { status: 503, rpc: JsonRpcCode.Overloaded, retryAfter: 1 },
  E_INTERNAL: { status: 500, rpc: JsonRpcCode.Internal },
};

export class ProxyError extends Error {
  readonly code: ErrorCode;
  /** Extra context for logs; never sent to clients, never holds secrets. */
  readonly detail: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'ProxyError';
    this.code = code;
    this.detail = detail;
  }
}

export function asProxyError(err: unknown, fallback: ErrorCode = ErrorCode.Internal): ProxyError {
  if (err instanceof ProxyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ProxyError(fallback, message);
}

/** The JSON-RPC error body for a failure; `id` is the request's id or null when unknown. */
export function jsonRpcErrorBody(id: string | number | null, code: ErrorCode, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code: WIRE[code].rpc, message, data: { code } } });
}
