/**
 * B2, one forwarded request of a session-era client to a 2026-07-28 upstream, and its MRTR rounds
 * (docs/mcp-2026-07-28.md 1.5): the upstream's `input_required` result is never passed down; its
 * `inputRequests` become server->client requests on the client's reply stream (proxy-minted ids),
 * the client's responses (POSTed back, the session's oneWay path) become `inputResponses`, and the
 * request is sent again under a new id with those and the upstream's `requestState`, at most
 * MAX_ROUNDS times. The final response gets the client's id back, on the bytes.
 *
 * Each upstream exchange writes into a RoundSink; a round that is over (answered input_required,
 * cancelled, superseded) reads as `closed`, so its Exchange drops the rest and releases the socket.
 */
import { ErrorCode, ProxyError } from '../errors.js';
import { eachMember, kindAt } from '../era/envelope2026.js';
import { withParams } from '../era/meta-splice.js';
import { type RpcId, inputResponsesFrom, toServerRequests } from '../era/mrtr-bridge.js';
import { MsgKind, idKey, lastStringHadEscape, memberSpans, parseEnvelope, replaceId, scanString, skipValue } from './jsonrpc-envelope.js';
import type { ReplySink } from './types.js';

/** Rounds of input_required one request may go through before the proxy gives up on the upstream. */
export const MAX_ROUNDS = 8;

/** What a Call needs from its session (modern-upstream.ts). */
export interface CallHost {
  /** POST `body` upstream with `headers` ([lower-case name, value]); the reply goes to `sink`. */
  send(body: string, headers: readonly [string, string][], sink: ReplySink): void;
  /** A fresh id for the proxy's own messages (retries, server requests), as a JSON value. */
  mintId(): string;
  /** Route the client's response to `id` (a minted server request id) to this call. */
  awaitResponse(key: string, call: Call): boolean;
  forget(key: string): void;
  /** A server request or notification went down: activity for the session's deadlines. */
  activity(json: string): void;
  /**
   * A final response is going down: tools/list results teach the session x-mcp-header specs and
   * lose the tools whose annotations are invalid. Returns the body to send.
   */
  answered(method: string, body: string): string;
  /** The call is over: the session drops it from its tables. */
  finished(call: Call): void;
}

/** `result.resultType` of a response when it is a string, without building the result. */
export function resultTypeOf(body: string): string | undefined {
  const spans = memberSpans(body, 'result');
  if (spans === undefined || spans.length !== 1) return undefined;
  const [start] = spans[0] as [number, number];
  if (kindAt(body, start) !== 'object') return undefined;
  let found: string | undefined;
  const end = eachMember(body, start, ['resultType'], (key, v) => {
    if (key === undefined || kindAt(body, v) !== 'string') return skipAny(body, v);
    const e = scanString(body, v);
    if (e < 0) return -1;
    found = lastStringHadEscape() ? (JSON.parse(body.slice(v, e)) as string) : body.slice(v + 1, e - 1);
    return e;
  });
  return end < 0 ? undefined : found;
}

/** eachMember wants the index after each value it did not ask for. */
function skipAny(s: string, i: number): number {
  return skipValue(s, i, Infinity);
}

interface Sent {
  id: RpcId;
  key: string;
}

export class Call {
  private round = 0;
  private current: RoundSink | undefined;
  private done = false;
  private streaming = false;
  /** The server requests of the current input round, and the client's answers so far. */
  private sent: Sent[] = [];
  private answers: { id?: unknown; result?: unknown }[] = [];
  private waiting = 0;

  constructor(
    private readonly host: CallHost,
    /** idKey of the client's id: the session's table of calls in flight is keyed by it. */
    readonly key: string,
    private readonly down: ReplySink,
    /** The client's id as JSON text. */
    private readonly clientIdJson: string,
    readonly method: string,
    /** The client's request with the 2026 `_meta` spliced in (the client's id). */
    private readonly base: string,
    private readonly headers: readonly [string, string][],
    private readonly mrtr: boolean,
  ) {
    // One hook for the whole call: the client left or the request's deadline passed.
    down.onClose?.(() => this.stop());
  }

