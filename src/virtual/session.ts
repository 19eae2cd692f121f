/**
 * One downstream session of a virtual server: one UpstreamSession per member, kept in the
 * worker's registry under (sid, member) like any other, so the registry's sweep (request
 * deadlines) and the worker's shutdown cover them. Nothing is shared between downstream sessions.
 *
 * Members are initialized at the client's initialize, all at once (the merged capabilities need
 * every answer). A member that fails then, or is lost later (upstream gone, failed probe), is left
 * out and re-initialized with the client's saved initialize on its next use, at most once per
 * RETRY_MS; the downstream session itself never ends because one member did.
 *
 * Ids: a client request keeps its id on the member it is routed to (so progress tokens and
 * cancellations need no mapping); a server request from a member reaches the client as
 * `v:<member>:<n>` and the client's answer goes back with the member's own id.
 */
import type { Logger } from 'pino';
import type { ProxyConfig, VirtualServer } from '../config/types.js';
import { ErrorCode, ProxyError, asProxyError } from '../errors.js';
import { type JsonRpcId, MsgKind, idKey, parseEnvelope } from '../upstream/jsonrpc-envelope.js';
import type { FixedHistogram } from '../observability/histogram.js';
import type { Registry } from '../upstream/registry.js';
import type { ReplySink } from '../upstream/types.js';
import type { SessionOutput, UpstreamSession } from '../upstream/upstream-session.js';
import { toolFilter } from './glob.js';
import { type Json, type MemberInit, type ListMethod, LISTS, asObject, isListMethod, mergeInitialize, renameContents, renameItems } from './merge.js';
import { type Continuation, MAX_TOOL_NAME, decodeCursor, encodeCursor, memberUri, splitName, virtualUri } from './names.js';
import { CollectSink, RelaySink } from './sinks.js';

/** A member that could not be reached is not tried again sooner than this. */
const RETRY_MS = 2_000;
/** Server requests awaiting the client's answer, and client requests in flight (for cancellation). */
const MAX_SERVER_REQUESTS = 256;
const MAX_INFLIGHT = 1024;

export interface VirtualHost {
  registry: Registry;
  config(): ProxyConfig;
  out: SessionOutput;
  log: Logger;
}

interface Member {
  name: string;
  session: UpstreamSession | undefined;
  opening: Promise<UpstreamSession | undefined> | undefined;
  downUntil: number;
  initResult: Json | undefined;
  /** Server-stream bytes pushed for this member and not yet credited: as pushed / as the member sent them. */
  owedSent: number;
  owedOrig: number;
}

/** The worker's sink can time a request routed to one member (upstream latency, per member). */
export type TimedSink = ReplySink & { timed?(h: FixedHistogram): void };

type Msg = Json & { id?: unknown; method?: unknown; params?: unknown };

function rpcId(v: unknown): JsonRpcId {
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}

function errorBody(id: unknown, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id: rpcId(id), error: { code, message } });
}

/** Result of a member's response text, or an error to log. */
function resultOf(body: string): { result: Json } | { error: string } {
  try {
    const msg = asObject(JSON.parse(body));
    const result = asObject(msg?.result);
    if (result) return { result };
    const e = asObject(msg?.error);
    return { error: typeof e?.message === 'string' ? e.message : 'response without a result' };
  } catch {
    return { error: 'response is not JSON' };
  }
}

export class VirtualSession {
  readonly sid: string;
  readonly vs: VirtualServer;
  private readonly host: VirtualHost;
  private readonly log: Logger;
  private readonly members: Member[];
  private readonly byName = new Map<string, Member>();
  private readonly allowTool: (name: string) => boolean;
  private initFrame: string | undefined;
  private initializedSent = false;
  private streamOpen = false;
  private nextVid = 0;
  private readonly serverRequests = new Map<string, { member: string; id: unknown }>();
  private readonly inflight = new Map<string, string>();
  ended = false;

  private readonly dropped: () => void;

  /** `dropped`: the session ended from here (its initialize failed); the owner forgets it. */
  constructor(sid: string, vs: VirtualServer, host: VirtualHost, dropped: () => void) {
    this.dropped = dropped;
    this.sid = sid;
    this.vs = vs;
    this.host = host;
    this.log = host.log.child({ sid, virtual: vs.name });
    this.allowTool = toolFilter(vs);
    this.members = vs.members.map((name) => ({ name, session: undefined, opening: undefined, downUntil: 0, initResult: undefined, owedSent: 0, owedOrig: 0 }));
    for (const m of this.members) this.byName.set(m.name, m);
  }

