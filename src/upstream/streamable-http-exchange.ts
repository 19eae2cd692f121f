/**
 * One POSTed request to a Streamable HTTP upstream and its reply, as a dispatch handler (h1/types.ts).
 * The client (streamable-http-client.ts) owns the session (id, protocol version, GET stream,
 * DELETE); an Exchange owns exactly one request: its head, its JSON body or SSE events, its
 * backpressure (credit from the ReplySink pauses the socket) and its deadlines.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpDestination } from '../config/types.js';
import { ErrorCode, ProxyError } from '../errors.js';
import { traceLines, withTrace } from '../observability/trace.js';
import type { HeaderBlock } from './h1/headers.js';
import type { DispatchController, DispatchHandler, Dispatcher } from './h1/types.js';
import { isStaleConnection, mediaType, upstreamError } from './http-pool.js';
import { MsgKind, idKey, parseEnvelope } from './jsonrpc-envelope.js';
import { createSseParser, type SseEvent, type SseParser } from './sse-parser.js';
import type { ReplySink } from './types.js';

/** A single reply (JSON body or one SSE event) larger than this is refused. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/** What an in-flight exchange needs from its client. */
export interface ExchangeHost {
  readonly url: string;
  /** The URL's path and query, for dispatch(). */
  readonly path: string;
  readonly pool: Dispatcher;
  readonly dest: HttpDestination;
  readonly sessionId: string | undefined;
  /** The POST headers, rendered once per session change. */
  readonly postBlock: HeaderBlock;
  learnSession(headers: IncomingHttpHeaders): void;
  learnVersion(json: string): void;
  sessionGone(): ProxyError;
  release(ex: Exchange): void;
  /** Headers for the GET that resumes a reply stream after `lastEventId`. */
  resumeHeaders(lastEventId: string): Record<string, string>;
  /** Something arrived for a call before its answer (progress, a server request): see deadlines. */
  activity?(json: string): void;
}

/**
 * Resuming a reply stream (2025-11-25 "Resumability and Redelivery"): the server may end the
 * POST's SSE stream before the response, after an event with an `id`; the client comes back with
 * GET + Last-Event-ID after `retry:` ms. Attempts in a row that bring no new event id are bounded.
 */
export const MAX_RESUMES_WITHOUT_PROGRESS = 5;
const RESUME_DEFAULT_MS = 250;
const RESUME_MIN_MS = 10;
const RESUME_MAX_MS = 10_000;

const enum Mode {
  /** No response head yet. */
  Head,
  Json,
  Stream,
  /** A body we do not forward (202, errors): read and dropped so the connection is reused. */
  Discard,
  /** An error status: its body is read (bounded) and relayed if it is a JSON-RPC error. */
  ErrorBody,
}

/**
 * The status a client sees for an upstream error status that came with a JSON-RPC error body.
 * Client errors stay what they are (the client sent something the server refused), except the
 * ones about the proxy's own credentials (401, 403, 407): a client must not start its own auth
 * flow against the proxy because the proxy's upstream token is wrong. Server errors are 502.
 */
export function relayStatus(upstream: number): number {
  if (upstream === 401 || upstream === 403 || upstream === 407) return 502;
  return upstream >= 400 && upstream < 500 ? upstream : 502;
}

/** A complete JSON-RPC error object (the only error body relayed as is). */
function isJsonRpcError(text: string): boolean {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return false;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const m = v as { jsonrpc?: unknown; error?: { code?: unknown; message?: unknown } | null };
  return m.jsonrpc === '2.0' && typeof m.error === 'object' && m.error !== null
    && typeof m.error.code === 'number' && typeof m.error.message === 'string';
}

/** Most bytes of an unforwarded body read before the connection is given up instead. */
const DISCARD_LIMIT = 64 * 1024;

/**
 * One POSTed request and its reply, driven by the dispatch handler interface: no Readable,
 * AbortSignal, async iterator or promise per request (a `request()` API builds all four, and the
 * profile of a loaded worker showed them as a large share of its time).
 */
