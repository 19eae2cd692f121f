/**
 * B1 MRTR, one bridged call (tools/call, prompts/get, resources/read) as the upstream exchange sees
 * it: the ReplySink its upstream reply is written to, for the call's whole life, while the 2026
 * client side changes under it. A session-era upstream asks for input with its own server request
 * and waits; a 2026 client cannot answer that, so the call is parked (docs/mcp-2026-07-28.md 1.5):
 * the current downstream reply gets `input_required` (inputRequests + a requestState token) and
 * ends, the upstream exchange keeps running, and the client's retry attaches a new downstream reply
 * (`attach`), whose id the rest of the call is answered under.
 *
 * While parked, the upstream's further output is held, bounded: one final response (or failure)
 * plus up to MAX_INPUT_REQUESTS more server requests (for the next round); notifications (progress,
 * logs) have no downstream to go to and are dropped. The downstream SSE stream is started lazily
 * (at the first message forwarded), so a call whose first upstream message is a server request is
 * answered with a plain JSON `input_required` result.
 */
import { ErrorCode, ProxyError, jsonRpcErrorBodyFor } from '../errors.js';
import { clientCapabilitiesOf, mrtrTarget } from '../era/mrtr-spans.js';
import { INPUT_METHODS, MAX_INPUT_REQUESTS, type ServerRequest, inputKeyFor, toInputRequests } from '../era/mrtr-bridge.js';
import { logAllowed, notificationProgressKey, requestLogRank, requestProgressKey } from '../era/bridge-notify.js';
import { scanRequest2026 } from '../era/envelope2026.js';
import { patchLegacyResponse } from '../era/legacy-response.js';
import { MsgKind, parseEnvelope, replaceId } from './jsonrpc-envelope.js';
import type { ReplySink } from './types.js';

/** What a call needs from its bridged session. */
export interface CallHost {
  /** Park `requests` (already allowed by the client's capabilities): the requestState, or undefined when the worker is full. */
  park(call: BridgedCall, requests: readonly ServerRequest[]): string | undefined;
  /** Send one response to an upstream server request (a refusal, or the client's answer). */
  answer(body: string): void;
  /** The call is over (answered, failed, abandoned, expired): it takes no more server requests. */
  finished(call: BridgedCall): void;
}

type Held =
  | { k: 'event'; body: string }
  | { k: 'json'; body: string }
  | { k: 'error'; status: number; body: string }
  | { k: 'fail'; err: ProxyError };

/** How long requests arriving on a session channel are gathered into one round (see serverRequest). */
export const SESSION_COLLECT_MS = 10;

/** The refusal an upstream gets for a server request the proxy will not put to the client. */
export function refusal(id: string | number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32601, message } });
}

export class BridgedCall implements ReplySink {
  private down: ReplySink;
  private clientId: string;
  /** The request the current downstream reply answers (the original, then each retry). */
  private body: string;
  private caps: Record<string, unknown> | undefined;
  private parked = false;
  private dead = false;
  private over = false;
  private downStarted = false;
  private downPaused = false;
  private closeFn: (() => void) | undefined;
  private resumeFn: (() => void) | undefined;
  /** Server requests of this event-loop turn, put to the client together as one round. */
  private collecting: ServerRequest[] = [];
  private flushQueued = false;
  /** While parked: requests for the next round, and how the upstream call ended (if it did). */
  private held: ServerRequest[] = [];
  private heldEnd: Held | undefined;
  private heldStreamEnd = false;
  readonly method: string;
  private targetText: string | undefined;
  /** The current request's `_meta` logLevel rank (undefined: no log messages) and progressToken key. */
  private logRank: number | undefined;
  private progressKey: string | undefined;

  constructor(down: ReplySink, clientId: string, method: string, body: string, private readonly host: CallHost) {
    this.down = down;
    this.clientId = clientId;
    this.method = method;
    this.body = body;
    this.readMeta(body);
    this.watch(down);
  }

  /** The call's progressToken key (bridge-notify.ts requestProgressKey), for routing stdio progress. */
  get progress(): string | undefined {
    return this.progressKey;
  }