  // ---- client -> proxy ------------------------------------------------------------------------

  request(body: string, sink: TimedSink): void {
    const msg = this.parse(body, sink);
    if (!msg) return;
    const method = typeof msg.method === 'string' ? msg.method : '';
    const params = asObject(msg.params) ?? {};
    const reject = (code: number, message: string): void => sink.json(errorBody(msg.id, code, message));
    if (method === 'initialize') return this.guard(sink, this.initialize(body, msg, params, sink));
    if (method === 'ping') return sink.json(JSON.stringify({ jsonrpc: '2.0', id: rpcId(msg.id), result: {} }));
    if (isListMethod(method)) return this.guard(sink, this.list(method, msg, params, sink));
    if (method === 'tools/call' || method === 'prompts/get') {
      const n = typeof params.name === 'string' ? splitName(params.name) : undefined;
      const kind = method === 'tools/call' ? 'Tool' : 'Prompt';
      const name = String(params.name);
      const shown = name.slice(0, 100); // error text echoes at most this much of the client's name
      // A filtered (or unlistable, over-long) tool answers exactly like a missing one, in the
      // SDK's own words: the filter is not to be probed around.
      const hidden = method === 'tools/call' && (!this.allowTool(name) || name.length > MAX_TOOL_NAME);
      if (!n || !this.byName.has(n.member) || hidden) return reject(-32602, `${kind} ${shown} not found`);
      return this.guard(sink, this.route(n.member, { ...msg, params: { ...params, name: n.name } }, sink));
    }
    if (method === 'resources/read' || method === 'resources/subscribe' || method === 'resources/unsubscribe') {
      const u = typeof params.uri === 'string' ? memberUri(params.uri) : undefined;
      if (!u || !this.byName.has(u.member)) return reject(-32602, `Resource ${String(params.uri).slice(0, 200)} not found`);
      const mapResponse = method === 'resources/read' ? (json: string) => this.mapContents(u.member, json) : undefined;
      return this.guard(sink, this.route(u.member, { ...msg, params: { ...params, uri: u.uri } }, sink, mapResponse));
    }
    if (method === 'completion/complete') {
      const ref = asObject(params.ref) ?? {};
      const target = ref.type === 'ref/prompt' && typeof ref.name === 'string'
        ? mapRef(splitName(ref.name), (r) => ({ ...ref, name: r.name }))
        : ref.type === 'ref/resource' && typeof ref.uri === 'string'
          ? mapRef(memberUri(ref.uri), (r) => ({ ...ref, uri: r.uri }))
          : undefined;
      if (!target || !this.byName.has(target.member)) return reject(-32602, 'completion ref names no member of this virtual server');
      return this.guard(sink, this.route(target.member, { ...msg, params: { ...params, ref: target.ref } }, sink));
    }
    if (method === 'logging/setLevel') return this.guard(sink, this.broadcastRequest(msg, sink));
    return reject(-32601, `method ${method} is not supported by virtual servers`);
  }

