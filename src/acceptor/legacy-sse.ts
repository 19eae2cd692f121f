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
import type { Core } from './core.js';
import { frameProblem } from './frame-check.js';
import { acceptsSse, isJsonContentType, readBody, writeError, writeErrorCorked, writeResponse } from './http-util.js';
import { LegacyReply } from './replies.js';
import { sseEndpointEvent } from './sse-format.js';
import { SseStream } from './sse-stream.js';

export function handleSseOpen(core: Core, dest: string, res: HttpResponse, req: HttpRequest): void {
  const accept = req.getHeader('accept');
  const started = Date.now();
  let stream: SseStream | null = null;
  res.onAborted(() => stream?.aborted());
  const reject = (code: ErrorCode, message: string): void => {
    const status = writeError(res, code, message);
    core.logExchange(dest, undefined, 'GET', status, started, code);
  };
  // Legacy clients may omit Accept; one that sends it must accept an event stream.
  if (accept && !acceptsSse(accept)) {
    return reject(ErrorCode.NotAcceptable, 'Accept must include text/event-stream');
  }
  if (core.draining) return reject(ErrorCode.ShuttingDown, 'proxy is shutting down; not accepting new sessions');
  const worker = core.supervisor.pick();
  if (worker < 0 || !core.hasRoom(worker)) return reject(ErrorCode.Overloaded, 'proxy is at capacity, retry shortly');
  const s = core.store.create(dest, worker, true);
  if (!s) return reject(ErrorCode.SessionTableFull, 'session table is full, retry later');
  const opened = new SseStream(res, {
    credit: (rid, bytes) => core.credit(s.worker, rid, s.sid, s.dest, bytes),
    closed: (reason) => {
      if (reason === 'slow') core.log.warn({ sid: s.sid, dest }, 'SSE reader too slow: disconnected');
      core.logExchange(dest, s.sid, 'GET', reason === 'slow' ? 503 : 200, started, `sse-${reason}`);
      // The stream is the session: when it goes, the upstream session goes with it.
      if (s.stream === opened) s.stream = null;
      if (core.store.get(s.sid, dest)) void core.endSession(s, 'stream-closed');
    },
  }, core.sseLimits);
  stream = opened;
  opened.open(undefined, core.config.sseKeepaliveMs);
  // Relative to /NAME/sse, so it still resolves behind a reverse proxy that adds a path prefix.
  opened.writeRaw(sseEndpointEvent(`message?sessionId=${s.sid}`), null, 0);
  core.store.attach(s, opened);
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
  const reject = (code: ErrorCode, message: string): void => {
    const status = writeError(res, code, message);
    core.logExchange(dest, sid, undefined, status, started, code);
  };
  if (!sid) return reject(ErrorCode.MissingSession, 'sessionId query parameter is required');
  if (contentType && !isJsonContentType(contentType)) return reject(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json');
  const known = core.store.get(sid, dest);
  if (!known || !known.legacy) return reject(ErrorCode.UnknownSession, 'session not found');
  readBody(res, core.config.limits.maxBodyBytes, (body) => {
    if (st.aborted) return;
    // Once the body is parsed, refusals carry the request's id (when it has a usable one).
    const late = (code: ErrorCode, message: string, env?: Envelope): void => {
      const status = writeErrorCorked(res, st, code, message, env?.id ?? null);
      core.logExchange(dest, sid, env?.method, status, started, code);
    };
    if (body === null) return late(ErrorCode.BodyTooLarge, `request body exceeds ${core.config.limits.maxBodyBytes} bytes`);
    // Re-check: the stream may have closed while the body was arriving.
    const s = core.store.get(sid, dest);
    if (!s || !s.stream || s.stream.done) return late(ErrorCode.UnknownSession, 'session not found (its stream is closed)');
    const env = parseEnvelope(body);
    const bad = frameProblem(env);
    // The id is echoed whenever the scanner found a usable one (null for a parse error).
    if (bad) return late(bad.code, bad.message, env);
    if (!core.hasRoom(s.worker)) return late(ErrorCode.Overloaded, 'too many requests in flight, retry shortly', env);
    const isRequest = env.kind === MsgKind.Request;
    const reply = new LegacyReply(core, core.rid(), s.worker, s, env.method, isRequest ? env.id : undefined);
    core.forward(reply, isRequest ? FrameKind.Request : FrameKind.OneWay, env.method === 'initialize', body, upstreamTrace(traceparent, tracestate, body));
    // A legacy client reads everything on its one stream: the upstream's server stream (GET, for a
    // Streamable HTTP upstream) is opened once the session is initialized.
    if (env.method === 'notifications/initialized') core.openServerStream(s);
    res.cork(() => writeResponse(res, 202, 'text/plain', 'Accepted'));
  });
}