export class Exchange implements DispatchHandler {
  private done = false;
  private mode = Mode.Head;
  private controller: DispatchController | undefined;
  /** Set before the pool handed us a controller (the request is still queued in the pool). */
  private abortReason: Error | undefined;
  private first: Buffer | undefined;
  private chunks: Buffer[] | undefined;
  private size = 0;
  private parser: SseParser | undefined;
  private paused = false;
  private upstreamEnded = false;
  private pending: Array<{ data: string; id: string | undefined }> | undefined;
  /** The request as sent: its id is read (lazily) only when a stream turns out to be resumable. */
  private frame = '';
  private reqKey: string | undefined;
  /** The last event id seen on this reply's stream(s); defined = the stream can be resumed. */
  private lastEventId: string | undefined;
  private retryMs = RESUME_DEFAULT_MS;
  /** The response to our request went by: a close after it is the normal end. */
  private answered = false;
  /** Resume attempts since the last new event id. */
  private resumes = 0;
  /** The current dispatch is a GET resuming the stream (its 200 must not start a new stream). */
  private resuming = false;
  /** Some resume GET was sent: the answer arriving on it ends the reply (endAfterAnswer). */
  private resumed = false;
  private resumeTimer: NodeJS.Timeout | undefined;
  private errorStatus = 0;
  /** When the pool started writing the request (for the stale-connection retry). */
  private sentAt = 0;
  private retried = false;

  constructor(
    private readonly host: ExchangeHost,
    private readonly sink: ReplySink,
    private readonly isInit: boolean,
    /** The request's trace context (observability/trace.ts): on the POST and any resume GET. */
    private readonly trace = '',
  ) {
    sink.onClose?.(() => this.abandon());
  }

  run(json: string): void {
    const host = this.host;
    this.frame = json;
    try {
      host.pool.dispatch({
        path: host.path,
        method: 'POST',
        headers: host.postBlock.plus(traceLines(this.trace)),
        body: json,
        headersTimeout: host.dest.timeouts.firstByteMs,
        bodyTimeout: host.dest.timeouts.idleMs,
      }, this);
    } catch (err) {
      this.fail(upstreamError(err, 'head', 'POST'));
    }
  }

  /** close(): the session is ending under this request. */
  cancel(err: ProxyError): void {
    this.fail(err);
  }

  // ---- DispatchHandler ----

  onRequestStart(controller: DispatchController): void {
    this.controller = controller;
    this.sentAt = Date.now();
    if (this.abortReason !== undefined) controller.abort(this.abortReason);
  }