  start(): void {
    this.sendRound(this.base);
  }

  /**
   * The client cancelled (notifications/cancelled): stop upstream work and end the reply with no
   * response, as a session-era server does ("SHOULD NOT send a response" for a cancelled request):
   * an SSE stream that ends without one, which the client has stopped waiting for.
   */
  cancel(): void {
    if (this.done) return;
    this.stop();
    if (this.down.closed) return;
    this.ensureStream();
    this.down.end();
  }

  /** The session is closing under this call. */
  abort(err: ProxyError): void {
    if (this.done) return;
    this.stop();
    this.down.fail(err);
  }

  /** The client's JSON-RPC response to one of this round's server requests (raw text). */
  onClientResponse(json: string): void {
    if (this.done) return;
    let msg: { id?: unknown; result?: unknown };
    try {
      msg = JSON.parse(json) as { id?: unknown; result?: unknown };
    } catch {
      return;
    }
    this.answers.push(msg);
    if (--this.waiting > 0) return;
    const responses = inputResponsesFrom(this.sent, this.answers);
    this.retry(responses);
  }

  private requestState: string | undefined;

  private retry(inputResponses: Record<string, unknown>): void {
    this.clearSent();
    let members = `"inputResponses":${JSON.stringify(inputResponses)}`;
    if (this.requestState !== undefined) members += `,"requestState":${JSON.stringify(this.requestState)}`;
    const renamed = replaceId(this.base, this.host.mintId());
    const frame = renamed === undefined ? undefined : withParams(renamed, members);
    if (frame === undefined) return this.failWith(new ProxyError(ErrorCode.Internal, 'could not build the MRTR retry'));
    this.sendRound(frame);
  }

  private sendRound(frame: string): void {
    const sink = new RoundSink(this, this.down);
    this.current = sink;
    this.host.send(frame, this.headers, sink);
  }

  // ---- from the RoundSink ----

  /** A response for the current round, as text (JSON body or the response event). */
  onAnswer(sink: RoundSink, body: string, status = 200): void {
    if (sink !== this.current || this.done) return;
    if (status === 200 && this.mrtr && resultTypeOf(body) === 'input_required') return this.inputRequired(body);
    // An error body (404 -32601, 400 -32602, ...) goes down as a 200 JSON-RPC error, as a
    // session-era server answers: to a session-era client a 404 means "your session is gone" and
    // any other error status hides the JSON-RPC error behind a transport failure. A null id (the
    // upstream could not read ours) becomes the client's, so the client can match it.
    let out = this.round > 0 || status !== 200 ? (replaceId(body, this.clientIdJson) ?? body) : body;
    this.finish();
    if (status === 200) out = this.host.answered(this.method, out);
    if (this.down.closed) return;
    if (this.streaming) {
      this.down.event(out);
      this.down.end();
    } else {
      this.down.json(out);
    }
  }

  /** Anything but the answer on the round's stream (progress, log messages): straight down. */
  onOther(sink: RoundSink, json: string): boolean {
    if (sink !== this.current || this.done) return true;
    // Progress and the like extend the call's deadline up to max_request_ms (UpstreamSession).
    this.host.activity(json);
    this.ensureStream();
    return this.down.event(json);
  }

  onRoundFail(sink: RoundSink, err: ProxyError): void {
    if (sink !== this.current || this.done) return;
    this.failWith(err);
  }

  // ---- internals ----