  /** params.name / params.uri of the original request (the token's `target` claim). */
  get target(): string {
    if (this.targetText === undefined) {
      const scan = scanRequest2026(this.body);
      this.targetText = scan.ok ? mrtrTarget(scan) : '';
    }
    return this.targetText;
  }

  get closed(): boolean {
    return this.dead || (!this.parked && this.down.closed);
  }

  get isParked(): boolean {
    return this.parked;
  }

  /**
   * A server request on this call's reply stream (HTTP) or given to it by its session (`viaSession`:
   * stdio, legacy SSE). Requests are gathered into one round: those of this event-loop turn, or
   * from a session channel those of the next SESSION_COLLECT_MS (a stdio child's lines written
   * together, e.g. Promise.all of three asks, can reach the worker in separate reads, and split
   * rounds would ask the client in pieces or answer -32021 for a round that had allowed requests).
   */
  serverRequest(json: string, viaSession = false): void {
    let req: ServerRequest;
    try {
      // An upstream server request: small, rare, from the upstream (not the client's bytes).
      const m = JSON.parse(json) as { id?: unknown; method?: unknown; params?: unknown };
      if ((typeof m.id !== 'string' && typeof m.id !== 'number') || typeof m.method !== 'string') return;
      req = m.params === undefined ? { id: m.id, method: m.method } : { id: m.id, method: m.method, params: m.params };
    } catch {
      return;
    }
    if (this.dead || this.over) return this.host.answer(refusal(req.id, 'the call this request belongs to has ended'));
    const queue = this.parked ? this.held : this.collecting;
    if (queue.length >= MAX_INPUT_REQUESTS) return this.host.answer(refusal(req.id, `more than ${MAX_INPUT_REQUESTS} input requests at once`));
    queue.push(req);
    if (!this.parked && !this.flushQueued) {
      this.flushQueued = true;
      if (viaSession) setTimeout(() => this.flush(), SESSION_COLLECT_MS).unref();
      else setImmediate(() => this.flush());
    }
  }

  /**
   * The client's retry arrived (its answers already went upstream): `down` gets the rest of the
   * call under `clientId`. `again` are parked requests the retry did not answer: asked first.
   */
  attach(down: ReplySink, clientId: string, body: string, again: readonly ServerRequest[]): void {
    this.parked = false;
    this.down = down;
    this.clientId = clientId;
    this.body = body;
    this.readMeta(body);
    this.caps = undefined;
    this.downStarted = false;
    this.watch(down);
    this.collecting = [...again, ...this.held].slice(0, MAX_INPUT_REQUESTS);
    for (const r of [...again, ...this.held].slice(MAX_INPUT_REQUESTS)) this.host.answer(refusal(r.id, `more than ${MAX_INPUT_REQUESTS} input requests at once`));
    this.held = [];
    if (this.collecting.length > 0) {
      this.flush();
      if (this.parked || this.dead) return;
    }
    const end = this.heldEnd;
    this.heldEnd = undefined;
    if (end) this.replay(end);
    if (this.heldStreamEnd) {
      this.heldStreamEnd = false;
      this.end();
    }
    // The producer may have been paused by the reply before the parking: let it read again.
    if (this.downPaused) {
      this.downPaused = false;
      this.resumeFn?.();
    }
  }

  /** The token expired (or the session ended) while parked: refuse what is held, stop the upstream call. */
  expire(): void {
    if (this.dead) return;
    this.dead = true;
    this.parked = false;
    for (const r of this.held) this.host.answer(refusal(r.id, 'the client did not answer in time'));
    this.held = [];
    this.heldEnd = undefined;
    this.finish();
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }

  // ReplySink -------------------------------------------------------------------------------

  json(body: string): void {
    if (this.parked) return void (this.heldEnd ??= { k: 'json', body });
    if (this.dead) return;
    this.finish();
    const p = this.fix(body);
    if (this.downStarted) {
      this.down.event(p.frame);
      return this.down.end();
    }
    if (p.status !== 200 && this.down.errorBody) return this.down.errorBody(p.status, p.frame);
    this.down.json(p.frame);
  }

  startStream(): void {
    // Lazy: see ensureStarted.
  }

