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
  MissingSession: 'E_MISSING_SESSION',
  UnknownSession: 'E_UNKNOWN_SESSION',
  UnknownDestination: 'E_UNKNOWN_DESTINATION',
  MethodNotAllowed: 'E_METHOD_NOT_ALLOWED',
  ForbiddenOrigin: 'E_FORBIDDEN_ORIGIN',
  ForbiddenHost: 'E_FORBIDDEN_HOST',
  NestingTooDeep: 'E_NESTING_TOO_DEEP',
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
  Unauthorized: 'E_UNAUTHORIZED',
  ForbiddenDestination: 'E_FORBIDDEN_DESTINATION',
  RateLimited: 'E_RATE_LIMITED',
  TooManySessions: 'E_TOO_MANY_SESSIONS',
  SessionInflight: 'E_SESSION_INFLIGHT',
  AuthUnavailable: 'E_AUTH_UNAVAILABLE',
  ChildBudget: 'E_CHILD_BUDGET',
  Internal: 'E_INTERNAL',
  // MCP 2026-07-28 (src/era/): see docs/mcp-2026-07-28.md "Error codes per era".
  HeaderMismatch: 'E_HEADER_MISMATCH',
  UnsupportedProtocolVersion: 'E_UNSUPPORTED_PROTOCOL_VERSION',
  MissingClientCapability: 'E_MISSING_CLIENT_CAPABILITY',
  InvalidParams: 'E_INVALID_PARAMS',
  MethodNotFound: 'E_METHOD_NOT_FOUND',
  RequestStateInvalid: 'E_REQUEST_STATE_INVALID',
  RequestStateExpired: 'E_REQUEST_STATE_EXPIRED',
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
  /** Proxy-side: missing or bad credentials, or a destination the client may not use. */
  Unauthorized: -32004,
  /** Proxy-side: this client (or session) is over its own limit; retry after Retry-After. */
  RateLimited: -32005,
  /** MCP 2026-07-28 (basic/index "Error codes"): headers and body disagree, or a required header is missing/malformed. */
  HeaderMismatch: -32020,
  /** MCP 2026-07-28: the request needs a client capability it did not declare in _meta. */
  MissingRequiredClientCapability: -32021,
  /** MCP 2026-07-28: the requested protocol version is not served; error.data lists `supported`. */
  UnsupportedProtocolVersion: -32022,
} as const;

/**
 * 2026-07-28 reserves -32020..-32099 for the specification and asks new implementations not to use
 * -32000..-32019 at all (and never -32002, its old "resource not found"). The proxy-side codes above
 * (-32001..-32003) stay as they are for the session era; a reply to a 2026 request uses these instead,
 * outside the JSON-RPC reserved range as the spec recommends for implementation-defined errors.
 * `rpcCodeFor(code, '2026')` does the mapping; nothing else should pick codes per era.
 */