  private inputRequired(body: string): void {
    if (++this.round > MAX_ROUNDS) {
      return this.failWith(new ProxyError(ErrorCode.UpstreamProtocol, `the upstream asked for input more than ${MAX_ROUNDS} times for one request`));
    }
    // Only an input_required result is parsed whole: small by nature (requests and a token).
    let result: { inputRequests?: unknown; requestState?: unknown };
    try {
      result = (JSON.parse(body) as { result: { inputRequests?: unknown; requestState?: unknown } }).result;
    } catch (err) {
      return this.failWith(new ProxyError(ErrorCode.UpstreamProtocol, 'input_required result is not JSON', { cause: err }));
    }
    this.current = undefined;
    this.requestState = typeof result.requestState === 'string' ? result.requestState : undefined;
    if (result.inputRequests === undefined) {
      if (this.requestState === undefined) return this.failWith(new ProxyError(ErrorCode.UpstreamProtocol, 'input_required result with neither inputRequests nor requestState'));
      return this.retry({});
    }
    const made = toServerRequests(result.inputRequests, () => JSON.parse(this.host.mintId()) as RpcId);
    if ('problem' in made) return this.failWith(new ProxyError(ErrorCode.UpstreamProtocol, `input_required: ${made.problem}`));
    if (made.requests.length === 0) return this.retry({});
    this.ensureStream();
    for (const r of made.requests) {
      const k = idKey(r.id);
      if (!this.host.awaitResponse(k, this)) return this.failWith(new ProxyError(ErrorCode.Overloaded, 'too many input requests waiting for this session\'s client'));
      this.sent.push({ id: r.id, key: r.key });
    }
    this.waiting = made.requests.length;
    for (const r of made.requests) {
      this.host.activity(r.body);
      // Credit is not waited for here: at most MAX_INPUT_REQUESTS small messages per round.
      this.down.event(r.body);
    }
  }

  private ensureStream(): void {
    if (this.streaming) return;
    this.streaming = true;
    this.down.startStream();
  }

  private clearSent(): void {
    for (const s of this.sent) this.host.forget(idKey(s.id));
    this.sent = [];
    this.answers = [];
    this.waiting = 0;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.current = undefined;
    this.clearSent();
    this.host.finished(this);
  }

  private failWith(err: ProxyError): void {
    const c = this.current;
    this.finish();
    c?.abortExchange();
    this.down.fail(err);
  }

  /** Stop without a reply of our own: the round's exchange is aborted, waits are dropped. */
  private stop(): void {
    const c = this.current;
    this.finish();
    c?.abortExchange();
  }
}

/** The ReplySink one upstream exchange of a Call writes into. */
export class RoundSink implements ReplySink {
  private closeFn: (() => void) | undefined;
  private over = false;

  constructor(private readonly call: Call, private readonly down: ReplySink) {}

  get closed(): boolean {
    return this.over || this.down.closed;
  }

  /** The round is over: the exchange (if still running) is aborted through its close hook. */
  abortExchange(): void {
    this.over = true;
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }

  private settle(): void {
    this.over = true;
    this.closeFn = undefined;
  }

  json(body: string): void {
    this.settle();
    this.call.onAnswer(this, body);
  }
  startStream(): void {}
  event(json: string): boolean {
    if (this.over) return false;
    const env = parseEnvelope(json, false);
    if (env.kind === MsgKind.Response) {
      // The answer ends this round: the Exchange sees `closed` and drops the rest of the stream.
      this.over = true;
      this.call.onAnswer(this, json);
      return true;
    }
    return this.call.onOther(this, json);
  }
  onResume(fn: () => void): void {
    this.down.onResume(fn);
  }
  end(): void {
    if (this.over) return;
    this.settle();
    this.call.onRoundFail(this, new ProxyError(ErrorCode.UpstreamProtocol, 'reply stream ended without a response'));
  }
  accepted(): void {
    this.settle();
    this.call.onRoundFail(this, new ProxyError(ErrorCode.UpstreamProtocol, 'upstream answered 202 to a request'));
  }
  errorBody(status: number, body: string): void {
    this.settle();
    this.call.onAnswer(this, body, status);
  }
  fail(err: ProxyError): void {
    if (this.over) return;
    this.settle();
    this.call.onRoundFail(this, err);
  }
  onClose(fn: () => void): void {
    this.closeFn = fn;
  }
}