  /** Notifications and answers to server requests. */
  oneWay(body: string, sink: ReplySink): void {
    const msg = this.parse(body, sink);
    if (!msg) return;
    if (msg.method === undefined) {
      // The client's answer to a server request: back to its member, with the member's id.
      const e = typeof msg.id === 'string' ? this.serverRequests.get(msg.id) : undefined;
      const s = e ? this.byName.get(e.member)?.session : undefined;
      if (!e || !s || s.closed) {
        this.log.warn({ id: String(rpcId(msg.id)).slice(0, 100) }, 'virtual server: answer to an unknown or finished server request dropped');
        return sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'no server request with this id is waiting for an answer'));
      }
      this.serverRequests.delete(msg.id as string);
      let frame: string;
      try {
        frame = JSON.stringify({ ...msg, id: e.id });
      } catch (err) {
        return sink.fail(tooDeep(err));
      }
      return s.oneWay(frame, sink);
    }
    if (msg.method === 'notifications/cancelled') {
      const requestId = rpcId(asObject(msg.params)?.requestId);
      const member = this.inflight.get(idKey(requestId));
      const s = member === undefined ? undefined : this.byName.get(member)?.session;
      // A cancellation may race the reply; nothing in flight means nothing to cancel (spec: ignore).
      if (!s || s.closed) return sink.accepted();
      return s.oneWay(body, sink);
    }
    if (msg.method === 'notifications/initialized') this.initializedSent = true;
    void this.broadcastOneWay(body).then(() => sink.accepted());
  }

  openServerStream(): void {
    this.streamOpen = true;
    for (const m of this.members) m.session?.openServerStream();
  }

  /**
   * The client took `bytes` of server messages. Each member's gate counts what it sent; the
   * credit is paid to the members that are owed, in order, in each member's own units.
   */
  serverCredit(bytes: number): void {
    let left = bytes;
    for (const m of this.members) {
      if (left <= 0) break;
      if (m.owedSent <= 0) continue;
      const pay = Math.min(left, m.owedSent);
      left -= pay;
      const orig = pay === m.owedSent ? m.owedOrig : Math.ceil((pay * m.owedOrig) / m.owedSent);
      m.owedSent -= pay;
      m.owedOrig = Math.max(0, m.owedOrig - orig);
      m.session?.serverCredit(orig);
    }
  }

  async end(): Promise<void> {
    this.ended = true;
    this.serverRequests.clear();
    this.inflight.clear();
    await Promise.all(this.members.map((m) => {
      m.session = undefined;
      return this.host.registry.evictSession(this.sid, m.name);
    }));
  }

  // ---- members --------------------------------------------------------------------------------

  private memberOut(m: Member): SessionOutput {
    return {
      push: (_sid, json) => this.fromMember(m, json),
      gone: (_sid, err) => this.memberLost(m, err),
      childUp: (pid) => this.host.out.childUp(pid),
      childDown: (pid) => this.host.out.childDown(pid),
    };
  }

  private memberLost(m: Member, err: ProxyError): void {
    this.log.warn({ member: m.name, code: err.code }, `virtual server member lost: ${err.message}`);
    if (m.session) this.host.registry.forget(this.sid, m.name, m.session);
    m.session = undefined;
    m.owedSent = 0;
    m.owedOrig = 0;
    m.downUntil = Date.now() + RETRY_MS;
  }

  /** The member's live session (probed after silence like any other), or a new one, or undefined. */
  private async ensure(m: Member): Promise<UpstreamSession | undefined> {
    const s = m.session;
    if (s && !s.closed) {
      const ok = s.healthy(Date.now(), this.host.config().healthProbeAfterMs);
      if (ok === true || (await ok)) return s;
      void s.close();
      this.memberLost(m, new ProxyError(ErrorCode.UnknownSession, 'member session lost while idle (probe failed)'));
      m.downUntil = 0; // re-initialize at once: the probe already waited
    }
    if (m.opening) return m.opening;
    if (this.ended || Date.now() < m.downUntil || this.initFrame === undefined) return undefined;
    const dest = this.host.config().destinations[m.name];
    if (!dest) return undefined;
    const initFrame = this.initFrame;
    m.opening = (async () => {
      const fresh = this.host.registry.create(this.sid, dest, this.memberOut(m));
      try {
        await fresh.open();
        const c = new CollectSink((json) => this.fromMember(m, json));
        fresh.request(initFrame, true, c);
        const got = await c.done;
        if (!got.ok) throw got.err;
        const r = resultOf(got.body);
        if ('error' in r) throw new ProxyError(ErrorCode.UpstreamProtocol, `initialize refused: ${r.error}`);
        if (this.ended) throw new ProxyError(ErrorCode.UnknownSession, 'session ended');
        m.initResult = r.result;
        m.session = fresh;
        if (this.initializedSent) fresh.oneWay('{"jsonrpc":"2.0","method":"notifications/initialized"}', new CollectSink(() => {}));
        if (this.streamOpen) fresh.openServerStream();
        return fresh;
      } catch (err) {
        this.host.registry.forget(this.sid, m.name, fresh);
        void fresh.close();
        m.downUntil = Date.now() + RETRY_MS;
        this.log.warn({ member: m.name, err: asProxyError(err).message }, 'virtual server member could not be initialized: left out');
        return undefined;
      } finally {
        m.opening = undefined;
      }
    })();
    return m.opening;
  }

  private async initialize(body: string, msg: Msg, params: Json, sink: ReplySink): Promise<void> {
    this.initFrame = body;
    await Promise.all(this.members.map((m) => this.ensure(m)));
    const inits: MemberInit[] = [];
    for (const m of this.members) if (m.session && m.initResult) inits.push({ member: m.name, result: m.initResult });
    if (inits.length === 0) {
      this.dropped();
      void this.end();
      return sink.fail(new ProxyError(ErrorCode.UpstreamConnect, `no member of virtual server ${this.vs.name} could be initialized`));
    }
    const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : '';
    sink.json(JSON.stringify({ jsonrpc: '2.0', id: rpcId(msg.id), result: mergeInitialize(inits, requested) }));
  }

  /** Ask one member, bounded by its first-byte deadline; undefined (logged) when it has no answer. */
  private async ask(m: Member, frame: string, what: string): Promise<Json | undefined> {
    const s = await this.ensure(m);
    if (!s) {
      this.log.warn({ member: m.name }, `virtual server: member unavailable, left out of ${what}`);
      return undefined;
    }
    const c = new CollectSink((json) => this.fromMember(m, json));
    const timer = setTimeout(() => c.fail(new ProxyError(ErrorCode.UpstreamTimeout, 'no answer in time')), s.dest.timeouts.firstByteMs);
    s.request(frame, false, c);
    const got = await c.done;
    clearTimeout(timer);
    const r = got.ok ? resultOf(got.body) : { error: got.err.message };
    if ('error' in r) {
      this.log.warn({ member: m.name, err: r.error }, `virtual server: member failed, left out of ${what}`);
      return undefined;
    }
    return r.result;
  }

  /**
   * A merged list page. Without a cursor every member's first page is fetched at once; the
   * cursor then holds every member that has more, and the next call continues all of them.
   */
  private async list(method: ListMethod, msg: Msg, params: Json, sink: ReplySink): Promise<void> {
    let pending: Array<[number, string | null]>;
    if (typeof params.cursor === 'string') {
      const c = decodeCursor(params.cursor, this.members.length);
      if (!c) return sink.json(errorBody(msg.id, -32602, 'invalid cursor'));
      pending = c;
    } else pending = this.members.map((_, i) => [i, null]);
    const { cursor: _drop, ...rest } = params;
    const pages = await Promise.all(pending.map(async ([i, cursor]) => {
      const m = this.members[i];
      if (!m) return undefined;
      const frame = JSON.stringify({ ...msg, params: cursor === null ? rest : { ...rest, cursor } });
      const result = await this.ask(m, frame, method);
      return result ? { i, m, result } : undefined;
    }));
    const items: Json[] = [];
    const next: Continuation = [];
    for (const p of pages) {
      if (!p) continue;
      items.push(...renameItems(method, p.m.name, p.result, this.allowTool, (name) => {
        this.log.warn({ member: p.m.name, tool: name }, 'virtual server: prefixed tool name longer than 64 characters left out');
      }));
      if (typeof p.result.nextCursor === 'string') next.push([p.i, p.result.nextCursor]);
    }
    const result: Json = { [LISTS[method].key]: items };
    if (next.length > 0) result.nextCursor = encodeCursor(next);
    sink.json(JSON.stringify({ jsonrpc: '2.0', id: rpcId(msg.id), result }));
  }

  private async route(member: string, msg: Msg, sink: TimedSink, mapResponse: (json: string) => string = (j) => j): Promise<void> {
    const m = this.byName.get(member);
    const s = m ? await this.ensure(m) : undefined;
    if (!m || !s) return sink.fail(new ProxyError(ErrorCode.UpstreamConnect, `member ${member} of virtual server ${this.vs.name} is unavailable`));
    if (sink.closed) return;
    const key = idKey(rpcId(msg.id));
    if (this.inflight.size >= MAX_INFLIGHT) this.inflight.delete(this.inflight.keys().next().value as string);
    this.inflight.set(key, member);
    sink.timed?.(s.latency);
    const relay = new RelaySink(sink, (json) => this.mapServerMessage(m.name, json), mapResponse, () => {
      if (this.inflight.get(key) === member) this.inflight.delete(key);
    });
    s.request(JSON.stringify(msg), false, relay);
  }

  private async broadcastRequest(msg: Msg, sink: ReplySink): Promise<void> {
    const frame = JSON.stringify(msg);
    const results = await Promise.all(this.members.map((m) => this.ask(m, frame, String(msg.method))));
    if (results.every((r) => r === undefined)) return sink.json(errorBody(msg.id, -32603, 'no member accepted the request'));
    sink.json(JSON.stringify({ jsonrpc: '2.0', id: rpcId(msg.id), result: {} }));
  }

  private async broadcastOneWay(body: string): Promise<void> {
    await Promise.all(this.members.map((m) => {
      const s = m.session;
      if (!s || s.closed) return undefined;
      const c = new CollectSink(() => {});
      s.oneWay(body, c);
      return c.done;
    }));
  }

  // ---- member -> client -----------------------------------------------------------------------

  private fromMember(m: Member, json: string): void {
    if (this.ended) return;
    const mapped = this.mapServerMessage(m.name, json);
    m.owedSent += mapped.length;
    m.owedOrig += json.length;
    this.host.out.push(this.sid, mapped);
  }

  /** A server message on its way to the client: requests re-identified, resource URIs renamed. */
  private mapServerMessage(member: string, json: string): string {
    try {
      return this.rewriteServerMessage(member, json);
    } catch {
      return json; // not JSON after all: the client's parser will say so, as without a virtual server
    }
  }

  private rewriteServerMessage(member: string, json: string): string {
    const env = parseEnvelope(json);
    if (env.kind === MsgKind.Request) {
      const msg = JSON.parse(json) as Msg;
      const vid = `v:${member}:${++this.nextVid}`;
      if (this.serverRequests.size >= MAX_SERVER_REQUESTS) this.serverRequests.delete(this.serverRequests.keys().next().value as string);
      this.serverRequests.set(vid, { member, id: msg.id });
      return JSON.stringify({ ...msg, id: vid });
    }
    if (env.kind !== MsgKind.Notification) return json;
    if (env.method === 'notifications/resources/updated') {
      const msg = JSON.parse(json) as Msg;
      const params = asObject(msg.params);
      if (params && typeof params.uri === 'string') return JSON.stringify({ ...msg, params: { ...params, uri: virtualUri(member, params.uri) } });
    }
    if (env.method === 'notifications/cancelled') {
      // The member gave up on one of its own requests to the client: name it by the client's id.
      const msg = JSON.parse(json) as Msg;
      const params = asObject(msg.params);
      for (const [vid, e] of this.serverRequests) {
        if (e.member === member && params && e.id === params.requestId) {
          this.serverRequests.delete(vid);
          return JSON.stringify({ ...msg, params: { ...params, requestId: vid } });
        }
      }
    }
    return json;
  }

  private mapContents(member: string, json: string): string {
    try {
      const msg = asObject(JSON.parse(json));
      const result = asObject(msg?.result);
      if (!msg || !result) return json;
      return JSON.stringify({ ...msg, result: renameContents(member, result) });
    } catch {
      return json; // a body this cannot rebuild goes as the member sent it
    }
  }

  /**
   * Client frames are re-serialised after a field is renamed; JSON.stringify recurses, so a frame
   * nested deeper than the stack (JSON.parse takes it) throws here instead of reaching a member.
   */
  private guard(sink: ReplySink, p: Promise<void>): void {
    p.catch((err: unknown) => {
      if (!sink.closed) sink.fail(tooDeep(err));
    });
  }

  private parse(body: string, sink: ReplySink): Msg | undefined {
    try {
      const msg = asObject(JSON.parse(body));
      if (msg) return msg;
    } catch {
      // falls through
    }
    sink.fail(new ProxyError(ErrorCode.InvalidRequest, 'frame is not a JSON object'));
    return undefined;
  }
}

function tooDeep(err: unknown): ProxyError {
  if (err instanceof RangeError) return new ProxyError(ErrorCode.InvalidRequest, 'request is nested too deeply to forward');
  return asProxyError(err);
}

function mapRef<T extends { member: string }>(r: T | undefined, ref: (r: T) => Json): { member: string; ref: Json } | undefined {
  return r ? { member: r.member, ref: ref(r) } : undefined;
}