  event(json: string, id?: string): boolean {
    const env = parseEnvelope(json);
    if (env.kind === MsgKind.Request) {
      this.serverRequest(json);
      return true;
    }
    if (this.parked) {
      if (env.kind === MsgKind.Response) this.heldEnd ??= { k: 'event', body: json };
      return true;
    }
    if (this.dead) return false;
    if (env.kind === MsgKind.Notification && env.method === 'notifications/message' && !logAllowed(this.logRank, json)) return true;
    // Nothing sent yet: the answer goes as a JSON body, so its patched status applies (-32601 -> 404).
    if (env.kind === MsgKind.Response && !this.downStarted) {
      this.json(json);
      return true;
    }
    this.ensureStarted();
    // The answer ends the call for its session (no more server requests are given to it).
    if (env.kind === MsgKind.Response) this.finish();
    const frame = env.kind === MsgKind.Response ? this.fix(json).frame : json;
    const ok = this.down.event(frame, id);
    if (!ok) this.downPaused = true;
    return ok;
  }

  onResume(fn: () => void): void {
    this.resumeFn = fn;
    this.down.onResume(() => {
      this.downPaused = false;
      fn();
    });
  }

  end(): void {
    if (this.parked) {
      this.heldStreamEnd = true;
      return;
    }
    if (this.dead) return;
    const answered = this.over;
    this.finish();
    // Already answered with a JSON body or a failure: nothing to end downstream.
    if (answered && !this.downStarted) return;
    this.ensureStarted();
    this.down.end();
  }

  accepted(): void {
    this.finish();
    this.down.accepted();
  }

  errorBody(status: number, body: string): void {
    if (this.parked) return void (this.heldEnd ??= { k: 'error', status, body });
    if (this.dead) return;
    this.finish();
    const p = this.fix(body);
    if (this.down.errorBody) this.down.errorBody(p.status !== 200 ? p.status : status, p.frame);
    else this.down.fail(new ProxyError(ErrorCode.UpstreamStatus, `upstream answered ${status}`));
  }

  fail(err: ProxyError): void {
    if (this.parked) return void (this.heldEnd ??= { k: 'fail', err });
    if (this.dead) return;
    this.finish();
    this.down.fail(err);
  }

  onClose(fn: () => void): void {
    this.closeFn = fn;
  }

  // -------------------------------------------------------------------------------------------

  /** The client left (or its reply's deadline passed) while the call was live: stop the upstream call. */
  private watch(down: ReplySink): void {
    down.onClose?.(() => {
      if (this.parked || this.dead || this.over) return;
      this.finish();
      const fn = this.closeFn;
      this.closeFn = undefined;
      fn?.();
    });
    if (this.resumeFn) {
      const fn = this.resumeFn;
      down.onResume(() => {
        this.downPaused = false;
        fn();
      });
    }
  }

  private readMeta(body: string): void {
    this.logRank = requestLogRank(body);
    this.progressKey = requestProgressKey(body);
  }

  /** Stop the upstream call (stdio: notifications/cancelled; HTTP: the exchange is aborted). */
  private cancelUpstream(): void {
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.host.finished(this);
  }

  private ensureStarted(): void {
    if (this.downStarted) return;
    this.downStarted = true;
    this.down.startStream();
  }

  private fix(frame: string): { frame: string; status: number } {
    const restored = replaceId(frame, this.clientId) ?? frame;
    return patchLegacyResponse(restored, this.method);
  }

  private replay(h: Held): void {
    switch (h.k) {
      case 'event':
        this.event(h.body);
        return;
      case 'json':
        return this.json(h.body);
      case 'error':
        return this.errorBody(h.status, h.body);
      case 'fail':
        return this.fail(h.err);
    }
  }

  /** Answer the client -32021 (HTTP 400) with data.requiredCapabilities, then stop the upstream call. */
  private missingCapability(required: Record<string, unknown>): void {
    this.finish();
    const names = Object.keys(required).join(', ');
    const body = jsonRpcErrorBodyFor('2026', null, ErrorCode.MissingClientCapability, `Missing required client capability: ${names}`, { requiredCapabilities: required });
    const frame = replaceId(body, this.clientId) ?? body;
    if (this.downStarted) {
      this.down.event(frame);
      this.down.end();
    } else if (this.down.errorBody) {
      this.down.errorBody(400, frame);
    } else {
      this.down.fail(new ProxyError(ErrorCode.MissingClientCapability, `Missing required client capability: ${names}`));
    }
    this.dead = true;
    this.cancelUpstream();
  }

