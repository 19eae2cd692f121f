/**
 * Streamable HTTP downstream (MCP 2025-03-26 .. 2025-11-25): POST, GET and DELETE on /NAME/mcp.
 * Each handler copies the headers it needs synchronously (uWS `req` dies at the first await),
 * attaches onAborted before anything else, validates, and hands the frame to the session's worker.
 */
import type { HttpRequest, HttpResponse } from './http-types.js';
import { ErrorCode } from '../errors.js';
import { FrameKind } from '../threads/messages.js';
import { type Envelope, MsgKind, isInitialize, parseEnvelope } from '../upstream/jsonrpc-envelope.js';
import type { Core } from './core.js';
import { frameProblem } from './frame-check.js';
import { acceptsBoth, acceptsSse, isJsonContentType, readBody, writeError, writeErrorCorked, writeResponse } from './http-util.js';
import { PostReply } from './replies.js';
import { SseStream } from './sse-stream.js';
import { captureMcpHeaders, handlePost2026, isModernVersion, refuseModernGetDelete } from './streamable-http-2026.js';

/** Revisions whose Streamable HTTP rules this acceptor implements. */
export const SUPPORTED_PROTOCOL_VERSIONS: ReadonlySet<string> = new Set(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']);

const ALLOW_GET_LESS = { allow: 'POST, DELETE' };

interface PostState {
  aborted: boolean;
  /** A PostReply, or a 2026 SessionlessPostReply (streamable-http-2026.ts). */
  reply: { onAborted(): void } | null;
}

export function handlePost(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const accept = req.getHeader('accept');
  const contentType = req.getHeader('content-type');
  const sidHeader = req.getHeader('mcp-session-id');
  const version = req.getHeader('mcp-protocol-version');
  const started = Date.now();
  // 2026-07-28 (streamable-http-2026.ts): its Mcp-* headers must be copied before the body arrives.
  const modern = isModernVersion(version) ? captureMcpHeaders(req) : undefined;
  const st: PostState = { aborted: false, reply: null };
  res.onAborted(() => {
    st.aborted = true;
    st.reply?.onAborted();
  });
  const reject = (code: ErrorCode, message: string, method?: string): void => {
    const status = writeError(res, code, message);
    core.logExchange(dest, sidHeader, method, status, started, code);
  };
  if (!acceptsBoth(accept)) return reject(ErrorCode.NotAcceptable, 'Accept must list both application/json and text/event-stream');
  if (!isJsonContentType(contentType)) return reject(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json');
  if (version && !SUPPORTED_PROTOCOL_VERSIONS.has(version) && !modern) return reject(ErrorCode.BadProtocolVersion, `unsupported MCP-Protocol-Version: ${version}`);

  readBody(res, core.config.limits.maxBodyBytes, (body) => {
    if (st.aborted) return;
    // Once the body is parsed, refusals carry the request's id (when it has a usable one).
    const late = (code: ErrorCode, message: string, env?: Envelope): void => {
      const status = writeErrorCorked(res, st, code, message, env?.id ?? null);
      core.logExchange(dest, sidHeader, env?.method, status, started, code);
    };
    if (body === null) return late(ErrorCode.BodyTooLarge, `request body exceeds ${core.config.limits.maxBodyBytes} bytes`);
    const env = parseEnvelope(body);
    const bad = frameProblem(env);
    // The id is echoed whenever the scanner found a usable one (null for a parse error).
    if (bad) return late(bad.code, bad.message, env);
    if (handlePost2026(core, { dest, res, st, env, body, version, hasSessionId: !!sidHeader, headers: modern, started })) return;

    if (isInitialize(env)) {
      if (core.draining) return late(ErrorCode.ShuttingDown, 'proxy is shutting down; not accepting new sessions', env);
      if (sidHeader && !core.store.get(sidHeader, dest)) {
        core.log.warn({ dest, staleSession: sidHeader }, 'initialize with an unknown session id: starting a new session');
      }
      const worker = core.supervisor.pick();
      if (worker < 0 || !core.hasRoom(worker)) return late(ErrorCode.Overloaded, 'proxy is at capacity, retry shortly', env);
      const s = core.store.create(dest, worker, false);
      if (!s) return late(ErrorCode.SessionTableFull, 'session table is full, retry later', env);
      const reply = new PostReply(core, core.rid(), worker, s, env.method, res, env.id, true);
      st.reply = reply;
      core.forward(reply, FrameKind.Request, true, body);
      return;
    }
    if (!sidHeader) return late(ErrorCode.MissingSession, 'Mcp-Session-Id header is required (initialize first)', env);
    const s = core.store.get(sidHeader, dest);
    if (!s) return late(ErrorCode.UnknownSession, 'session not found: initialize a new session', env);
    if (!core.hasRoom(s.worker)) return late(ErrorCode.Overloaded, 'too many requests in flight, retry shortly', env);
    const reply = new PostReply(core, core.rid(), s.worker, s, env.method, res, env.id, false);
    st.reply = reply;
    core.forward(reply, env.kind === MsgKind.Request ? FrameKind.Request : FrameKind.OneWay, false, body);
    // Server messages must reach a client even if it never opens a GET stream (optional in the
    // spec): the upstream's own stream is opened once the session is initialized.
    if (env.method === 'notifications/initialized') core.openServerStream(s);
  });
}

export function handleGet(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const accept = req.getHeader('accept');
  const sid = req.getHeader('mcp-session-id');
  const started = Date.now();
  let stream: SseStream | null = null;
  if (refuseModernGetDelete(core, dest, res, req, 'GET')) return;
  res.onAborted(() => stream?.aborted());
  const reject = (code: ErrorCode, message: string, headers?: Record<string, string>): void => {
    const status = writeError(res, code, message, null, headers);
    core.logExchange(dest, sid, 'GET', status, started, code);
  };
  if (!sid) return reject(ErrorCode.MethodNotAllowed, 'GET needs an Mcp-Session-Id; sessions start with POST initialize', ALLOW_GET_LESS);
  if (!acceptsSse(accept)) return reject(ErrorCode.NotAcceptable, 'Accept must include text/event-stream');
  const s = core.store.get(sid, dest);
  if (!s) return reject(ErrorCode.UnknownSession, 'session not found: initialize a new session');
  if (s.stream && !s.stream.done) return reject(ErrorCode.StreamConflict, 'this session already has an open GET stream');
  const opened = new SseStream(res, {
    credit: (rid, bytes) => core.credit(s.worker, rid, s.sid, s.dest, bytes),
    closed: (reason) => {
      if (s.stream === opened) s.stream = null;
      if (reason === 'slow') core.log.warn({ sid, dest }, 'GET stream reader too slow: disconnected');
      core.logExchange(dest, sid, 'GET', reason === 'slow' ? 503 : 200, started, reason);
    },
  }, core.sseLimits);
  stream = opened;
  opened.open(undefined, core.config.sseKeepaliveMs);
  s.lastSeen = Date.now();
  core.store.attach(s, opened);
  core.openServerStream(s);
}

export function handleDelete(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const sid = req.getHeader('mcp-session-id');
  const started = Date.now();
  if (refuseModernGetDelete(core, dest, res, req, 'DELETE')) return;
  const st = { aborted: false };
  res.onAborted(() => {
    st.aborted = true;
  });
  if (!sid) {
    const status = writeError(res, ErrorCode.MissingSession, 'Mcp-Session-Id header is required');
    return core.logExchange(dest, sid, 'DELETE', status, started, ErrorCode.MissingSession);
  }
  const s = core.store.get(sid, dest);
  if (!s) {
    const status = writeError(res, ErrorCode.UnknownSession, 'session not found');
    return core.logExchange(dest, sid, 'DELETE', status, started, ErrorCode.UnknownSession);
  }
  void core.endSession(s, 'delete').then(() => {
    if (st.aborted) return;
    res.cork(() => writeResponse(res, 200, null, ''));
    core.logExchange(dest, sid, 'DELETE', 200, started, 'delete');
  });
}
