/**
 * Streamable HTTP downstream (MCP 2025-03-26 .. 2025-11-25): POST, GET and DELETE on /NAME/mcp.
 * Each handler copies the headers it needs synchronously (uWS `req` dies at the first await),
 * attaches onAborted before anything else, validates, and hands the frame to the session's worker.
 */
import type { HttpRequest, HttpResponse } from './http-types.js';
import { ErrorCode, jsonRpcErrorBody } from '../errors.js';
import { upstreamTrace } from '../observability/trace.js';
import { FrameKind } from '../threads/messages.js';
import { type Envelope, type JsonRpcId, MsgKind, isInitialize, parseEnvelope } from '../upstream/jsonrpc-envelope.js';
import { type AuthOk, isPending } from '../auth/authenticator.js';
import { sessionTag } from '../observability/session-tag.js';
import { bufferBody, gate, writeAuthFailCorked } from './auth-gate.js';
import type { Core } from './core.js';
import { frameProblem } from './frame-check.js';
import { acceptsBoth, acceptsSse, isJsonContentType, readBody, remoteAddress, writeError, writeErrorCorked, writeResponse } from './http-util.js';
import { sessionLostCode, startSession } from './session-start.js';
import { PostReply } from './replies.js';
import { type ReplayBuffer, STANDALONE_STREAM } from './replay.js';
import { sseEvent } from './sse-format.js';
import { SseStream } from './sse-stream.js';
import { captureMcpHeaders, handlePost2026, isModernVersion, refuseModernGetDelete } from './streamable-http-2026.js';

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
  const traceparent = req.getHeader('traceparent');
  const tracestate = req.getHeader('tracestate');
  const started = Date.now();
  // 2026-07-28 (streamable-http-2026.ts): its Mcp-* headers must be copied before the body arrives.
  const modern = isModernVersion(version) ? captureMcpHeaders(req) : undefined;
  const st: PostState = { aborted: false, reply: null };
  res.onAborted(() => {
    st.aborted = true;
    st.reply?.onAborted();
  });
  const remote = remoteAddress(res);
  const auth = core.auth.authenticate(req.getHeader('authorization'), dest, remote);
  // A JWT seen for the first time is verified while the body arrives.
  const early = isPending(auth) ? bufferBody(res, core.config.limits.maxBodyBytes) : null;
  const logRefusal = (status: number, note: string): void => core.logExchange(dest, sidHeader, undefined, status, started, note);
  gate(core, res, st, dest, auth, logRefusal, (ok) => {
    const reject = (code: ErrorCode, message: string): void => logRefusal(writeError(res, code, message), code);
    if (!acceptsBoth(accept)) return reject(ErrorCode.NotAcceptable, 'Accept must list both application/json and text/event-stream');
    if (!isJsonContentType(contentType)) return reject(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json');
    // An MCP-Protocol-Version the proxy does not serve is answered once the body is parsed, by the
    // era detector (handlePost2026: 400 -32022 with the request's id, data.supported/requested).
    const onBody = (body: string | null): void => postBody(core, dest, res, st, ok, remote, { sidHeader, version, modern, traceparent, tracestate, started }, body);
    if (early) early(onBody);
    else readBody(res, core.config.limits.maxBodyBytes, onBody);
  });
}

/** What handlePost copied from the request before the body arrived (uWS `req` is dead by then). */
interface PostHeaders {
  sidHeader: string;
  version: string;
  /** The Mcp-* headers of a 2026-07-28 request (streamable-http-2026.ts), else undefined. */
  modern: ReturnType<typeof captureMcpHeaders> | undefined;
  traceparent: string;
  tracestate: string;
  started: number;
}

