/**
 * B1 bridge: `subscriptions/listen` (basic/patterns/subscriptions.mdx) for a session-era upstream,
 * which has no such method. One Listeners per bridged session (one principal × destination):
 *  - a listen is answered on the client's POST as an SSE stream: first
 *    `notifications/subscriptions/acknowledged` with the subset the upstream can honour (its
 *    initialize capabilities: tools/prompts/resources listChanged, resources.subscribe), then each
 *    matching upstream notification, every message stamped with
 *    `_meta["io.modelcontextprotocol/subscriptionId"]` = the listen request's id (withMeta);
 *  - the first listener opens the session's server stream (HTTP GET; stdio pushes anyway), a URI is
 *    `resources/subscribe`d upstream by its first listener and `resources/unsubscribe`d when its
 *    last listener goes; several listens of the principal share the session and are fanned out to;
 *  - a listener over its credit window (ReplySink.event false) gets a bounded queue; past the bound
 *    it is ended with E_SLOW_CONSUMER, so a stalled client never grows the worker's memory;
 *  - the client closing its stream (sink closed / onClose) ends the listener; the proxy ending the
 *    session (idle sweep skips sessions with listeners, reload, shutdown) sends the graceful
 *    listen result; the upstream dying fails the listeners (no result: the client may re-listen).
 */
import type { Logger } from 'pino';
import { ErrorCode, ProxyError } from '../errors.js';
import { withMeta } from '../era/meta-splice.js';
import { MsgKind, memberSpans, parseEnvelope } from './jsonrpc-envelope.js';
import type { ReplySink } from './types.js';

/** Most URIs one listen may subscribe to (more: -32602). */
export const MAX_LISTEN_URIS = 64;
/** Most concurrent listens on one bridged session (more: E_OVERLOADED). */
export const MAX_LISTENERS = 64;
/**
 * A listener past its credit window (threads/flow.ts, 1 MiB in flight to the acceptor) queues at
 * most this many messages / characters, then ends. The bridged session is credited at once instead
 * of waiting for its slowest listener: over stdio the same channel carries the principal's call
 * replies, which one stalled listen stream must not hold up.
 */
export const MAX_QUEUED = 8192;
export const MAX_QUEUED_CHARS = 1 << 20;
/** A URI longer than this is refused (it is kept per session and sent upstream). */
const MAX_URI_CHARS = 4096;

const SUB_ID = '"io.modelcontextprotocol/subscriptionId"';

/** What Listeners needs of the bridged session (an UpstreamSession; a VirtualSession later). */
export interface ListenUpstream {
  /** `trace`: W3C trace context for HTTP upstreams (UpstreamSession.request); others ignore it. */
  request(frame: string, init: boolean, sink: ReplySink, trace?: string): void;
  openServerStream(): void;
}

interface Filter {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  /** undefined = not asked for; else the URIs. */
  resourceSubscriptions: string[] | undefined;
}

/** What the upstream's initialize capabilities let the bridge honour. */
interface Supported {
  tools: boolean;
  prompts: boolean;
  resources: boolean;
  subscribe: boolean;
}

type Caps = Record<string, { listChanged?: unknown; subscribe?: unknown } | undefined>;

function supportedFrom(init: unknown): Supported {
  const caps = ((init as { capabilities?: unknown } | null)?.capabilities ?? {}) as Caps;
  return {
    tools: caps.tools?.listChanged === true,
    prompts: caps.prompts?.listChanged === true,
    resources: caps.resources?.listChanged === true,
    subscribe: caps.resources?.subscribe === true,
  };
}

/**
 * The listen filter from the request body, or the problem (-32602). The body was depth-checked by
 * the acceptor (MAX_DEPTH) and a listen is one request per stream, not the hot path: JSON.parse.
 */
export function parseFilter(body: string): Filter | string {
  let params: unknown;
  try {
    params = (JSON.parse(body) as { params?: unknown }).params;
  } catch {
    return 'the listen request is not JSON';
  }
  const n = (params as { notifications?: unknown } | undefined)?.notifications;
  if (typeof n !== 'object' || n === null || Array.isArray(n)) return 'params.notifications must be an object';
  const o = n as Record<string, unknown>;
  const flag = (k: string): boolean | string => {
    const v = o[k];
    if (v === undefined) return false;
    return typeof v === 'boolean' ? v : `params.notifications.${k} must be a boolean`;
  };
  const tools = flag('toolsListChanged');
  const prompts = flag('promptsListChanged');
  const resources = flag('resourcesListChanged');
  for (const f of [tools, prompts, resources]) if (typeof f === 'string') return f;
  const subs = o.resourceSubscriptions;
  let uris: string[] | undefined;
  if (subs !== undefined) {
    if (!Array.isArray(subs)) return 'params.notifications.resourceSubscriptions must be an array of strings';
    if (subs.length > MAX_LISTEN_URIS) return `params.notifications.resourceSubscriptions: at most ${MAX_LISTEN_URIS} URIs per listen`;
    for (const u of subs) {
      if (typeof u !== 'string' || u.length === 0 || u.length > MAX_URI_CHARS) return `params.notifications.resourceSubscriptions must hold non-empty strings of at most ${MAX_URI_CHARS} characters`;
    }
    uris = [...new Set(subs as string[])];
  }
  return { toolsListChanged: tools as boolean, promptsListChanged: prompts as boolean, resourcesListChanged: resources as boolean, resourceSubscriptions: uris };
}

