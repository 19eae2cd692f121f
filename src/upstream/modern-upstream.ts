/**
 * B2 (docs/mcp-2026-07-28.md, the B2 column): a session-era client (2024-11-05..2025-11-25) on a
 * `protocol: 2026` destination. To UpstreamSession this is an ordinary ExchangeClient, so the
 * acceptor's sessions, the worker pinning and the deadlines stay as they are; upstream it speaks
 * 2026-07-28, session-less, one POST per request through SessionlessHttp (the same Exchange as
 * every HTTP upstream: credit, size bounds, error-body relay, abort on close).
 *
 *  - `initialize` is answered by the proxy from one upstream `server/discover`
 *    (initializeFromDiscover, in the client's revision); the client's capabilities and clientInfo
 *    are kept and stamped into every later request's `_meta`, on the bytes (withMeta);
 *  - `notifications/initialized` is swallowed, `ping` answered here, `logging/setLevel` stored
 *    (sent as `_meta` logLevel) and answered `{}`;
 *  - every other request goes up with MCP-Protocol-Version, Mcp-Method, Mcp-Name and the
 *    Mcp-Param-* headers of the tool's x-mcp-header specs, learned from this session's tools/list
 *    results (headersFromBody2026); MRTR rounds are modern-call.ts;
 *  - `notifications/cancelled` aborts the request's upstream exchange (closing is cancelling in 2026);
 *  - the GET stream and resources/subscribe come from one subscriptions/listen (modern-listen.ts).
 */
import { ErrorCode, ProxyError } from '../errors.js';
import type { HttpDestination } from '../config/types.js';
import { MODERN_VERSIONS } from '../era/detect.js';
import { initializeFromDiscover } from '../era/discover-bridge.js';
import { META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, scanRequest2026 } from '../era/envelope2026.js';
import { type ParamHeaderSpec, headersFromBody2026 } from '../era/headers2026.js';
import { withMeta } from '../era/meta-splice.js';
import { MRTR_METHODS } from '../era/detect.js';
import { paramHeadersOf } from '../era/tool-headers.js';
import type { Logger } from '../observability/log.js';
import { withTrace } from '../observability/trace.js';
import { CollectSink } from '../virtual/sinks.js';
import { MsgKind, idKey, memberSpans, parseEnvelope, replaceId } from './jsonrpc-envelope.js';
import { Call, type CallHost } from './modern-call.js';
import { Listen, type ListenHost } from './modern-listen.js';
import { SessionlessHttp } from './sessionless-http.js';
import type { ExchangeClient, ExchangeHandlers, ReplySink } from './types.js';

const V2026 = MODERN_VERSIONS[0] as string;
const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);
/** Tools whose x-mcp-header specs one session remembers (oldest forgotten first). */
export const MAX_TOOL_SPECS = 1024;
/** Server requests of MRTR rounds waiting for this session's client. */
export const MAX_AWAITED_INPUT = 256;
/** Requests in flight per session (the acceptor's own limits are lower; this is the backstop). */
const MAX_CALLS = 4096;

/** Pages of the proxy's own tools/list before a first tools/call (see prefetchTools). */
const MAX_TOOL_PAGES = 8;

let sessionSeq = 0;

