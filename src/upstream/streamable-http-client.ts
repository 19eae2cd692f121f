/**
 * Streamable HTTP upstream (MCP 2025-03-26 .. 2025-11-25): one `ExchangeClient` per upstream
 * session. Each request is its own POST whose reply (a JSON body or an SSE stream) goes to that
 * request's ReplySink; server-initiated traffic arrives on the optional standalone GET stream.
 *
 * Bodies are forwarded as strings exactly as received. The only body ever parsed is the reply to
 * `initialize`, to learn the negotiated protocol version that every later request must carry.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpDestination } from '../config/types.js';
import { ErrorCode, ProxyError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { traceLines } from '../observability/trace.js';
import { HeaderBlock } from './h1/headers.js';
import { request, type ResponseBody, type ResponseData } from './h1/request.js';
import type { Dispatcher } from './h1/types.js';
import { configuredHeaders, discard, mediaType, poolFor, postFrame, streamPoolFor, upstreamError } from './http-pool.js';
import { createSseParser, type SseEvent, type SseParser } from './sse-parser.js';
import { Exchange, type ExchangeHost, MAX_REPLY_BYTES } from './streamable-http-exchange.js';
import type { ExchangeClient, ExchangeHandlers, ReplySink } from './types.js';

type Body = ResponseBody;

export { MAX_REPLY_BYTES };
/** close(): how long the DELETE may take before we give up on it. */
export const DELETE_TIMEOUT_MS = 1_500;
/** Standalone GET stream: reconnect attempts after it drops, before the session is given up. */
export const SERVER_STREAM_MAX_RECONNECTS = 5;
const RECONNECT_BASE_MS = 250;
/** Lowest reconnect delay a server may ask for with `retry:`. */
const RECONNECT_MIN_MS = 10;
const RECONNECT_MAX_MS = 10_000;
/** A GET stream that stayed up this long counts as healthy: its reconnect budget is refilled. */
const STREAM_STABLE_MS = 30_000;
/**
 * GET streams that end cleanly this fast with nothing on them, more than QUICK_CLOSES_FREE times
 * in a row, are reconnected with backoff (a server that answers 200 and hangs up at once).
 */
const QUICK_CLOSE_MS = 200;
const QUICK_CLOSES_FREE = 3;
/**
 * How long requests wait for the first GET stream to be answered. A server that has no standalone
 * stream yet drops what it would send on it (the TypeScript SDK does, without an event store), so a
 * tool that samples or elicits on that stream right after initialize lost its request and the call
 * hung. A server that delays its GET head longer than this is not waited for.
 */
export const SERVER_STREAM_HOLD_MS = 1_000;

const INITIALIZE_RE = /"method"\s*:\s*"initialize"/;
/**
 * What a session id or protocol version learnt from the upstream must look like to be sent back
 * as a header (visible ASCII, as the spec requires of session ids): anything else is ignored.
 */
const HEADER_TOKEN = /^[\x21-\x7e]{1,256}$/;

type State = 'open' | 'gone' | 'closing' | 'closed';

export class StreamableHttpClient implements ExchangeClient, ExchangeHost {
  readonly url: string;
  readonly path: string;
  readonly pool: Dispatcher;
  private readonly streamPool: Dispatcher;
  private readonly configured: Record<string, string>;
  /**
   * The POST headers, rendered once per change (session id, protocol version). Rendering cannot
   * fail: configured headers are checked when the config loads, learnt values by HEADER_TOKEN.
   */
  postBlock!: HeaderBlock;
  private getHeaders: Record<string, string> = {};
  sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private state: State = 'open';
  private closing: Promise<void> | undefined;
  private closedNotified = false;
  /** The upstream answered 404 for our session: nothing left to DELETE. */
  private upstreamForgot = false;
  private readonly exchanges = new Set<Exchange>();
  private readonly posts = new Set<AbortController>();

  // The standalone GET stream.
  private gsWanted = false;
  private gsAc: AbortController | undefined;
  private gsBody: Body | undefined;
  private gsPaused = false;
  private gsPending: Array<{ data: string; id: string | undefined }> = [];
  private gsParser: SseParser | undefined;
  private gsLastEventId: string | undefined;
  private gsRetryMs = RECONNECT_BASE_MS;
  private gsFailures = 0;
  /** The current GET connection delivered something (an event, an id, a `retry:`). */
  private gsProgress = false;
  /** Clean closes in a row of streams that brought nothing and lasted under QUICK_CLOSE_MS. */
  private gsQuickCloses = 0;
  private gsOpenedAt = 0;
  private gsTimer: NodeJS.Timeout | undefined;
  /** While the first GET stream connects: what waits for it (see SERVER_STREAM_HOLD_MS). */
  private gsHold: Array<() => void> | undefined;