  /** Turn the requests collected this turn into one round: refuse what the client cannot answer, park the rest. */
  private flush(): void {
    this.flushQueued = false;
    const reqs = this.collecting;
    this.collecting = [];
    if (reqs.length === 0) return;
    if (this.dead || this.over || this.down.closed) {
      for (const r of reqs) this.host.answer(refusal(r.id, 'the client is gone'));
      return;
    }
    this.caps ??= clientCapabilitiesOf(this.body);
    const round = toInputRequests(reqs, this.caps);
    // The refusals go out now.
    for (const r of round.refused) this.host.answer(r.body);
    const ask = reqs.filter((r) => Object.hasOwn(round.inputRequests, inputKeyFor(r.id)));
    if (ask.length === 0) {
      // Everything the upstream asked needs a capability the client did not declare: acting as the
      // 2026 server, the bridge MUST answer -32021 (basic/index.mdx "Client capabilities"), so the
      // call ends here and is cancelled upstream rather than left to finish without its input.
      // When a round mixes allowed and undeclared requests, the allowed ones are still put to the
      // client (input_required) and only the others are refused upstream: the client can answer
      // part of what the tool wants, and the upstream decides what to do without the rest
      // (input-required-result-capability-check expects a sampling-only input_required then).
      const required = requiredCapabilities(reqs);
      if (required !== undefined) this.missingCapability(required);
      return;
    }
    const token = this.host.park(this, ask);
    if (token === undefined) {
      for (const r of ask) this.host.answer(refusal(r.id, 'the proxy holds too many requests waiting for clients'));
      return;
    }
    this.parked = true;
    // Caps and target are known now; the request body (up to max_body_bytes) need not live as long
    // as the parked round: a retry brings its own.
    this.body = '';
    const frame = `{"jsonrpc":"2.0","id":${this.clientId},"result":{"resultType":"input_required","inputRequests":${JSON.stringify(round.inputRequests)},"requestState":${JSON.stringify(token)}}}`;
    const down = this.down;
    if (this.downStarted) {
      down.event(frame);
      down.end();
    } else {
      down.json(frame);
    }
    // A producer paused by the old reply's flow control would never be woken by it: resume it,
    // what it reads now is held (bounded) or dropped.
    if (this.downPaused) {
      this.downPaused = false;
      this.resumeFn?.();
    }
  }
}

/** The capabilities refused input requests need (MissingRequiredClientCapabilityError data), or undefined when none was an input request. */
function requiredCapabilities(reqs: readonly ServerRequest[]): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const r of reqs) {
    const need = INPUT_METHODS.get(r.method);
    if (!need) continue;
    out ??= {};
    if (need === 'elicitation') {
      const mode = typeof r.params === 'object' && r.params !== null ? (r.params as { mode?: unknown }).mode : undefined;
      out.elicitation = mode === 'url' ? { url: {} } : { form: {} };
    } else {
      out[need] = {};
    }
  }
  return out;
}

/**
 * A notification a stdio (or legacy SSE) upstream sent on its session's one channel, given to the
 * in-flight call it belongs to: `notifications/progress` by its progressToken, `notifications/message`
 * to the oldest live (not parked) call (its own logLevel filter applies in `event`). False when no call takes it.
 */
export function routeSessionNotification(calls: Iterable<BridgedCall>, json: string, method: string | undefined): boolean {
  if (method === 'notifications/progress') {
    const key = notificationProgressKey(json);
    if (key === undefined) return false;
    for (const c of calls) {
      if (!c.closed && c.progress === key) {
        c.event(json);
        return true;
      }
    }
    return false;
  }
  if (method === 'notifications/message') {
    // A parked call has no downstream to log to: the oldest live one.
    for (const c of calls) {
      if (!c.closed && !c.isParked) {
        c.event(json);
        return true;
      }
    }
  }
  return false;
}
