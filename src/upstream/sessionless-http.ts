/**
 * The worker's client for session-less MCP 2026-07-28 Streamable HTTP upstreams (pass-through):
 * each request is one POST with the headers the acceptor validated (MCP-Protocol-Version,
 * Mcp-Method, Mcp-Name, Mcp-Param-*, other Mcp-*), no Mcp-Session-Id, no initialize. The reply
 * (a JSON body or an SSE stream) is driven by the same Exchange as session-era requests
 * (streamable-http-exchange.ts), so backpressure (credit through the ReplySink), the size bounds,
 * the upstream error-body relay and "client left -> abort the upstream request" are shared.
 *
 * Nothing here parses a body: server/discover, `input_required` results and `requestState` are
 * bytes. The one exception is a `tools/list` reply, read after it was handed on (tool-list-tap.ts)
 * so the acceptor learns the tools' x-mcp-header specs. `subscriptions/listen` is a long reply:
 * exempt from timeouts.request_ms, still bounded by idle_ms (undici bodyTimeout) and by credit
 * like any stream.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpDestination } from '../config/types.js';
import { ErrorCode, ProxyError } from '../errors.js';
import { HeaderBlock } from './h1/headers.js';
import type { Dispatcher } from './h1/types.js';
import { configuredHeaders, poolFor, upstreamError } from './http-pool.js';
import { Exchange, type ExchangeHost } from './streamable-http-exchange.js';
import { ToolListTap, type ToolSpecs, asksLaterPage } from './tool-list-tap.js';
import type { ReplySink } from './types.js';

/** What every request to one destination shares; rebuilt when its connection settings change. */
interface Target {
  connectKey: string;
  path: string;
  pool: Dispatcher;
  configured: Record<string, string>;
}

/** One request's host: the Exchange reads its headers and tells it when it is done. */
class OneShot implements ExchangeHost {
  readonly sessionId = undefined;
  timer: NodeJS.Timeout | undefined;
  ex: Exchange | undefined;

  constructor(
    readonly dest: HttpDestination,
    private readonly target: Target,
    readonly postBlock: HeaderBlock,
    /** The request's MCP-Protocol-Version (a resume GET repeats it). */
    private readonly version: string | undefined,
    private readonly done: (h: OneShot) => void,
  ) {}

  get url(): string {
    return this.dest.url;
  }
  get path(): string {
    return this.target.path;
  }
  get pool(): Dispatcher {
    return this.target.pool;
  }
  // 2026-07-28 has no sessions and no negotiated version to learn.
  learnSession(_headers: IncomingHttpHeaders): void {}
  learnVersion(_json: string): void {}
  sessionGone(): ProxyError {
    return new ProxyError(ErrorCode.UpstreamClosed, 'upstream answered 404');
  }
  release(_ex: Exchange): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.done(this);
  }
  /**
   * 2026 removed stream resumption (no event ids, GET answers 405): an upstream that still sends
   * ids and closes early gets one GET, whose 405 fails the request cleanly.
   */
  resumeHeaders(lastEventId: string): Record<string, string> {
    const h: Record<string, string> = { ...this.target.configured, accept: 'text/event-stream', 'last-event-id': lastEventId };
    if (this.version !== undefined) h['mcp-protocol-version'] = this.version;
    return h;
  }
}

export class SessionlessHttp {
  private readonly targets = new Map<string, Target>();
  /** Requests in flight (bounded by the acceptor's per-worker in-flight limit). */
  private readonly live = new Set<OneShot>();

  /**
   * `onToolHeaders`: called with what a tools/list result declared (x-mcp-header specs), after the
   * reply was passed on; `append` when the request asked for a later page.
   */
  constructor(private readonly onToolHeaders?: (dest: HttpDestination, tools: ToolSpecs, append: boolean) => void) {}

  get inflight(): number {
    return this.live.size;
  }

  /** POST `body` to `dest` with `headers` ([lower-case name, value]); the reply goes to `sink`. */
  request(dest: HttpDestination, body: string, headers: readonly [string, string][], long: boolean, sink: ReplySink): void {
    const target = this.target(dest);
    const post: Record<string, string> = { ...target.configured, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    let method = '';
    for (const [k, v] of headers) {
      post[k] = v;
      if (k === 'mcp-method') method = v;
    }
    // Mcp-Method was checked against the body by the acceptor, so it names the request's method.
    const learn = this.onToolHeaders;
    if (method === 'tools/list' && learn !== undefined) {
      sink = new ToolListTap(sink, (tools) => learn(dest, tools, asksLaterPage(body)));
    }
    let block: HeaderBlock;
    try {
      // Per request: the Mcp-* headers are the client's (validated here, before they go upstream).
      block = HeaderBlock.from(post);
    } catch (err) {
      return sink.fail(upstreamError(err, 'head', 'POST'));
    }
    const host = new OneShot(dest, target, block, post['mcp-protocol-version'], (h) => this.live.delete(h));
    this.live.add(host);
    const ex = new Exchange(host, sink, false);
    host.ex = ex;
    if (!long) {
      const ms = dest.timeouts.requestMs;
      host.timer = setTimeout(() => {
        host.timer = undefined;
        // ThreadSink.fail also runs the Exchange's close hook: the upstream request is aborted.
        sink.fail(new ProxyError(ErrorCode.UpstreamTimeout, `no complete reply from the upstream within ${ms} ms`));
      }, ms);
      host.timer.unref();
    }
    ex.run(body);
  }

  /** Shutdown: end every request in flight (their clients get E_UPSTREAM_CLOSED). */
  closeAll(): void {
    const err = new ProxyError(ErrorCode.UpstreamClosed, 'proxy is closing its upstream connections');
    for (const h of [...this.live]) h.ex?.cancel(err);
    this.live.clear();
  }

  private target(dest: HttpDestination): Target {
    let t = this.targets.get(dest.name);
    if (t === undefined || t.connectKey !== dest.connectKey) {
      const u = new URL(dest.url);
      t = { connectKey: dest.connectKey, path: u.pathname + u.search, pool: poolFor(dest), configured: configuredHeaders(dest) };
      // One entry per configured destination name: bounded by the config.
      this.targets.set(dest.name, t);
    }
    return t;
  }
}