  constructor(
    readonly dest: HttpDestination,
    private readonly handlers: ExchangeHandlers,
    private readonly log: Logger,
  ) {
    this.url = dest.url;
    const u = new URL(dest.url);
    this.path = u.pathname + u.search;
    this.pool = poolFor(dest);
    this.streamPool = streamPoolFor(dest);
    this.configured = configuredHeaders(dest);
    this.buildHeaders();
  }

  request(json: string, sink: ReplySink, trace = ''): void {
    if (this.state !== 'open') {
      sink.fail(this.closedError());
      return;
    }
    if (this.gsHold !== undefined) {
      this.gsHold.push(() => this.request(json, sink, trace));
      return;
    }
    const isInit = this.protocolVersion === undefined && INITIALIZE_RE.test(json);
    const ex = new Exchange(this, sink, isInit, trace);
    this.exchanges.add(ex);
    ex.run(json);
  }

  async post(json: string, trace = ''): Promise<void> {
    if (this.state !== 'open') throw this.closedError();
    const hold = this.gsHold;
    if (hold !== undefined) {
      await new Promise<void>((resolve) => hold.push(resolve));
      if (this.state !== 'open') throw this.closedError();
    }
    let status: number;
    try {
      status = await postFrame(this.path, this.pool, this.postBlock.plus(traceLines(trace)), json, this.dest.timeouts, this.posts, 'POST');
    } catch (err) {
      throw this.state === 'open' ? err : this.closedError();
    }
    if (status >= 200 && status < 300) return;
    if (status === 404 && this.sessionId !== undefined) throw this.sessionGone();
    throw new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`, { status });
  }

  async openServerStream(): Promise<void> {
    if (this.state !== 'open' || this.gsWanted) return;
    this.gsWanted = true;
    this.gsParser = createSseParser(
      {
        onEvent: (e) => this.onServerEvent(e),
        onRetry: (ms) => {
          this.gsRetryMs = Math.min(Math.max(ms, RECONNECT_MIN_MS), RECONNECT_MAX_MS);
          this.gsProgress = true;
        },
      },
      { maxBufferChars: MAX_REPLY_BYTES, onOverflow: () => this.gsBody?.destroy(new ProxyError(ErrorCode.UpstreamProtocol, 'server stream event too large')) },
    );
    // Requests wait (bounded) until the server has the stream, bounded by the acceptor's
    // per-session in-flight slots in number.
    const hold: Array<() => void> = [];
    this.gsHold = hold;
    const release = (): void => {
      if (this.gsHold !== hold) return;
      this.gsHold = undefined;
      clearTimeout(timer);
      for (const run of hold) run();
    };
    const timer = setTimeout(release, SERVER_STREAM_HOLD_MS);
    try {
      await this.connectServerStream(true);
    } finally {
      release();
    }
  }

  pauseServerStream(): void {
    this.gsPaused = true;
    this.gsBody?.pause();
  }

  resumeServerStream(): void {
    if (!this.gsPaused) return;
    this.gsPaused = false;
    const pending = this.gsPending;
    while (pending.length > 0 && !this.gsPaused && this.state === 'open') {
      const m = pending.shift() as { data: string; id: string | undefined };
      this.handlers.onServerMessage(m.data, m.id);
    }
    if (!this.gsPaused) this.gsBody?.resume();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // ---- ExchangeHost ----

  learnSession(headers: IncomingHttpHeaders): void {
    const raw = headers['mcp-session-id'];
    const id = Array.isArray(raw) ? raw[0] : raw;
    if (id !== undefined && id !== this.sessionId && HEADER_TOKEN.test(id)) {
      this.sessionId = id;
      this.buildHeaders();
    }
  }

  learnVersion(json: string): void {
    if (this.protocolVersion !== undefined) return;
    let version: unknown;
    try {
      version = (JSON.parse(json) as { result?: { protocolVersion?: unknown } } | null)?.result?.protocolVersion;
    } catch {
      return; // not ours to judge: the body is forwarded untouched either way
    }
    if (typeof version === 'string' && HEADER_TOKEN.test(version)) {
      this.protocolVersion = version;
      this.buildHeaders();
    }
  }

  sessionGone(): ProxyError {
    const err = new ProxyError(ErrorCode.UpstreamClosed, 'upstream session is gone (404)', { status: 404 });
    this.upstreamForgot = true;
    if (this.state === 'open') {
      this.state = 'gone';
      this.log.info('upstream session ended by the server');
      this.stopServerStream();
      this.notifyClosed(err);
    }
    return err;
  }

  release(ex: Exchange): void {
    this.exchanges.delete(ex);
  }

  resumeHeaders(lastEventId: string): Record<string, string> {
    return { ...this.getHeaders, 'last-event-id': lastEventId };
  }

  activity(json: string): void {
    this.handlers.onActivity?.(json);
  }

  // ---- internals ----

  private buildHeaders(): void {
    const session: Record<string, string> = {};
    if (this.sessionId !== undefined) session['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion !== undefined) session['mcp-protocol-version'] = this.protocolVersion;
    this.getHeaders = { ...this.configured, accept: 'text/event-stream', ...session };
    this.postBlock = HeaderBlock.from({
      ...this.configured,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...session,
    });
  }

  private closedError(): ProxyError {
    return new ProxyError(ErrorCode.UpstreamClosed, this.state === 'gone' ? 'upstream session is gone' : 'upstream session closed');
  }

  private notifyClosed(err: ProxyError | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.handlers.onClosed(err);
  }

  private async connectServerStream(initial: boolean): Promise<void> {
    this.gsTimer = undefined;
    if (this.state !== 'open') return;
    const ac = new AbortController();
    this.gsAc = ac;
    const headers = this.gsLastEventId ? { ...this.getHeaders, 'last-event-id': this.gsLastEventId } : this.getHeaders;
    let res: ResponseData;
    try {
      res = await request(this.streamPool, {
        path: this.path,
        method: 'GET',
        headers,
        signal: ac.signal,
        headersTimeout: this.dest.timeouts.firstByteMs,
        // Silence is normal on this stream; TCP keep-alive (pool) finds a dead peer.
        bodyTimeout: 0,
      });
    } catch (err) {
      if (this.state !== 'open' || ac.signal.aborted) return;
      // The first attempt too: a server that is briefly unreachable must not cost the session
      // its server-initiated traffic for good.
      return this.reconnectServerStream(upstreamError(err, 'head', 'GET stream'));
    }
    if (this.state !== 'open' || ac.signal.aborted) {
      res.body.destroy();
      return;
    }
    const status = res.statusCode;
    if (status === 405) {
      discard(res.body);
      this.gsWanted = false;
      this.log.debug('upstream offers no standalone GET stream');
      return;
    }
    if (status === 404 && this.sessionId !== undefined) {
      discard(res.body);
      const err = this.sessionGone();
      if (initial) throw err;
      return;
    }
    const type = mediaType(res.headers['content-type']);
    if (status !== 200 || type !== 'text/event-stream') {
      discard(res.body);
      const err =
        status === 200
          ? new ProxyError(ErrorCode.UpstreamProtocol, `GET stream answered with content type '${type}'`)
          : new ProxyError(ErrorCode.UpstreamStatus, `GET stream: upstream answered ${status}`, { status });
      return this.reconnectServerStream(err);
    }
    const body = res.body;
    this.gsBody = body;
    this.gsOpenedAt = Date.now();
    this.gsProgress = false;
    this.gsParser?.reset();
    body.on('data', (chunk: Buffer) => this.gsParser?.push(chunk));
    body.on('end', () => this.onServerStreamDown(body, null));
    body.on('error', (err) => this.onServerStreamDown(body, err));
    if (this.gsPaused) body.pause();
  }

  private onServerEvent(e: SseEvent): void {
    if (e.id !== undefined) this.gsLastEventId = e.id;
    // A stream that delivers anything (a message, or a priming event: id + empty data) is working,
    // even if the server closes it after each one (SSE polling): only streams that fail without
    // progress use up the reconnect budget.
    this.gsProgress = true;
    this.gsFailures = 0;
    if (e.data.length === 0 || this.state !== 'open') return;
    if (this.gsPaused) this.gsPending.push({ data: e.data, id: e.id });
    else this.handlers.onServerMessage(e.data, e.id);
  }

  private onServerStreamDown(body: Body, err: Error | null): void {
    if (this.gsBody !== body) return;
    this.gsBody = undefined;
    if (this.state !== 'open' || !this.gsWanted) return;
    if (Date.now() - this.gsOpenedAt >= STREAM_STABLE_MS) this.gsFailures = 0;
    const perr = err ? upstreamError(err, 'body', 'GET stream') : new ProxyError(ErrorCode.UpstreamClosed, 'GET stream ended');
    // A clean end is the server closing a healthy stream (2025-11-25 polling, or an idle cut): it
    // answered 200 with an event stream, so it is alive. Come back after `retry:` with
    // Last-Event-ID and no penalty; only streams that end at once with nothing back off.
    this.reconnectServerStream(perr, err === null);
  }

  private reconnectServerStream(err: ProxyError, clean = false): void {
    if (clean) {
      this.gsFailures = 0;
      const quiet = !this.gsProgress && Date.now() - this.gsOpenedAt < QUICK_CLOSE_MS;
      this.gsQuickCloses = quiet ? this.gsQuickCloses + 1 : 0;
      const delay = Math.min(this.gsRetryMs * 2 ** Math.max(0, this.gsQuickCloses - QUICK_CLOSES_FREE), RECONNECT_MAX_MS);
      this.log.debug({ delay }, 'upstream GET stream closed by the server; reconnecting with Last-Event-ID');
      this.gsTimer = setTimeout(() => {
        this.connectServerStream(false).catch(() => undefined);
      }, delay);
      return;
    }
    this.gsFailures++;
    if (this.gsFailures > SERVER_STREAM_MAX_RECONNECTS) {
      this.log.warn({ code: err.code, err: err.message }, 'upstream GET stream lost for good');
      this.state = 'gone';
      this.stopServerStream();
      this.notifyClosed(new ProxyError(ErrorCode.UpstreamClosed, 'upstream GET stream lost after reconnects', { cause: err.code }));
      return;
    }
    const delay = Math.min(this.gsRetryMs * 2 ** (this.gsFailures - 1), RECONNECT_MAX_MS);
    this.log.debug({ code: err.code, attempt: this.gsFailures, delay }, 'upstream GET stream dropped; reconnecting');
    this.gsTimer = setTimeout(() => {
      this.connectServerStream(false).catch(() => undefined);
    }, delay);
  }

  private stopServerStream(): void {
    this.gsWanted = false;
    if (this.gsTimer !== undefined) clearTimeout(this.gsTimer);
    this.gsTimer = undefined;
    this.gsAc?.abort();
    this.gsBody?.destroy();
    this.gsBody = undefined;
    this.gsPending.length = 0;
  }

  private async shutdown(): Promise<void> {
    // After the GET stream was given up the upstream may still hold the session: DELETE it anyway.
    const hadSession = this.sessionId !== undefined && !this.upstreamForgot;
    if (this.state === 'open' || this.state === 'gone') this.state = 'closing';
    this.stopServerStream();
    const err = new ProxyError(ErrorCode.UpstreamClosed, 'upstream session closed');
    for (const ex of [...this.exchanges]) ex.cancel(err);
    for (const ac of this.posts) ac.abort();
    if (hadSession) await this.deleteSession();
    this.state = 'closed';
    this.notifyClosed(null);
  }

  private async deleteSession(): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), DELETE_TIMEOUT_MS);
    const headers: Record<string, string> = { ...this.getHeaders };
    delete headers.accept;
    try {
      const res = await request(this.pool, {
        path: this.path,
        method: 'DELETE',
        headers,
        signal: ac.signal,
        headersTimeout: DELETE_TIMEOUT_MS,
        bodyTimeout: DELETE_TIMEOUT_MS,
      });
      discard(res.body);
      // 405: the server does not let clients end sessions; it will expire it on its own.
      if (res.statusCode >= 300 && res.statusCode !== 405) {
        this.log.debug({ status: res.statusCode }, 'upstream DELETE of the session was refused');
      }
    } catch (err) {
      this.log.debug({ err: ac.signal.aborted ? 'timed out' : (err as Error).message }, 'upstream DELETE of the session failed');
    } finally {
      clearTimeout(timer);
    }
  }
}
