/**
 * Legacy HTTP+SSE upstream (MCP 2024-11-05) as a `MessageChannel`: one long GET stream carries
 * every server message; the first event (`endpoint`) names the URL that client messages are
 * POSTed to. The session lives exactly as long as that stream, so a drop is final: there is no
 * resumption in this protocol revision.
 */
import type { HttpDestination } from '../config/types.js';
import { ErrorCode, ProxyError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { withTrace } from '../observability/trace.js';
import { request, type ResponseBody, type ResponseData } from './h1/request.js';
import type { Dispatcher } from './h1/types.js';
import { configuredHeaders, discard, mediaType, poolFor, postFrame, streamPoolFor, upstreamError } from './http-pool.js';
import { createSseParser, type SseEvent, type SseParser } from './sse-parser.js';
import type { ChannelHandlers, MessageChannel } from './types.js';

type Body = ResponseBody;

/** One SSE event larger than this ends the channel. */
const MAX_EVENT_CHARS = 64 * 1024 * 1024;

type State = 'idle' | 'starting' | 'open' | 'closed';

export class SseClient implements MessageChannel {
  readonly pid = undefined;
  private readonly streamPool: Dispatcher;
  private readonly pool: Dispatcher;
  private readonly getHeaders: Record<string, string>;
  private readonly postHeaders: Record<string, string>;
  private readonly parser: SseParser;
  private state: State = 'idle';
  private endpoint: string | undefined;
  /** The endpoint's path and query (same origin as the stream: acceptEndpoint checks). */
  private endpointPath = '';
  private streamAc = new AbortController();
  private body: Body | undefined;
  private paused = false;
  private pending: string[] = [];
  private readonly posts = new Set<AbortController>();
  private onEndpoint: ((err: ProxyError | null) => void) | undefined;

  constructor(
    private readonly dest: HttpDestination,
    private readonly handlers: ChannelHandlers,
    private readonly log: Logger,
  ) {
    this.pool = poolFor(dest);
    this.streamPool = streamPoolFor(dest);
    const configured = configuredHeaders(dest);
    this.getHeaders = { ...configured, accept: 'text/event-stream' };
    this.postHeaders = { ...configured, 'content-type': 'application/json' };
    this.parser = createSseParser(
      { onEvent: (e) => this.onEvent(e) },
      { maxBufferChars: MAX_EVENT_CHARS, onOverflow: () => this.body?.destroy(new ProxyError(ErrorCode.UpstreamProtocol, 'upstream SSE event too large')) },
    );
  }

  /** The resolved message URL (after start). */
  get endpointUrl(): string | undefined {
    return this.endpoint;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new ProxyError(ErrorCode.Internal, 'SseClient.start called twice');
    this.state = 'starting';
    const endpointReady = new Promise<ProxyError | null>((resolve) => {
      this.onEndpoint = resolve;
    });
    const timer = setTimeout(() => {
      this.settleStart(new ProxyError(ErrorCode.UpstreamTimeout, 'no endpoint event from the upstream in time', { endpointMs: this.dest.timeouts.endpointMs }));
    }, this.dest.timeouts.endpointMs);
    void this.openStream();
    const err = await endpointReady;
    clearTimeout(timer);
    if (err !== null) {
      this.state = 'closed';
      this.streamAc.abort();
      this.body?.destroy();
      throw err;
    }
  }

  async send(json: string, trace = ''): Promise<void> {
    if (this.state !== 'open' || this.endpoint === undefined) {
      throw new ProxyError(ErrorCode.UpstreamClosed, 'legacy SSE channel is not open');
    }
    let status: number;
    try {
      status = await postFrame(this.endpointPath, this.pool, withTrace(this.postHeaders, trace), json, this.dest.timeouts, this.posts, 'POST message');
    } catch (err) {
      throw this.state === 'open' ? err : new ProxyError(ErrorCode.UpstreamClosed, 'legacy SSE channel closed');
    }
    if (status >= 200 && status < 300) return;
    throw new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`, { status });
  }

  pause(): void {
    this.paused = true;
    this.body?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const pending = this.pending;
    while (pending.length > 0 && !this.paused && this.state === 'open') {
      this.handlers.onMessage(pending.shift() as string);
    }
    if (!this.paused) this.body?.resume();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasStarting = this.state === 'starting';
    this.state = 'closed';
    this.streamAc.abort();
    this.body?.destroy();
    this.body = undefined;
    for (const ac of this.posts) ac.abort();
    this.pending.length = 0;
    if (wasStarting) this.settleStart(new ProxyError(ErrorCode.UpstreamClosed, 'closed while connecting'));
    this.handlers.onClosed(null);
  }

  private settleStart(err: ProxyError | null): void {
    const settle = this.onEndpoint;
    this.onEndpoint = undefined;
    settle?.(err);
  }

  private async openStream(): Promise<void> {
    let res: ResponseData;
    try {
      const u = new URL(this.dest.url);
      res = await request(this.streamPool, {
        path: u.pathname + u.search,
        method: 'GET',
        headers: this.getHeaders,
        signal: this.streamAc.signal,
        headersTimeout: this.dest.timeouts.firstByteMs,
        // The session dies with this stream, and silence is normal on it: no idle cut. TCP
        // keep-alive (pool) finds a dead peer.
        bodyTimeout: 0,
      });
    } catch (err) {
      if (this.state === 'starting') this.settleStart(upstreamError(err, 'head', 'SSE GET'));
      return;
    }
    if (this.state !== 'starting') {
      res.body.destroy();
      return;
    }
    const type = mediaType(res.headers['content-type']);
    if (res.statusCode !== 200 || type !== 'text/event-stream') {
      discard(res.body);
      const status = res.statusCode;
      this.settleStart(
        status === 200
          ? new ProxyError(ErrorCode.UpstreamProtocol, `SSE GET answered with content type '${type}'`)
          : new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`, { status }),
      );
      return;
    }
    const body = res.body;
    this.body = body;
    body.on('data', (chunk: Buffer) => this.parser.push(chunk));
    body.on('end', () => this.onStreamDown(null));
    body.on('error', (err) => this.onStreamDown(err));
    if (this.paused) body.pause();
  }

  private onEvent(e: SseEvent): void {
    if (this.state === 'starting') {
      if (e.event === 'endpoint') this.acceptEndpoint(e.data);
      else this.log.debug({ event: e.event }, 'legacy SSE event before endpoint ignored');
      return;
    }
    if (this.state !== 'open') return;
    // No event type means "message" (the spec's default).
    if (e.event !== undefined && e.event !== 'message') {
      this.log.debug({ event: e.event }, 'legacy SSE event of unknown type ignored');
      return;
    }
    if (e.data.length === 0) return;
    if (this.paused) this.pending.push(e.data);
    else this.handlers.onMessage(e.data);
  }

  private acceptEndpoint(data: string): void {
    let url: URL;
    try {
      url = new URL(data.trim(), this.dest.url);
    } catch {
      this.settleStart(new ProxyError(ErrorCode.UpstreamProtocol, 'endpoint event is not a URL'));
      return;
    }
    // The message URL must not take our configured credentials to another host.
    if (url.origin !== new URL(this.dest.url).origin) {
      this.settleStart(new ProxyError(ErrorCode.UpstreamProtocol, 'endpoint is on a different origin', { origin: url.origin }));
      return;
    }
    this.endpoint = url.href;
    this.endpointPath = url.pathname + url.search;
    this.state = 'open';
    this.settleStart(null);
  }

  private onStreamDown(err: Error | null): void {
    this.body = undefined;
    if (this.state === 'starting') {
      this.settleStart(err ? upstreamError(err, 'body', 'SSE GET') : new ProxyError(ErrorCode.UpstreamClosed, 'SSE stream ended before the endpoint event'));
      return;
    }
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.parser.end();
    for (const ac of this.posts) ac.abort();
    this.pending.length = 0;
    const cause = err instanceof ProxyError ? err.code : err ? upstreamError(err, 'body', 'SSE').message : 'ended';
    const perr = new ProxyError(ErrorCode.UpstreamClosed, 'legacy SSE stream dropped', { cause });
    this.log.info({ cause }, 'legacy SSE upstream stream dropped');
    this.handlers.onInterrupted(perr, false);
    this.handlers.onClosed(perr);
  }
}