function postBody(core: Core, dest: string, res: HttpResponse, st: PostState, ok: AuthOk, remote: string, h: PostHeaders, body: string | null): void {
  const { sidHeader, version, modern, traceparent, tracestate, started } = h;
  if (st.aborted) return;
  // Once the body is parsed, refusals carry the request's id (when it has a usable one).
  const late = (code: ErrorCode, message: string, env?: Envelope): void => {
    const status = writeErrorCorked(res, st, code, message, env?.id ?? null);
    core.logExchange(dest, sidHeader, env?.method, status, started, code);
  };
  if (body === null) return late(ErrorCode.BodyTooLarge, `request body exceeds ${core.config.limits.maxBodyBytes} bytes`);
  const env = parseEnvelope(body);
  const bad = frameProblem(env);
  if (bad) return late(bad.code, bad.message, env);
  // A 2026-07-28 request (no sessions) is handled on its own path; false: a session-era request.
  if (handlePost2026(core, { dest, res, st, env, body, version, hasSessionId: !!sidHeader, headers: modern, started, principal: ok.client })) return;

  if (isInitialize(env)) {
    if (core.draining) return late(ErrorCode.ShuttingDown, 'proxy is shutting down; not accepting new sessions', env);
    // Another client's id counts as unknown: it is neither ended nor revealed.
    const live = sidHeader ? core.store.owned(sidHeader, dest, ok.client) : undefined;
    if (sidHeader && !live) {
      core.log.warn({ dest, staleSession: sessionTag(sidHeader) }, 'initialize with an unknown session id: starting a new session');
    }
    const start = startSession(core, ok, dest, remote, false, live);
    if (!start.ok) {
      if (start.auth) return core.logExchange(dest, sidHeader, env.method, writeAuthFailCorked(core, res, st, start.auth, env.id), started, start.auth.code);
      return late(start.code, start.message, env);
    }
    const s = start.session;
    const go = (): void => {
      if (st.aborted) {
        void core.endSession(s, 'init-failed');
        return;
      }
      // Ended while it waited for room (its worker died, or shutdown): nothing to forward to.
      if (core.store.get(s.sid, dest) !== s) return late(sessionLostCode(core), 'the session ended before it could start; retry', env);
      core.takeSlot(s, FrameKind.Request); // a new session's first slot is always free
      const reply = new PostReply(core, core.rid(), s.worker, s, env.method, res, env.id, true);
      st.reply = reply;
      core.forward(reply, FrameKind.Request, true, body, upstreamTrace(traceparent, tracestate, body));
    };
    if (start.ready) void start.ready.then(go);
    else go();
    return;
  }
  if (!sidHeader) return late(ErrorCode.MissingSession, 'Mcp-Session-Id header is required (initialize first)', env);
  const s = core.store.owned(sidHeader, dest, ok.client);
  if (!s) return late(ErrorCode.UnknownSession, 'session not found: initialize a new session', env);
  if (!core.hasRoom(s.worker)) return late(ErrorCode.Overloaded, 'too many requests in flight, retry shortly', env);
  const kind = env.kind === MsgKind.Request ? FrameKind.Request : FrameKind.OneWay;
  if (!core.takeSlot(s, kind)) {
    return core.logExchange(dest, sidHeader, env.method, writeAuthFailCorked(core, res, st, core.auth.inflightRefusal(), env.id), started, ErrorCode.SessionInflight);
  }
  const reply = new PostReply(core, core.rid(), s.worker, s, env.method, res, env.id, false);
  st.reply = reply;
  core.forward(reply, kind, false, body, upstreamTrace(traceparent, tracestate, body));
  // Server messages must reach a client even if it never opens a GET stream (optional in the
  // spec): the upstream's own stream is opened once the session is initialized.
  if (env.method === 'notifications/initialized') core.openServerStream(s);
}

export function handleGet(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const accept = req.getHeader('accept');
  const sid = req.getHeader('mcp-session-id');
  const lastEventId = req.getHeader('last-event-id');
  const started = Date.now();
  if (refuseModernGetDelete(core, dest, res, req, 'GET')) return;
  const st: { aborted: boolean; stream: SseStream | null } = { aborted: false, stream: null };
  res.onAborted(() => {
    st.aborted = true;
    st.stream?.aborted();
  });
  const auth = core.auth.authenticate(req.getHeader('authorization'), dest, remoteAddress(res));
  gate(core, res, st, dest, auth, (status, note) => core.logExchange(dest, sid, 'GET', status, started, note), (ok) => {
    st.stream = openGetStream(core, dest, res, ok.client, accept, sid, lastEventId, started);
  });
}

