/**
 * Legacy HTTP+SSE downstream (MCP 2024-11-05): GET /NAME/sse opens the session and its stream;
 * POST /NAME/message?sessionId=ID carries client messages, answered 202, with every reply and
 * server message delivered on the stream. Closing the stream ends the session.
 */
import type { HttpRequest, HttpResponse } from './http-types.js';
import { ErrorCode } from '../errors.js';
import { upstreamTrace } from '../observability/trace.js';
import { FrameKind } from '../threads/messages.js';
import { type Envelope, MsgKind, parseEnvelope } from '../upstream/jsonrpc-envelope.js';
import { isPending } from '../auth/authenticator.js';
import { bufferBody, gate, writeAuthFail, writeAuthFailCorked } from './auth-gate.js';
import type { Core } from './core.js';
import { frameProblem } from './frame-check.js';
import { type Abortable, acceptsSse, isJsonContentType, readBody, remoteAddress, writeError, writeErrorCorked, writeResponse } from './http-util.js';
import { sessionLostCode, startSession } from './session-start.js';
import type { DownSession } from './sessions.js';
import { LegacyReply } from './replies.js';
import { sseEndpointEvent } from './sse-format.js';
import { SseStream } from './sse-stream.js';

export function handleSseOpen(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const accept = req.getHeader('accept');
  const started = Date.now();
  const st: { aborted: boolean; stream: SseStream | null } = { aborted: false, stream: null };
  res.onAborted(() => {
    st.aborted = true;
    st.stream?.aborted();
  });
  const remote = remoteAddress(res);
  const auth = core.auth.authenticate(req.getHeader('authorization'), dest, remote);
  const logRefusal = (status: number, note: string): void => core.logExchange(dest, undefined, 'GET', status, started, note);
  gate(core, res, st, dest, auth, logRefusal, (ok) => {
    const reject = (code: ErrorCode, message: string): void => logRefusal(writeError(res, code, message), code);
    // Legacy clients may omit Accept; one that sends it must accept an event stream.
    if (accept && !acceptsSse(accept)) {
      return reject(ErrorCode.NotAcceptable, 'Accept must include text/event-stream');
    }
    if (core.draining) return reject(ErrorCode.ShuttingDown, 'proxy is shutting down; not accepting new sessions');
    const start = startSession(core, ok, dest, remote, true, undefined);
    if (!start.ok) {
      if (start.auth) return logRefusal(writeAuthFail(core, res, start.auth), start.auth.code);
      return reject(start.code, start.message);
    }
    const s = start.session;
    const open = (): void => {
      st.stream = openLegacyStream(core, dest, res, s, started);
    };
    // Sessions ended to make room (child budget) close before this one's child can start.
    if (!start.ready) return open();
    void start.ready.then(() => {
      // The client left while it waited: `res` is gone, and so is the session's reason to exist.
      if (st.aborted) void core.endSession(s, 'init-failed');
      else if (core.store.get(s.sid, dest) !== s) res.cork(() => reject(sessionLostCode(core), 'the session ended before it could start; retry'));
      else res.cork(open);
    });
  });
}

function openLegacyStream(core: Core, dest: string, res: HttpResponse, s: DownSession, started: number): SseStream {
  const opened = new SseStream(res, {
    credit: (rid, bytes) => core.credit(s.worker, rid, s.sid, s.dest, bytes),
    closed: (reason) => {
      if (reason === 'slow') core.log.warn({ session: s.tag, dest }, 'SSE reader too slow: disconnected');
      core.logExchange(dest, s.sid, 'GET', reason === 'slow' ? 503 : 200, started, `sse-${reason}`);
      // The stream is the session: when it goes, the upstream session goes with it.
      if (s.stream === opened) s.stream = null;
      if (core.store.get(s.sid, dest)) void core.endSession(s, 'stream-closed');
    },
  }, core.sseLimits);
  opened.open(undefined, core.config.sseKeepaliveMs);
  // Relative to /NAME/sse, so it still resolves behind a reverse proxy that adds a path prefix.
  opened.writeRaw(sseEndpointEvent(`message?sessionId=${s.sid}`), null, 0);
  core.store.attach(s, opened);
  return opened;
}

export function handleSseMessage(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const sid = req.getQuery('sessionId') ?? '';
  const contentType = req.getHeader('content-type');
  const traceparent = req.getHeader('traceparent');
  const tracestate = req.getHeader('tracestate');
  const started = Date.now();
  const st = { aborted: false };
  res.onAborted(() => {
    st.aborted = true;
  });
  const auth = core.auth.authenticate(req.getHeader('authorization'), dest, remoteAddress(res));
  // A JWT seen for the first time is verified while the body arrives.
  const early = isPending(auth) ? bufferBody(res, core.config.limits.maxBodyBytes) : null;
  const logRefusal = (status: number, note: string): void => core.logExchange(dest, sid, undefined, status, started, note);
  gate(core, res, st, dest, auth, logRefusal, (ok) => {
    const reject = (code: ErrorCode, message: string): void => logRefusal(writeError(res, code, message), code);
    if (!sid) return reject(ErrorCode.MissingSession, 'sessionId query parameter is required');
    if (contentType && !isJsonContentType(contentType)) return reject(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json');
    const known = core.store.owned(sid, dest, ok.client);
    if (!known || !known.legacy) return reject(ErrorCode.UnknownSession, 'session not found');
    const onBody = (body: string | null): void => messageBody(core, dest, res, st, ok.client, sid, started, body, traceparent, tracestate);
    if (early) early(onBody);
    else readBody(res, core.config.limits.maxBodyBytes, onBody);
  });
}

function messageBody(core: Core, dest: string, res: HttpResponse, st: Abortable, client: string, sid: string, started: number, body: string | null, traceparent: string, tracestate: string): void {
  if (st.aborted) return;
  // Once the body is parsed, refusals carry the request's id (when it has a usable one).
  const late = (code: ErrorCode, message: string, env?: Envelope): void => {
    const status = writeErrorCorked(res, st, code, message, env?.id ?? null);
    core.logExchange(dest, sid, env?.method, status, started, code);
  };
  if (body === null) return late(ErrorCode.BodyTooLarge, `request body exceeds ${core.config.limits.maxBodyBytes} bytes`);
  // Re-check: the stream may have closed while the body was arriving.
  const s = core.store.owned(sid, dest, client);
  if (!s || !s.stream || s.stream.done) return late(ErrorCode.UnknownSession, 'session not found (its stream is closed)');
  const env = parseEnvelope(body);
  const bad = frameProblem(env);
  if (bad) return late(bad.code, bad.message, env);
  if (!core.hasRoom(s.worker)) return late(ErrorCode.Overloaded, 'too many requests in flight, retry shortly', env);
  const isRequest = env.kind === MsgKind.Request;
  const kind = isRequest ? FrameKind.Request : FrameKind.OneWay;
  if (!core.takeSlot(s, kind)) {
    return core.logExchange(dest, sid, env.method, writeAuthFailCorked(core, res, st, core.auth.inflightRefusal(), env.id), started, ErrorCode.SessionInflight);
  }
  const reply = new LegacyReply(core, core.rid(), s.worker, s, env.method, isRequest ? env.id : undefined);
  core.forward(reply, kind, env.method === 'initialize', body, upstreamTrace(traceparent, tracestate, body));
  // A legacy client reads everything on its one stream: the upstream's server stream (GET, for a
  // Streamable HTTP upstream) is opened once the session is initialized.
  if (env.method === 'notifications/initialized') core.openServerStream(s);
  res.cork(() => writeResponse(res, 202, 'text/plain', 'Accepted'));
}
