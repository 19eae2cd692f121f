/**
 * B2: a session-era client's GET stream and `resources/subscribe` served from one upstream
 * `subscriptions/listen` per session (docs/mcp-2026-07-28.md 1.6). The listen is opened on the
 * first GET or subscribe; a new subscription set reopens it with the new filter (2026 has no way
 * to change a listen's filter in place). Notifications go to the session's server stream without
 * the 2026 `subscriptionId` `_meta` member; the acknowledgement is the proxy's business only.
 *
 * A listen that ends (gracefully or not) is reopened after a delay; failures in a row without an
 * acknowledgement are bounded, then the proxy stops trying (the session itself stays usable: the
 * client loses change notifications, as with an upstream that offers no GET stream).
 */
import { ErrorCode, ProxyError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { MsgKind, parseEnvelope } from './jsonrpc-envelope.js';
import type { ReplySink } from './types.js';

/** URIs one session may subscribe to (the filter is resent whole on each change). */
export const MAX_SUBSCRIPTIONS = 256;
export const LISTEN_MAX_FAILURES = 5;
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 10_000;
const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const ACK = 'notifications/subscriptions/acknowledged';

export interface ListenHost {
  /** POST a long request (no request_ms) upstream; the reply goes to `sink`. */
  sendLong(body: string, sink: ReplySink): void;
  mintId(): string;
  /** The `_meta` members every upstream request carries (version, capabilities, ...). */
  metaMembers(): string;
  /** A notification for the downstream session's server stream. */
  deliver(json: string): void;
}

/** The notification without `_meta.subscriptionId` (an empty `_meta` goes too); undefined: drop it. */
export function withoutSubscriptionId(json: string): string | undefined {
  // The depth-limited scan first: JSON.parse/stringify below must never meet a hostile nesting.
  if (parseEnvelope(json).kind !== MsgKind.Notification) return undefined;
  if (!json.includes(SUBSCRIPTION_ID)) return json;
  try {
    const msg = JSON.parse(json) as { params?: { _meta?: Record<string, unknown> } };
    const meta = msg.params?._meta;
    if (meta && typeof meta === 'object') {
      delete meta[SUBSCRIPTION_ID];
      if (Object.keys(meta).length === 0) delete msg.params?._meta;
    }
    return JSON.stringify(msg);
  } catch {
    return undefined;
  }
}

export class Listen {
  private readonly uris = new Set<string>();
  private wanted = false;
  private closed = false;
  private sink: ListenSink | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  paused = false;
  private resumeFn: (() => void) | undefined;

  constructor(private readonly host: ListenHost, private readonly log: Logger) {}

  /** The client opened its GET stream. */
  open(): void {
    if (this.wanted || this.closed) return;
    this.wanted = true;
    this.connect();
  }

  /** False when the session already has MAX_SUBSCRIPTIONS URIs. */
  subscribe(uri: string): boolean {
    if (this.uris.has(uri)) return true;
    if (this.uris.size >= MAX_SUBSCRIPTIONS) return false;
    this.uris.add(uri);
    this.wanted = true;
    this.reopen();
    return true;
  }

  unsubscribe(uri: string): void {
    if (!this.uris.delete(uri)) return;
    if (this.wanted) this.reopen();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeFn?.();
  }

  close(): void {
    this.closed = true;
    this.stopCurrent();
  }

  // ---- from the ListenSink ----

  onAck(sink: ListenSink): void {
    if (sink === this.sink) this.failures = 0;
  }

  onResumeFn(fn: () => void): void {
    this.resumeFn = fn;
  }

  /** The listen ended: reopen (a failure counts against the budget, a graceful end does not). */
  onEnd(sink: ListenSink, err: ProxyError | null): void {
    if (sink !== this.sink || this.closed) return;
    this.sink = undefined;
    if (err !== null && ++this.failures > LISTEN_MAX_FAILURES) {
      this.log.warn({ code: err.code, err: err.message }, 'upstream subscriptions/listen failed too often; change notifications stop');
      return;
    }
    const delay = Math.min(RETRY_BASE_MS * 2 ** Math.max(0, this.failures - 1), RETRY_MAX_MS);
    this.log.debug({ delay, err: err?.message }, 'upstream subscriptions/listen ended; reopening');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delay);
    this.timer.unref();
  }

  deliver(json: string): void {
    const out = withoutSubscriptionId(json);
    if (out !== undefined) this.host.deliver(out);
  }

  // ---- internals ----

  private reopen(): void {
    this.stopCurrent();
    this.connect();
  }

  private stopCurrent(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.sink;
    this.sink = undefined;
    s?.abort();
  }

  private connect(): void {
    if (this.closed || !this.wanted || this.sink !== undefined) return;
    const filter: Record<string, unknown> = { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true };
    if (this.uris.size > 0) filter.resourceSubscriptions = [...this.uris];
    const body = `{"jsonrpc":"2.0","id":${this.host.mintId()},"method":"subscriptions/listen","params":{"notifications":${JSON.stringify(filter)},"_meta":{${this.host.metaMembers()}}}}`;
    const sink = new ListenSink(this);
    this.sink = sink;
    this.host.sendLong(body, sink);
  }
}

class ListenSink implements ReplySink {
  private over = false;
  private closeFn: (() => void) | undefined;

  constructor(private readonly listen: Listen) {}

  get closed(): boolean {
    return this.over;
  }

  abort(): void {
    this.over = true;
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }

  private end_(err: ProxyError | null): void {
    if (this.over) return;
    this.over = true;
    this.closeFn = undefined;
    this.listen.onEnd(this, err);
  }

  json(_body: string): void {
    // A JSON answer to a listen is an error (or an immediate end): either way, not a stream.
    this.end_(new ProxyError(ErrorCode.UpstreamProtocol, 'subscriptions/listen was answered without a stream'));
  }
  startStream(): void {}
  event(json: string): boolean {
    if (this.over) return false;
    const env = parseEnvelope(json, false);
    if (env.kind === MsgKind.Response) {
      // The graceful end of the subscription: cut what is left, come back with the same filter.
      const fn = this.closeFn;
      this.end_(null);
      fn?.();
      return true;
    }
    if (env.kind === MsgKind.Notification && env.method === ACK) {
      this.listen.onAck(this);
      return true;
    }
    this.listen.deliver(json);
    return !this.listen.paused;
  }
  onResume(fn: () => void): void {
    this.listen.onResumeFn(fn);
  }
  end(): void {
    this.end_(null);
  }
  accepted(): void {
    this.end_(new ProxyError(ErrorCode.UpstreamProtocol, 'subscriptions/listen was answered 202'));
  }
  errorBody(status: number, _body: string): void {
    this.end_(new ProxyError(ErrorCode.UpstreamStatus, `subscriptions/listen: upstream answered ${status}`, { status }));
  }
  fail(err: ProxyError): void {
    this.end_(err);
  }
  onClose(fn: () => void): void {
    this.closeFn = fn;
  }
}