/** A one-reply sink for the bridge's own resources/(un)subscribe: ok = a result came back. */
function resultSink(done: (ok: boolean) => void): ReplySink {
  let fired = false;
  const fire = (ok: boolean): void => {
    if (!fired) {
      fired = true;
      done(ok);
    }
  };
  const verdict = (frame: string): void => {
    if (parseEnvelope(frame, false).kind === MsgKind.Response) fire((memberSpans(frame, 'result')?.length ?? 0) > 0);
  };
  return {
    get closed() {
      return fired;
    },
    json: verdict,
    startStream: () => {},
    event: (j) => {
      verdict(j);
      return true;
    },
    onResume: () => {},
    end: () => fire(false),
    accepted: () => fire(false),
    fail: () => fire(false),
  };
}

class Listener {
  private readonly queue: string[] = [];
  private queuedChars = 0;
  /** Nothing is sent before the acknowledgement; until then (and while over credit) messages queue. */
  private held = true;
  done = false;

  constructor(
    readonly id: string,
    readonly filter: Filter,
    /** The URIs this listener holds a reference on (accepted ones only). */
    public uris: string[],
    private readonly sink: ReplySink,
    private readonly ended: (l: Listener) => void,
  ) {
    sink.onResume(() => this.flush());
    sink.onClose?.(() => this.finish());
  }

  get closed(): boolean {
    return this.done || this.sink.closed;
  }

  /** The listen's stream opens with the acknowledgement; what queued meanwhile follows it. */
  acknowledge(accepted: Record<string, unknown>): void {
    if (this.closed) return this.finish();
    this.sink.startStream();
    const ack = `{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{${SUB_ID}:${this.id}},"notifications":${JSON.stringify(accepted)}}}`;
    this.held = !this.sink.event(ack);
    if (!this.held) this.flush();
  }

  /** One notification (already stamped) for this listener. */
  deliver(frame: string): void {
    if (this.closed) return this.finish();
    if (!this.held && this.queue.length === 0) {
      this.held = !this.sink.event(frame);
      return;
    }
    if (this.queue.length >= MAX_QUEUED || this.queuedChars + frame.length > MAX_QUEUED_CHARS) {
      return this.fail(new ProxyError(ErrorCode.SlowConsumer,
        `the listen stream fell more than ${MAX_QUEUED} notifications or ${MAX_QUEUED_CHARS} characters behind; listen again`));
    }
    this.queue.push(frame);
    this.queuedChars += frame.length;
  }

  private flush(): void {
    if (this.closed) return this.finish();
    this.held = false;
    while (this.queue.length > 0 && !this.held) {
      const f = this.queue.shift() as string;
      this.queuedChars -= f.length;
      this.held = !this.sink.event(f);
    }
  }

  /** The proxy ends the subscription: the graceful listen result (subscriptions.mdx "Graceful Closure"). */
  close(): void {
    if (this.closed) return this.finish();
    this.sink.json(`{"jsonrpc":"2.0","id":${this.id},"result":{"resultType":"complete","_meta":{${SUB_ID}:${this.id}}}}`);
    this.finish();
  }

  fail(err: ProxyError): void {
    if (!this.closed) this.sink.fail(err);
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.queuedChars = 0;
    this.ended(this);
  }
}

export class Listeners {
  private readonly live = new Set<Listener>();
  /** URI -> how many live listeners hold it (the upstream is subscribed while > 0). */
  private readonly refs = new Map<string, number>();
  /** URIs subscribed upstream (or being subscribed): the promise says whether the upstream agreed. */
  private readonly upstream = new Map<string, Promise<boolean>>();
  private seq = 0;

  constructor(private readonly session: ListenUpstream, private readonly log: Logger) {}

  /** True while a listener is live: the idle sweep keeps the session. */
  get active(): boolean {
    return this.live.size > 0;
  }

  get size(): number {
    return this.live.size;
  }