/** GET after authentication: the server-message stream of the client's own session. */
function openGetStream(core: Core, dest: string, res: HttpResponse, client: string, accept: string, sid: string, lastEventId: string, started: number): SseStream | null {
  const reject = (code: ErrorCode, message: string, headers?: Record<string, string>): null => {
    const status = writeError(res, code, message, null, headers);
    core.logExchange(dest, sid, 'GET', status, started, code);
    return null;
  };
  if (!sid) return reject(ErrorCode.MethodNotAllowed, 'GET needs an Mcp-Session-Id; sessions start with POST initialize', ALLOW_GET_LESS);
  if (!acceptsSse(accept)) return reject(ErrorCode.NotAcceptable, 'Accept must include text/event-stream');
  const s = core.store.owned(sid, dest, client);
  if (!s) return reject(ErrorCode.UnknownSession, 'session not found: initialize a new session');
  if (s.stream && !s.stream.done) return reject(ErrorCode.StreamConflict, 'this session already has an open GET stream');
  const opened = new SseStream(res, {
    credit: (rid, bytes) => core.credit(s.worker, rid, s.sid, s.dest, bytes),
    closed: (reason) => {
      if (s.stream === opened) s.stream = null;
      if (reason === 'slow') core.log.warn({ session: s.tag, dest }, 'GET stream reader too slow: disconnected');
      core.logExchange(dest, sid, 'GET', reason === 'slow' ? 503 : 200, started, reason);
    },
  }, core.sseLimits);
  const replay = s.replay!;
  opened.eventIds = (data) => replay.record(STANDALONE_STREAM, data);
  opened.open(undefined, core.config.sseKeepaliveMs);
  if (lastEventId !== '') resume(opened, replay, lastEventId);
  s.lastSeen = Date.now();
  core.store.attach(s, opened);
  core.openServerStream(s);
  return opened;
}

/** What a GET with Last-Event-ID gets before the live stream (replay.ts explains the rules). */
function resume(stream: SseStream, replay: ReplayBuffer, lastEventId: string): void {
  const plan = replay.plan(lastEventId);
  if (plan === undefined) return; // not an id of this session: a fresh stream
  if (plan.stream === 'post') {
    if (plan.requestId === undefined) return;
    const id = JSON.parse(plan.requestId) as JsonRpcId;
    stream.event(jsonRpcErrorBody(id, ErrorCode.UpstreamClosed, 'the reply stream of this request was cut and cannot be resumed; send the request again'), null);
    return;
  }
  if (plan.lost > 0) {
    stream.event(JSON.stringify({
      jsonrpc: '2.0', method: 'notifications/message',
      params: { level: 'warning', logger: 'mithril-proxy', data: `${plan.lost} server messages sent after event ${lastEventId} are no longer held (limits.replay_buffer_bytes) and cannot be replayed` },
    }), null);
  }
  // Replayed with their original ids, and no credit: the producer was paid when they first went out.
  for (const e of plan.events) stream.writeRaw(sseEvent(e.data, e.id), null, 0);
}

export function handleDelete(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const sid = req.getHeader('mcp-session-id');
  const started = Date.now();
  if (refuseModernGetDelete(core, dest, res, req, 'DELETE')) return;
  const st = { aborted: false };
  res.onAborted(() => {
    st.aborted = true;
  });
  const auth = core.auth.authenticate(req.getHeader('authorization'), dest, remoteAddress(res));
  const logRefusal = (status: number, note: string): void => core.logExchange(dest, sid, 'DELETE', status, started, note);
  gate(core, res, st, dest, auth, logRefusal, (ok) => {
    if (!sid) return logRefusal(writeError(res, ErrorCode.MissingSession, 'Mcp-Session-Id header is required'), ErrorCode.MissingSession);
    // Another client's session answers like an unknown one: it cannot be ended by them.
    const s = core.store.owned(sid, dest, ok.client);
    if (!s) return logRefusal(writeError(res, ErrorCode.UnknownSession, 'session not found'), ErrorCode.UnknownSession);
    void core.endSession(s, 'delete').then(() => {
      if (st.aborted) return;
      res.cork(() => writeResponse(res, 200, null, ''));
      core.logExchange(dest, sid, 'DELETE', 200, started, 'delete');
    });
  });
}