function nextCursorOf(body: string): string | undefined {
  try {
    const c = (JSON.parse(body) as { result?: { nextCursor?: unknown } }).result?.nextCursor;
    return typeof c === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `params` of a small proxy-handled message (initialize, setLevel, subscribe, cancelled). */
function smallParams(json: string): Record<string, unknown> {
  try {
    const p = (JSON.parse(json) as { params?: unknown }).params;
    return isObject(p) ? p : {};
  } catch {
    return {};
  }
}

type State = 'open' | 'closed';

export class ModernUpstream implements ExchangeClient, CallHost, ListenHost {
  private readonly http = new SessionlessHttp();
  private state: State = 'open';
  private readonly prefix = `mithril-b2-${++sessionSeq}-`;
  private seq = 0;
  private meta = `"${META_PROTOCOL_VERSION}":"${V2026}","${META_CLIENT_CAPABILITIES}":{}`;
  private capsJson = '{}';
  private infoJson: string | undefined;
  private logLevel: string | undefined;
  private readonly toolSpecs = new Map<string, ParamHeaderSpec[]>();
  private readonly calls = new Map<string, Call>();
  private readonly awaiting = new Map<string, Call>();
  private readonly listen: Listen;
  /** A tools/list result went by on this session (the client's or the proxy's own). */
  private toolsSeen = false;
  private toolsLearned: Promise<void> | undefined;

  constructor(
    readonly dest: HttpDestination,
    private readonly handlers: ExchangeHandlers,
    private readonly log: Logger,
  ) {
    this.listen = new Listen(this, log);
  }

  request(json: string, sink: ReplySink, trace = ''): void {
    if (this.state !== 'open') return sink.fail(new ProxyError(ErrorCode.UpstreamClosed, 'upstream session closed'));
    const env = parseEnvelope(json);
    const span = memberSpans(json, 'id')?.[0];
    if (env.kind !== MsgKind.Request || span === undefined || env.method === undefined) {
      return sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'not a JSON-RPC request'));
    }
    const idJson = json.slice(span[0], span[1]);
    switch (env.method) {
      case 'initialize':
        return this.initialize(json, idJson, sink, trace);
      case 'ping':
        return sink.json(`{"jsonrpc":"2.0","id":${idJson},"result":{}}`);
      case 'logging/setLevel': {
        const level = smallParams(json).level;
        if (typeof level !== 'string' || !LOG_LEVELS.has(level)) {
          return sink.fail(new ProxyError(ErrorCode.InvalidParams, 'logging/setLevel needs a valid level'));
        }
        this.logLevel = level;
        this.buildMeta();
        return sink.json(`{"jsonrpc":"2.0","id":${idJson},"result":{}}`);
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = smallParams(json).uri;
        if (typeof uri !== 'string') return sink.fail(new ProxyError(ErrorCode.InvalidParams, `${env.method} needs params.uri`));
        if (env.method === 'resources/unsubscribe') this.listen.unsubscribe(uri);
        else if (!this.listen.subscribe(uri)) return sink.fail(new ProxyError(ErrorCode.Overloaded, 'too many resource subscriptions in this session'));
        return sink.json(`{"jsonrpc":"2.0","id":${idJson},"result":{}}`);
      }
      default:
        return this.forward(json, env.method, idKey(env.id), idJson, sink, trace);
    }
  }

  async post(json: string): Promise<void> {
    if (this.state !== 'open') throw new ProxyError(ErrorCode.UpstreamClosed, 'upstream session closed');
    const env = parseEnvelope(json);
    if (env.kind === MsgKind.Response) {
      const k = idKey(env.id);
      const call = this.awaiting.get(k);
      // Taken out at once: a second response to the same request must not count twice.
      this.awaiting.delete(k);
      if (call) call.onClientResponse(json);
      return;
    }
    if (env.kind === MsgKind.Notification && env.method === 'notifications/cancelled') {
      const id = smallParams(json).requestId;
      if (typeof id === 'string' || typeof id === 'number') this.calls.get(idKey(id))?.cancel();
    }
    // Everything else has no 2026 counterpart (initialized, roots/list_changed, progress): dropped.
  }

  openServerStream(): Promise<void> {
    if (this.state === 'open') this.listen.open();
    return Promise.resolve();
  }

  pauseServerStream(): void {
    this.listen.pause();
  }

  resumeServerStream(): void {
    this.listen.resume();
  }

  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'closed';
    const err = new ProxyError(ErrorCode.UpstreamClosed, 'upstream session closed');
    for (const c of [...this.calls.values()]) c.abort(err);
    this.calls.clear();
    this.awaiting.clear();
    this.listen.close();
    this.http.closeAll();
    this.handlers.onClosed(null);
    return Promise.resolve();
  }

  // ---- CallHost / ListenHost ----

  /**
   * A client request's round: no timer of SessionlessHttp's own, UpstreamSession's deadline
   * (request_ms, extended by activity up to max_request_ms) ends it through the sink's close hook.
   */
  send(body: string, headers: readonly [string, string][], sink: ReplySink): void {
    this.http.request(this.dest, body, headers, true, sink);
  }

  /** The proxy's own requests (discover, tools/list), which no client deadline covers: request_ms. */
  private sendOwn(body: string, headers: readonly [string, string][], sink: ReplySink): void {
    this.http.request(this.dest, body, headers, false, sink);
  }

  sendLong(body: string, sink: ReplySink): void {
    this.http.request(this.dest, body, [['mcp-protocol-version', V2026], ['mcp-method', 'subscriptions/listen']], true, sink);
  }

  mintId(): string {
    return JSON.stringify(this.prefix + String(++this.seq));
  }

  metaMembers(): string {
    return this.meta;
  }

  deliver(json: string): void {
    if (this.state === 'open') this.handlers.onServerMessage(json);
  }

  awaitResponse(key: string, call: Call): boolean {
    if (this.awaiting.size >= MAX_AWAITED_INPUT) return false;
    this.awaiting.set(key, call);
    return true;
  }

  forget(key: string): void {
    this.awaiting.delete(key);
  }

  activity(json: string): void {
    this.handlers.onActivity?.(json);
  }

  answered(method: string, body: string): string {
    return method === 'tools/list' ? this.learnTools(body) : body;
  }

  finished(call: Call): void {
    if (this.calls.get(call.key) === call) this.calls.delete(call.key);
  }

  // ---- internals ----

  private buildMeta(): void {
    let m = `"${META_PROTOCOL_VERSION}":"${V2026}","${META_CLIENT_CAPABILITIES}":${this.capsJson}`;
    if (this.infoJson !== undefined) m += `,"${META_CLIENT_INFO}":${this.infoJson}`;
    if (this.logLevel !== undefined) m += `,"${META_LOG_LEVEL}":"${this.logLevel}"`;
    this.meta = m;
  }

  private headers(method: string, extra: readonly [string, string][], trace: string): [string, string][] {
    const h: [string, string][] = [['mcp-protocol-version', V2026]];
    for (const [k, v] of extra) h.push([k.toLowerCase(), v]);
    if (trace.length > 0) for (const [k, v] of Object.entries(withTrace({}, trace))) h.push([k, v]);
    if (extra.length === 0) h.push(['mcp-method', method]);
    return h;
  }

  /** The proxy's handshake: one upstream server/discover, translated for the client's revision. */
  private initialize(json: string, idJson: string, sink: ReplySink, trace: string): void {
    const p = smallParams(json);
    const requested = typeof p.protocolVersion === 'string' ? p.protocolVersion : '';
    // Re-serialised once per session: the initialize passed the acceptor's depth limit.
    this.capsJson = isObject(p.capabilities) ? JSON.stringify(p.capabilities) : '{}';
    this.infoJson = isObject(p.clientInfo) ? JSON.stringify(p.clientInfo) : undefined;
    this.buildMeta();
    const body = `{"jsonrpc":"2.0","id":${this.mintId()},"method":"server/discover","params":{"_meta":{${this.meta}}}}`;
    const collect = new CollectSink(() => undefined);
    this.sendOwn(body, this.headers('server/discover', [], trace), collect);
    void collect.done.then((r) => {
      if (!r.ok) return sink.fail(r.err);
      let msg: { result?: unknown; error?: unknown };
      try {
        msg = JSON.parse(r.body) as { result?: unknown; error?: unknown };
      } catch (err) {
        return sink.fail(new ProxyError(ErrorCode.UpstreamProtocol, 'server/discover answer is not JSON', { cause: err }));
      }
      if (msg.error !== undefined) return sink.json(replaceId(r.body, idJson) ?? r.body);
      const t = initializeFromDiscover(msg.result, requested);
      if (!t.ok) return sink.fail(new ProxyError(ErrorCode.UpstreamProtocol, t.problem));
      sink.json(`{"jsonrpc":"2.0","id":${idJson},"result":${JSON.stringify(t.result)}}`);
    });
  }

  private forward(json: string, method: string, key: string, idJson: string, sink: ReplySink, trace: string): void {
    if (method === 'tools/call' && !this.toolsSeen) {
      // Mcp-Param-* are a MUST for the client, and this client may call a tool it knows from an
      // earlier session without listing tools first: learn the specs once, then send the call.
      this.toolsLearned ??= this.prefetchTools(trace);
      void this.toolsLearned.then(() => {
        if (sink.closed) return;
        if (this.state !== 'open') return sink.fail(new ProxyError(ErrorCode.UpstreamClosed, 'upstream session closed'));
        this.send2026(json, method, key, idJson, sink, trace);
      });
      return;
    }
    this.send2026(json, method, key, idJson, sink, trace);
  }

  private send2026(json: string, method: string, key: string, idJson: string, sink: ReplySink, trace: string): void {
    let scan = scanRequest2026(json);
    if (!scan.ok) return sink.fail(new ProxyError(ErrorCode.InvalidRequest, scan.problem));
    let specs: ParamHeaderSpec[] = [];
    if (method === 'tools/call' && scan.name !== undefined) {
      specs = this.toolSpecs.get(scan.name) ?? [];
      if (specs.length > 0) {
        scan = scanRequest2026(json, specs.map((s) => s.path));
        if (!scan.ok) return sink.fail(new ProxyError(ErrorCode.InvalidRequest, scan.problem));
      }
    }
    const base = withMeta(json, this.meta);
    if (base === undefined) return sink.fail(new ProxyError(ErrorCode.InvalidParams, 'params must be an object'));
    if (this.calls.size >= MAX_CALLS) return sink.fail(new ProxyError(ErrorCode.Overloaded, 'too many requests in flight in this session'));
    const headers = this.headers(method, headersFromBody2026(method, scan, specs), trace);
    const call = new Call(this, key, sink, idJson, method, base, headers, MRTR_METHODS.has(method));
    this.calls.set(key, call);
    call.start();
  }

  /**
   * The proxy's own tools/list (all pages, bounded) before a first tools/call on a session that
   * listed no tools. Never rejects: without specs the call still goes, and the upstream judges it.
   */
  private async prefetchTools(trace: string): Promise<void> {
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES && this.state === 'open'; page++) {
      const params = cursor === undefined ? '' : `"cursor":${JSON.stringify(cursor)},`;
      const body = `{"jsonrpc":"2.0","id":${this.mintId()},"method":"tools/list","params":{${params}"_meta":{${this.meta}}}}`;
      const collect = new CollectSink(() => undefined);
      this.sendOwn(body, this.headers('tools/list', [], trace), collect);
      const r = await collect.done;
      if (!r.ok) break;
      this.learnTools(r.body);
      cursor = r.body.includes('"nextCursor"') ? nextCursorOf(r.body) : undefined;
      if (cursor === undefined) break;
    }
    this.toolsSeen = true;
  }

  /**
   * x-mcp-header specs from a tools/list result seen on this session; the result to pass down.
   * A tool with invalid annotations is dropped from it (server/tools "x-mcp-header": clients MUST
   * drop such tools, and the session-era client cannot know the rule), which is the one case where
   * a result is re-serialised; every other tools/list passes as its bytes.
   */
  private learnTools(body: string): string {
    this.toolsSeen = true;
    // Most tool lists mirror nothing: the whole result is parsed only when some tool does.
    if (!body.includes('x-mcp-header')) return body;
    let msg: { result?: { tools?: unknown } };
    try {
      msg = JSON.parse(body) as { result?: { tools?: unknown } };
    } catch {
      return body;
    }
    const tools = msg.result?.tools;
    if (!Array.isArray(tools)) return body;
    const invalid = new Set<unknown>();
    for (const t of tools) {
      if (!isObject(t) || typeof t.name !== 'string') continue;
      const h = paramHeadersOf(t.inputSchema);
      this.toolSpecs.delete(t.name);
      if (!h.ok) {
        this.log.debug({ tool: t.name, reason: h.reason }, 'upstream tool has invalid x-mcp-header annotations: not listed');
        invalid.add(t);
        continue;
      }
      if (h.params.length === 0) continue;
      if (this.toolSpecs.size >= MAX_TOOL_SPECS) {
        const oldest = this.toolSpecs.keys().next().value;
        if (oldest !== undefined) this.toolSpecs.delete(oldest);
      }
      this.toolSpecs.set(t.name, h.params);
    }
    if (invalid.size === 0 || !msg.result) return body;
    msg.result.tools = tools.filter((t) => !invalid.has(t));
    try {
      return JSON.stringify(msg);
    } catch {
      // A result too deep to serialise again: passed as it came rather than lost.
      return body;
    }
  }
}