  /** Serve a `subscriptions/listen` request (`clientId` = its id as JSON text). */
  listen(init: unknown, clientId: string, body: string, sink: ReplySink): void {
    const f = parseFilter(body);
    if (typeof f === 'string') return sink.fail(new ProxyError(ErrorCode.InvalidParams, f));
    if (this.live.size >= MAX_LISTENERS) {
      return sink.fail(new ProxyError(ErrorCode.Overloaded, `at most ${MAX_LISTENERS} subscriptions/listen streams per client and destination`));
    }
    const sup = supportedFrom(init);
    const wanted = sup.subscribe ? (f.resourceSubscriptions ?? []) : [];
    // What is delivered is what is acknowledged: a type the upstream did not advertise stays
    // filtered out even if the upstream sends it anyway.
    const granted: Filter = {
      toolsListChanged: f.toolsListChanged && sup.tools,
      promptsListChanged: f.promptsListChanged && sup.prompts,
      resourcesListChanged: f.resourcesListChanged && sup.resources,
      resourceSubscriptions: sup.subscribe ? f.resourceSubscriptions : undefined,
    };
    const l = new Listener(clientId, granted, [], sink, (x) => this.ended(x));
    this.live.add(l);
    if (this.live.size === 1) this.session.openServerStream();
    // References are taken now, so a concurrent listen of the same URI shares the subscribe.
    for (const uri of wanted) this.ref(uri);
    l.uris = wanted;
    const seq = ++this.seq;
    void Promise.all(wanted.map((uri) => this.upstream.get(uri) ?? Promise.resolve(false))).then((oks) => {
      // Gone before the upstream answered: finishing releases its references.
      if (l.closed) return l.fail(new ProxyError(ErrorCode.UpstreamClosed, 'listen ended'));
      const accepted: Record<string, unknown> = {};
      if (granted.toolsListChanged) accepted.toolsListChanged = true;
      if (granted.promptsListChanged) accepted.promptsListChanged = true;
      if (granted.resourcesListChanged) accepted.resourcesListChanged = true;
      if (granted.resourceSubscriptions !== undefined) {
        const ok = wanted.filter((_, i) => oks[i]);
        for (const uri of wanted.filter((_, i) => !oks[i])) this.unref(uri);
        l.uris = ok;
        accepted.resourceSubscriptions = ok;
      }
      this.log.debug({ listen: seq, accepted }, 'bridged subscriptions/listen acknowledged');
      l.acknowledge(accepted);
    });
  }

  /**
   * A server notification of the bridged session: stamped and fanned out to the listeners whose
   * filter asks for it. Others (log messages, progress outside a call) have no 2026 stream: dropped.
   */
  notify(json: string, method: string): void {
    if (this.live.size === 0) return;
    let match: (f: Filter, l: Listener) => boolean;
    switch (method) {
      case 'notifications/tools/list_changed':
        match = (f) => f.toolsListChanged;
        break;
      case 'notifications/prompts/list_changed':
        match = (f) => f.promptsListChanged;
        break;
      case 'notifications/resources/list_changed':
        match = (f) => f.resourcesListChanged;
        break;
      case 'notifications/resources/updated': {
        const uri = updatedUri(json);
        if (uri === undefined || !this.refs.has(uri)) return;
        match = (_f, l) => l.uris.includes(uri);
        break;
      }
      default:
        return;
    }
    for (const l of [...this.live]) {
      if (!match(l.filter, l)) continue;
      const stamped = withMeta(json, `${SUB_ID}:${l.id}`);
      if (stamped !== undefined) l.deliver(stamped);
    }
  }

  /** The proxy ends the session (idle, reload, shutdown, LRU): each listen gets its graceful result. */
  closeAll(): void {
    for (const l of [...this.live]) l.close();
  }

  /** The upstream session died: the listens fail (no result, so clients know to listen again). */
  failAll(err: ProxyError): void {
    for (const l of [...this.live]) l.fail(err);
  }

  private ref(uri: string): void {
    const n = this.refs.get(uri) ?? 0;
    this.refs.set(uri, n + 1);
    if (n > 0 && this.upstream.has(uri)) return;
    this.upstream.set(uri, new Promise<boolean>((resolve) => {
      this.session.request(rpc('resources/subscribe', uri), false, resultSink(resolve));
    }));
  }

  private unref(uri: string): void {
    const n = (this.refs.get(uri) ?? 0) - 1;
    if (n > 0) return void this.refs.set(uri, n);
    this.refs.delete(uri);
    const sub = this.upstream.get(uri);
    this.upstream.delete(uri);
    // Only a subscription the upstream took is undone; the answer is not waited for.
    void sub?.then((ok) => {
      if (ok && !this.refs.has(uri)) this.session.request(rpc('resources/unsubscribe', uri), false, resultSink(() => {}));
    });
  }

  private ended(l: Listener): void {
    if (!this.live.delete(l)) return;
    for (const uri of l.uris) this.unref(uri);
    l.uris = [];
  }
}

let rpcSeq = 0;
function rpc(method: string, uri: string): string {
  return `{"jsonrpc":"2.0","id":"mpl-${(++rpcSeq).toString(36)}","method":"${method}","params":{"uri":${JSON.stringify(uri)}}}`;
}

/** `params.uri` of a resources/updated notification (a small upstream frame, parsed only here). */
function updatedUri(json: string): string | undefined {
  try {
    const uri = (JSON.parse(json) as { params?: { uri?: unknown } }).params?.uri;
    return typeof uri === 'string' ? uri : undefined;
  } catch {
    return undefined;
  }
}