export const JsonRpcCode2026 = {
  UpstreamError: -31001,
  Overloaded: -31003,
  Unauthorized: -31004,
  RateLimited: -31005,
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
  E_MISSING_SESSION: { status: 400, rpc: JsonRpcCode.InvalidRequest },
  E_UNKNOWN_SESSION: { status: 404, rpc: JsonRpcCode.SessionNotFound },
  E_UNKNOWN_DESTINATION: { status: 404, rpc: JsonRpcCode.InvalidRequest },
  E_METHOD_NOT_ALLOWED: { status: 405, rpc: JsonRpcCode.InvalidRequest },
  E_FORBIDDEN_ORIGIN: { status: 403, rpc: JsonRpcCode.InvalidRequest },
  // 421 Misdirected Request: this server does not answer for that authority (DNS rebinding).
  E_FORBIDDEN_HOST: { status: 421, rpc: JsonRpcCode.InvalidRequest },
  E_NESTING_TOO_DEEP: { status: 400, rpc: JsonRpcCode.InvalidRequest },
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
  E_UNAUTHORIZED: { status: 401, rpc: JsonRpcCode.Unauthorized },
  E_FORBIDDEN_DESTINATION: { status: 403, rpc: JsonRpcCode.Unauthorized },
  // Defaults: the auth module computes the real wait (AuthFail.retryAfter) and passes it as a header.
  E_RATE_LIMITED: { status: 429, rpc: JsonRpcCode.RateLimited, retryAfter: 1 },
  E_TOO_MANY_SESSIONS: { status: 429, rpc: JsonRpcCode.RateLimited, retryAfter: 10 },
  E_SESSION_INFLIGHT: { status: 429, rpc: JsonRpcCode.RateLimited, retryAfter: 1 },
  // The JWKS could not be fetched: not the client's fault, so not a 401 that would send it to re-authorize.
  E_AUTH_UNAVAILABLE: { status: 503, rpc: JsonRpcCode.Overloaded, retryAfter: 5 },
  // Every stdio child of the budget serves a session in use (nothing idle to end): busy, not the client's fault.
  E_CHILD_BUDGET: { status: 503, rpc: JsonRpcCode.Overloaded, retryAfter: 5 },
  E_INTERNAL: { status: 500, rpc: JsonRpcCode.Internal },
  E_HEADER_MISMATCH: { status: 400, rpc: JsonRpcCode.HeaderMismatch },
  E_UNSUPPORTED_PROTOCOL_VERSION: { status: 400, rpc: JsonRpcCode.UnsupportedProtocolVersion },
  E_MISSING_CLIENT_CAPABILITY: { status: 400, rpc: JsonRpcCode.MissingRequiredClientCapability },
  E_INVALID_PARAMS: { status: 400, rpc: JsonRpcCode.InvalidParams },
  // 2026-07-28 streamable-http "Protocol Version Header": an unimplemented method is 404 + -32601.
  E_METHOD_NOT_FOUND: { status: 404, rpc: JsonRpcCode.MethodNotFound },
  // A requestState is a request parameter; MRTR says state failing verification MUST be rejected.
  E_REQUEST_STATE_INVALID: { status: 400, rpc: JsonRpcCode.InvalidParams },
  E_REQUEST_STATE_EXPIRED: { status: 400, rpc: JsonRpcCode.InvalidParams },
};

/** Which protocol era a reply is for: '2025' = the session revisions 2024-11-05..2025-11-25, '2026' = 2026-07-28. */
export type ReplyEra = '2025' | '2026';

/** The JSON-RPC error code of `code` in a reply to a request of `era` (see JsonRpcCode2026). */
export function rpcCodeFor(code: ErrorCode, era: ReplyEra): number {
  const rpc = WIRE[code].rpc;
  if (era === '2025') return rpc;
  if (rpc === JsonRpcCode.UpstreamError) return JsonRpcCode2026.UpstreamError;
  if (rpc === JsonRpcCode.Overloaded) return JsonRpcCode2026.Overloaded;
  if (rpc === JsonRpcCode.Unauthorized) return JsonRpcCode2026.Unauthorized;
  if (rpc === JsonRpcCode.RateLimited) return JsonRpcCode2026.RateLimited;
  // -32002 (unknown session) cannot reach a session-less request; map it anyway so it is never emitted.
  if (rpc === JsonRpcCode.SessionNotFound) return JsonRpcCode.InvalidRequest;
  return rpc;
}

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

/**
 * The JSON-RPC error body for a reply of `era`, with extra `error.data` members next to the stable
 * `code` (2026 errors carry e.g. `supported`/`requested` for UnsupportedProtocolVersion).
 */
export function jsonRpcErrorBodyFor(
  era: ReplyEra, id: string | number | null, code: ErrorCode, message: string, data?: Readonly<Record<string, unknown>>,
): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code: rpcCodeFor(code, era), message, data: { ...data, code } } });
}