  onResponseStart(_c: DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.done || this.sink.closed) return this.abandon();
    if (this.resuming) return this.resumeStarted(status, headers);
    if (status === 200) {
      if (this.isInit) this.host.learnSession(headers);
      const type = mediaType(headers['content-type']);
      if (type === 'application/json') {
        this.mode = Mode.Json;
        return;
      }
      if (type === 'text/event-stream') return this.startStream();
      this.mode = Mode.Discard;
      this.fail(new ProxyError(ErrorCode.UpstreamProtocol, `upstream answered 200 with content type '${type}'`, { status }));
      return;
    }
    this.mode = Mode.Discard;
    if (status === 202) {
      this.finish();
      this.sink.accepted();
    } else if (status === 404 && this.host.sessionId !== undefined) {
      this.fail(this.host.sessionGone());
    } else if (status >= 400 && mediaType(headers['content-type']) === 'application/json') {
      // Decided at the end of the body: the upstream's own error (its code, its message) is what
      // the client needs, not "upstream answered 400".
      this.mode = Mode.ErrorBody;
      this.errorStatus = status;
    } else {
      this.fail(new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`, { status }));
    }
  }

  onResponseData(_c: DispatchController, chunk: Buffer): void {
    switch (this.mode) {
      case Mode.Json:
        if (this.done) return;
        this.size += chunk.length;
        if (this.size > MAX_REPLY_BYTES) {
          this.fail(new ProxyError(ErrorCode.UpstreamProtocol, 'upstream reply too large', { size: this.size }));
          return;
        }
        // The pool hands each chunk over for good (a view of the socket's own read buffer).
        if (this.first === undefined) this.first = chunk;
        else (this.chunks ??= [this.first]).push(chunk);
        return;
      case Mode.Stream:
        if (this.done) return;
        if (this.sink.closed) return this.abandon();
        this.parser?.push(chunk);
        return;
      case Mode.Discard:
        this.size += chunk.length;
        if (this.size > DISCARD_LIMIT) this.controller?.abort(new ProxyError(ErrorCode.UpstreamProtocol, 'unforwarded body too large'));
        return;
      case Mode.ErrorBody:
        this.size += chunk.length;
        if (this.size > DISCARD_LIMIT) {
          this.mode = Mode.Discard;
          this.fail(new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${this.errorStatus}`, { status: this.errorStatus }));
          this.controller?.abort(new ProxyError(ErrorCode.UpstreamProtocol, 'unforwarded body too large'));
          return;
        }
        (this.chunks ??= []).push(chunk);
        return;
      case Mode.Head:
        return;
    }
  }

  onResponseEnd(): void {
    if (this.mode === Mode.ErrorBody) return this.endErrorBody();
    if (this.mode === Mode.Json) return this.endJson();
    if (this.mode === Mode.Stream) return this.endStream();
  }

  onResponseError(_c: DispatchController, err: Error): void {
    // A resumable stream cut mid-way (or a resume GET that failed) is tried again, bounded.
    if ((this.mode === Mode.Stream || this.resuming) && this.resumable()) return this.scheduleResume(true);
    if (this.mode === Mode.Head && !this.resuming && !this.retried && !this.done && !this.sink.closed
      && isStaleConnection(err, Date.now() - this.sentAt)) {
      // Once, on a fresh connection (the pool dropped the dead one).
      this.retried = true;
      this.controller = undefined;
      return this.run(this.frame);
    }
    if (this.mode === Mode.Head) this.fail(upstreamError(err, 'head', 'POST'));
    else this.fail(upstreamError(err, 'body', this.mode === Mode.Stream ? 'POST reply stream' : 'POST reply'));
  }

  // ---- internals ----

  private endJson(): void {
    if (this.done) return;
    const first = this.first;
    const text = this.chunks !== undefined
      ? Buffer.concat(this.chunks, this.size).toString('utf8')
      : first !== undefined ? first.toString('utf8') : '';
    this.first = undefined;
    this.chunks = undefined;
    if (this.isInit) this.host.learnVersion(text);
    this.finish();
    if (!this.sink.closed) this.sink.json(text);
  }

  private endErrorBody(): void {
    if (this.done) return;
    const status = this.errorStatus;
    const text = this.chunks !== undefined ? Buffer.concat(this.chunks, this.size).toString('utf8') : '';
    this.chunks = undefined;
    this.mode = Mode.Discard;
    if (this.sink.errorBody === undefined || !isJsonRpcError(text)) {
      this.fail(new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`, { status }));
      return;
    }
    this.finish();
    if (!this.sink.closed) this.sink.errorBody(relayStatus(status), text);
  }

  private startStream(): void {
    this.mode = Mode.Stream;
    this.parser = createSseParser(
      {
        onEvent: (e) => this.onEvent(e),
        onRetry: (ms) => {
          this.retryMs = Math.min(Math.max(ms, RESUME_MIN_MS), RESUME_MAX_MS);
        },
      },
      { maxBufferChars: MAX_REPLY_BYTES, onOverflow: () => this.fail(new ProxyError(ErrorCode.UpstreamProtocol, 'upstream SSE event too large')) },
    );
    this.sink.startStream();
    this.sink.onResume(() => this.onResume());
  }

  private onEvent(e: SseEvent): void {
    if (this.done) return;
    if (e.id !== undefined) {
      this.lastEventId = e.id;
      this.resumes = 0;
    }
    // Empty data: SSE priming events (id + retry only) that carry no JSON-RPC message.
    if (e.data.length === 0) return;
    if (this.sink.closed) return this.abandon();
    // The initialize result may follow notifications on its stream; learnVersion stops once known.
    if (this.isInit) this.host.learnVersion(e.data);
    // Only a resumable stream needs to know which event was the answer (the envelope scan is
    // skipped on the common stream without ids, whose end is the end of the reply).
    this.host.activity?.(e.data);
    if (this.lastEventId !== undefined && !this.answered) this.noteAnswer(e.data);
    if (this.paused) {
      // The rest of a chunk that was already read when the sink said stop: bounded by one chunk.
      (this.pending ??= []).push({ data: e.data, id: e.id });
      return;
    }
    if (!this.sink.event(e.data, e.id)) {
      this.paused = true;
      this.controller?.pause();
    }
    if (this.answered && this.resumed) this.endAfterAnswer();
  }

  /**
   * A resumed stream (GET + Last-Event-ID) that brought the answer is done: the reply ends now,
   * not whenever the upstream closes that GET (an SDK server held it open 5 s more, longer than
   * a client waits). The upstream GET is cut: nothing more belongs to this request.
   */
  private endAfterAnswer(): void {
    this.upstreamEnded = true;
    this.stop(new ProxyError(ErrorCode.UpstreamClosed, 'resumed reply stream complete'));
    if (!this.paused) this.finishStream();
  }

  private noteAnswer(data: string): void {
    const env = parseEnvelope(data);
    if (env.kind !== MsgKind.Response) return;
    this.reqKey ??= idKey(parseEnvelope(this.frame).id);
    if (idKey(env.id) === this.reqKey) this.answered = true;
  }

  private resumable(): boolean {
    return !this.answered && this.lastEventId !== undefined && !this.done && !this.sink.closed;
  }

  /** The stream ended (or broke) before the answer: come back with GET + Last-Event-ID. */
  private scheduleResume(failure: boolean): void {
    if (failure || this.resuming) this.resumes++;
    if (this.resumes > MAX_RESUMES_WITHOUT_PROGRESS) {
      this.fail(new ProxyError(ErrorCode.UpstreamClosed, `reply stream lost: ${this.resumes - 1} resumes brought nothing new`));
      return;
    }
    this.controller = undefined;
    this.mode = Mode.Head;
    this.resuming = true;
    const delay = Math.min(this.retryMs * 2 ** Math.max(0, this.resumes - 1), RESUME_MAX_MS);
    this.resumeTimer = setTimeout(() => this.dispatchResume(), delay);
  }

  private dispatchResume(): void {
    this.resumeTimer = undefined;
    if (this.done || this.sink.closed) return;
    this.resumed = true;
    const host = this.host;
    this.parser?.reset();
    try {
      host.pool.dispatch({
        path: host.path,
        method: 'GET',
        headers: withTrace(host.resumeHeaders(this.lastEventId as string), this.trace),
        headersTimeout: host.dest.timeouts.firstByteMs,
        bodyTimeout: host.dest.timeouts.idleMs,
      }, this);
    } catch (err) {
      this.fail(upstreamError(err, 'head', 'GET resume'));
    }
  }

  private resumeStarted(status: number, headers: IncomingHttpHeaders): void {
    if (status === 200 && mediaType(headers['content-type']) === 'text/event-stream') {
      this.mode = Mode.Stream;
      if (this.paused) this.controller?.pause();
      return;
    }
    this.mode = Mode.Discard;
    this.resuming = false;
    if (status === 404 && this.host.sessionId !== undefined) this.fail(this.host.sessionGone());
    else this.fail(new ProxyError(ErrorCode.UpstreamStatus, `resuming the reply stream: upstream answered ${status}`, { status }));
  }

  private onResume(): void {
    if (this.done || !this.paused) return;
    if (this.sink.closed) return this.abandon();
    this.paused = false;
    const pending = this.pending;
    while (pending !== undefined && pending.length > 0) {
      const m = pending.shift() as { data: string; id: string | undefined };
      if (!this.sink.event(m.data, m.id)) {
        this.paused = true;
        return;
      }
      if (this.done) return;
    }
    if (this.upstreamEnded) this.finishStream();
    else this.controller?.resume();
  }

  private endStream(): void {
    if (this.done) return;
    this.parser?.end();
    if (this.resumable()) return this.scheduleResume(false);
    this.upstreamEnded = true;
    if (!this.paused) this.finishStream();
  }

  private finishStream(): void {
    if (this.done) return;
    this.finish();
    if (!this.sink.closed) this.sink.end();
  }

  private finish(): void {
    this.done = true;
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.host.release(this);
  }

  /** Stop the upstream request: at once if the pool started it, else as soon as it does. */
  private stop(reason: Error): void {
    const c = this.controller;
    if (c === undefined) this.abortReason ??= reason;
    else if (!c.aborted) c.abort(reason);
  }

  /** The downstream went away: stop reading and release the upstream connection. */
  private abandon(): void {
    if (!this.done) this.finish();
    this.stop(new ProxyError(ErrorCode.UpstreamClosed, 'downstream abandoned the request'));
  }

  private fail(err: ProxyError): void {
    if (this.done) return;
    this.finish();
    // A Discard body is drained so the connection is reused; anything else is cut.
    if (this.mode !== Mode.Discard) this.stop(err);
    if (!this.sink.closed) this.sink.fail(err);
  }
}
