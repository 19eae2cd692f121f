/**
 * Every message between the acceptor (main thread) and a session worker, in one place.
 *
 * Messages are typed objects with a numeric tag `t`; each side switches over `t`. Payloads are the
 * JSON-RPC frames as strings, exactly as received: a string posts as one flat copy, while a Buffer
 * view would clone its whole pooled backing store (measured: a pooled 6-byte Buffer posts 8 KiB).
 *
 * On the wire (bottom of this file, the only place that knows the encoding): the messages of the
 * request path (Frame, Frame2026, Credit, Abandon one way; Json, Accepted, StreamStart, Event, StreamEnd the
 * other) become short string records with the payload appended raw, and the records one thread
 * writes in one event-loop turn go out as ONE postMessage of their concatenation. A postMessage
 * costs a few microseconds whatever its size (serialiser, port queue, wake-up of the other
 * thread, one JS callback there), so batching is what the measurements in bench/README.md and
 * bench/RESULTS.md found worth having; structured clone of small objects and msgpackr were
 * slower. Every other message (rare: control, failures, server pushes) is posted as its object,
 * after flushing the batch, so the order of all messages between two threads is kept.
 *
 * Naming: `rid` identifies one downstream HTTP exchange (a POST reply, a DELETE) and is minted by
 * the acceptor; `sid` is the downstream session id; `dest` is the destination name.
 */
import type { ProxyConfig } from '../config/types.js';
import type { ParamHeaderSpec } from '../era/headers2026.js';
import { ErrorCode, ProxyError } from '../errors.js';
import type { WorkerStatsSnapshot } from '../observability/worker-stats.js';

export const enum ToWorker {
  /** A JSON-RPC frame to forward. Requests expect a reply; notifications/responses expect Accepted. */
  Frame = 1,
  /** The downstream side of session `sid` opened its server-message stream (GET / legacy SSE). */
  StreamOpen = 2,
  /**
   * Flow control: `bytes` of event data for `rid` (or, when rid < 0, for the server-message stream
   * of (sid, dest)) reached the client socket. The rules are in flow.ts.
   */
  Credit = 3,
  /** The downstream client went away before the reply finished: abandon `rid`. */
  Abandon = 5,
  /** End the upstream session of (sid, dest); answer with Done for `rid`. */
  EndSession = 6,
  /** Close every upstream session (shutdown or reload); answer with Done for `rid`. */
  EndAll = 7,
  /** Destinations whose connection settings changed: close their upstream sessions. */
  EvictDestinations = 8,
  /** Scrape: answer with Stats for `rid` (this worker's counters, observability/worker-stats.ts). */
  StatsRequest = 9,
  /**
   * A 2026-07-28 request (session-less: pass-through, or B1-bridged): no sid, no session. A wire
   * record like Frame (posted as an object it cost the acceptor ~7 µs more per request: issue 13).
   */
  Frame2026 = 10,
  /**
   * B1 MRTR: a 2026 retry (params.requestState verified by the acceptor) for an exchange parked on
   * this worker. Posted as its object, like Frame2026.
   */
  Resume = 11,
}


export const enum FrameKind {
  Request = 1,
  /** Notifications and responses to server-initiated requests: no reply but 202. */
  OneWay = 2,
}

export interface FrameMsg {
  t: ToWorker.Frame;
  rid: number;
  sid: string;
  dest: string;
  kind: FrameKind;
  /** The frame is `initialize`: the worker creates the upstream session with it. */
  init: boolean;
  /**
   * W3C trace context to send upstream (observability/trace.ts): the proxy's traceparent, then
   * the client's tracestate if any; '' or absent = none.
   */
  trace?: string;
  body: string;
}
export interface StreamOpenMsg { t: ToWorker.StreamOpen; sid: string; dest: string }
/** rid < 0 addresses the server-message stream of (sid, dest) instead of one reply. */
export interface CreditMsg { t: ToWorker.Credit; rid: number; sid: string; dest: string; bytes: number }
export interface AbandonMsg { t: ToWorker.Abandon; rid: number }
export interface EndSessionMsg { t: ToWorker.EndSession; rid: number; sid: string; dest: string; reason: string }
export interface EndAllMsg { t: ToWorker.EndAll; rid: number }
export interface EvictDestinationsMsg { t: ToWorker.EvictDestinations; dests: string[]; config: ProxyConfig }
export interface StatsRequestMsg { t: ToWorker.StatsRequest; rid: number }
export interface Frame2026Msg {
  t: ToWorker.Frame2026;
  rid: number;
  dest: string;
  /** The request exactly as received. */
  body: string;
  /** Headers the upstream must get, [lower-case name, value]: mcp-protocol-version, mcp-method, mcp-name, mcp-param-*, other mcp-*. */
  headers: [string, string][];
  /** `subscriptions/listen`: a long reply, exempt from timeouts.request_ms (idle_ms still bounds it). */
  long: boolean;
  /**
   * B1 bridge: the acceptor decided the destination is session-era, so the worker serves this
   * through a bridged session (the acceptor owns the era decision; the worker re-checks config).
   */
  bridge: boolean;
  /** Authenticated client name: the bridged session's key (one upstream session per principal). */
  principal: string;
}

/** The claims of a verified requestState the worker needs (src/era/request-state.ts), and the retry. */
export interface ResumeMsg {
  t: ToWorker.Resume;
  rid: number;
  dest: string;
  /** The bridged session's key (claims.session) and the parked round's key (claims.parked). */
  session: string;
  parked: string;
  /** Authenticated client name (equal to claims.principal: the acceptor checked). */
  principal: string;
  /** The retry exactly as received (its id, params.inputResponses). */
  body: string;
}

export type ToWorkerMsg =
  | FrameMsg
  | StreamOpenMsg
  | CreditMsg
  | AbandonMsg
  | EndSessionMsg
  | EndAllMsg
  | EvictDestinationsMsg
  | StatsRequestMsg
  | Frame2026Msg
  | ResumeMsg;

export const enum ToMain {
  /** Worker is up: its message handler is installed. */
  Ready = 1,
  /** The whole reply of `rid` is one JSON body. */
  Json = 2,
  /** 202, no body. */
  Accepted = 3,
  /** The reply of `rid` is an SSE stream; Event messages follow, then StreamEnd. */
  StreamStart = 4,
  Event = 5,
  StreamEnd = 6,
  /** The reply of `rid` failed. */
  Fail = 7,
  /** A server-initiated message for session `sid` (goes to its GET / legacy stream). */
  Push = 8,
  /** The upstream session of `sid` ended on its own (child gave up, upstream lost it). */
  SessionGone = 9,
  /** An EndSession / EndAll finished. */
  Done = 10,
  /** A stdio child started / ended: the acceptor tracks pids so a dead worker's children are reaped. */
  ChildUp = 11,
  ChildDown = 12,
  /** The answer to StatsRequest `rid`. */
  Stats = 13,
  /**
   * The upstream answered `rid` with an error status and a JSON-RPC error body: the acceptor
   * answers with `status` and `body` as they are (the upstream's message and code reach the client).
   */
  ErrorBody = 14,
  /**
   * The x-mcp-header specs of the tools in a pass-through `tools/list` result (rare: posted as its
   * object). The acceptor keeps them per destination (acceptor/tool-header-cache.ts) to check a
   * later tools/call's Mcp-Param-* headers before routing, whichever worker the call goes to.
   */
  ToolHeaders = 15,
}

export interface ReadyMsg { t: ToMain.Ready; worker: number }
export interface JsonMsg { t: ToMain.Json; rid: number; body: string }
export interface AcceptedMsg { t: ToMain.Accepted; rid: number }
export interface StreamStartMsg { t: ToMain.StreamStart; rid: number }
export interface EventMsg { t: ToMain.Event; rid: number; data: string }
export interface StreamEndMsg { t: ToMain.StreamEnd; rid: number }
export interface FailMsg { t: ToMain.Fail; rid: number; code: ErrorCode; message: string }
export interface PushMsg { t: ToMain.Push; sid: string; data: string }
export interface SessionGoneMsg { t: ToMain.SessionGone; sid: string; code: ErrorCode; message: string }
export interface DoneMsg { t: ToMain.Done; rid: number }
export interface ChildUpMsg { t: ToMain.ChildUp; pid: number }
export interface ChildDownMsg { t: ToMain.ChildDown; pid: number }
export interface StatsMsg { t: ToMain.Stats; rid: number; stats: WorkerStatsSnapshot }
export interface ErrorBodyMsg { t: ToMain.ErrorBody; rid: number; status: number; body: string }
export interface ToolHeadersMsg {
  t: ToMain.ToolHeaders;
  dest: string;
  /** [tool name, its mirrored parameters]; only tools with at least one valid x-mcp-header. */
  tools: [string, ParamHeaderSpec[]][];
  /**
   * The result answered a tools/list with a `cursor` (a later page): its tools are added to the
   * destination's entries; a first page replaces them all.
   */
  append: boolean;
  /**
   * The destination's connectKey when the request went out: a reply that left before a reload
   * changed the destination must not refill the acceptor's cache with the old upstream's tools.
   */
  connectKey: string;
}

export type ToMainMsg =
  | ReadyMsg
  | JsonMsg
  | AcceptedMsg
  | StreamStartMsg
  | EventMsg
  | StreamEndMsg
  | FailMsg
  | PushMsg
  | SessionGoneMsg
  | DoneMsg
  | ChildUpMsg
  | ChildDownMsg
  | StatsMsg
  | ToolHeadersMsg
  | ErrorBodyMsg;

/** What a worker receives as `workerData`. */
export interface WorkerInit {
  index: number;
  config: ProxyConfig;
  /** The acceptor's requestState key (RequestStateSigner.keyBytes), so a worker can mint tokens. */
  requestStateKey: Uint8Array;
}

// ---- Wire encoding --------------------------------------------------------------------------

/** Something with postMessage: a Worker on the main side, the parentPort in a worker. */
export interface PostTarget {
  postMessage(value: unknown): void;
}

/**
 * A batch is posted once it holds this many characters, else at the end of the event-loop turn.
 * Records are slices of their batch string on the receiving side, so a payload kept for later (a
 * queued SSE event) pins at most one batch: records with a payload over MAX_RECORD_PAYLOAD are not
 * batched at all (for them one postMessage more is noise next to the copy of the payload).
 */
export const BATCH_FLUSH_CHARS = 16 * 1024;
export const MAX_RECORD_PAYLOAD = 4 * 1024;

// Record tags: one character each. Fields are separated by ','; a payload is `<length>,<chars>`.
// Session ids (minted hex) and destination names (^[a-z0-9][a-z0-9_-]*$) never contain ','.
// A Frame's trace is a payload too: a tracestate is a comma-separated list.
const R_FRAME = 'F';
const R_FRAME_2026 = 'M';
const R_CREDIT = 'C';
const R_ABANDON = 'X';
const R_JSON = 'J';
const R_ACCEPTED = 'A';
const R_STREAM_START = 'S';
const R_EVENT = 'E';
const R_STREAM_END = 'Z';

/** The record for a hot message to a worker, or undefined when it travels as an object. */
export function encodeToWorker(m: ToWorkerMsg): string | undefined {
  switch (m.t) {
    case ToWorker.Frame: {
      if (m.body.length > MAX_RECORD_PAYLOAD) return undefined;
      const trace = m.trace ?? '';
      return `${R_FRAME}${m.rid},${m.sid},${m.dest},${m.kind},${m.init ? 1 : 0},${trace.length},${trace}${m.body.length},${m.body}`;
    }
    case ToWorker.Frame2026: {
      if (m.body.length > MAX_RECORD_PAYLOAD) return undefined;
      // Flags: bit 0 long, bit 1 bridge. Header names and values, and the principal, are payloads.
      let rec = `${R_FRAME_2026}${m.rid},${m.dest},${(m.long ? 1 : 0) | (m.bridge ? 2 : 0)},${m.principal.length},${m.principal}${m.headers.length},`;
      for (const [name, value] of m.headers) rec += `${name.length},${name}${value.length},${value}`;
      return `${rec}${m.body.length},${m.body}`;
    }
    case ToWorker.Credit:
      return `${R_CREDIT}${m.rid},${m.sid},${m.dest},${m.bytes},`;
    case ToWorker.Abandon:
      return `${R_ABANDON}${m.rid},`;
    default:
      return undefined;
  }
}

/** The record for a hot message to the acceptor, or undefined when it travels as an object. */
export function encodeToMain(m: ToMainMsg): string | undefined {
  switch (m.t) {
    case ToMain.Json:
      return m.body.length > MAX_RECORD_PAYLOAD ? undefined : `${R_JSON}${m.rid},${m.body.length},${m.body}`;
    case ToMain.Event:
      return m.data.length > MAX_RECORD_PAYLOAD ? undefined : `${R_EVENT}${m.rid},${m.data.length},${m.data}`;
    case ToMain.Accepted:
      return `${R_ACCEPTED}${m.rid},`;
    case ToMain.StreamStart:
      return `${R_STREAM_START}${m.rid},`;
    case ToMain.StreamEnd:
      return `${R_STREAM_END}${m.rid},`;
    default:
      return undefined;
  }
}

/**
 * A decoder's position in one batch. Local to each decode call (not module state), so nothing a
 * message handler does can disturb the batch being read.
 */
interface Cursor {
  readonly s: string;
  at: number;
}

function corrupt(c: Cursor): ProxyError {
  return new ProxyError(ErrorCode.Internal, `corrupt thread message batch at ${c.at}`);
}

/** A (possibly negative) decimal integer at the cursor, then its ',' terminator. */
function int(c: Cursor): number {
  const s = c.s;
  let at = c.at;
  let ch = s.charCodeAt(at);
  const neg = ch === 0x2d; /* - */
  if (neg) ch = s.charCodeAt(++at);
  let v = 0;
  while (ch !== 0x2c /* , */) {
    if (!(ch >= 0x30 && ch <= 0x39)) {
      c.at = at;
      throw corrupt(c);
    }
    v = v * 10 + (ch - 0x30);
    ch = s.charCodeAt(++at);
  }
  c.at = at + 1;
  return neg ? -v : v;
}

function field(c: Cursor): string {
  const end = c.s.indexOf(',', c.at);
  if (end < 0) throw corrupt(c);
  const v = c.s.slice(c.at, end);
  c.at = end + 1;
  return v;
}

function payload(c: Cursor): string {
  const n = int(c);
  if (c.at + n > c.s.length) throw corrupt(c);
  const v = c.s.slice(c.at, c.at + n);
  c.at += n;
  return v;
}

/** Hand every message of a batch (a string) or a lone object message to `each`, in order. */
export function decodeToWorker(data: string | ToWorkerMsg, each: (m: ToWorkerMsg) => void): void {
  if (typeof data !== 'string') return each(data);
  const c: Cursor = { s: data, at: 0 };
  while (c.at < data.length) {
    const tag = data[c.at++];
    switch (tag) {
      case R_FRAME: {
        const rid = int(c);
        const sid = field(c);
        const dest = field(c);
        const kind = int(c) as FrameKind;
        const init = int(c) === 1;
        const trace = payload(c);
        each({ t: ToWorker.Frame, rid, sid, dest, kind, init, trace, body: payload(c) });
        break;
      }
      case R_FRAME_2026: {
        const rid = int(c);
        const dest = field(c);
        const flags = int(c);
        const principal = payload(c);
        const n = int(c);
        const headers: [string, string][] = [];
        for (let i = 0; i < n; i++) headers.push([payload(c), payload(c)]);
        each({ t: ToWorker.Frame2026, rid, dest, body: payload(c), headers, long: (flags & 1) !== 0, bridge: (flags & 2) !== 0, principal });
        break;
      }
      case R_CREDIT: {
        const rid = int(c);
        const sid = field(c);
        const dest = field(c);
        each({ t: ToWorker.Credit, rid, sid, dest, bytes: int(c) });
        break;
      }
      case R_ABANDON:
        each({ t: ToWorker.Abandon, rid: int(c) });
        break;
      default:
        throw corrupt(c);
    }
  }
}

/** Hand every message of a batch (a string) or a lone object message to `each`, in order. */
export function decodeToMain(data: string | ToMainMsg, each: (m: ToMainMsg) => void): void {
  if (typeof data !== 'string') return each(data);
  const c: Cursor = { s: data, at: 0 };
  while (c.at < data.length) {
    const tag = data[c.at++];
    switch (tag) {
      case R_JSON: {
        const rid = int(c);
        each({ t: ToMain.Json, rid, body: payload(c) });
        break;
      }
      case R_EVENT: {
        const rid = int(c);
        each({ t: ToMain.Event, rid, data: payload(c) });
        break;
      }
      case R_ACCEPTED:
        each({ t: ToMain.Accepted, rid: int(c) });
        break;
      case R_STREAM_START:
        each({ t: ToMain.StreamStart, rid: int(c) });
        break;
      case R_STREAM_END:
        each({ t: ToMain.StreamEnd, rid: int(c) });
        break;
      default:
        throw corrupt(c);
    }
  }
}

/**
 * The body of a thread's message listener. A corrupt batch, or a handler that throws on one
 * message, is reported to `fault` and never thrown: thrown inside the listener it would end the
 * thread (a worker with every session on it; on main, the process). Messages decoded before a
 * corrupt record are delivered; the rest of that batch is dropped (their exchanges then fail by
 * their deadlines, as for any lost reply).
 */
export function receive<M>(
  decode: (data: string | M, each: (m: M) => void) => void,
  data: string | M, each: (m: M) => void, fault: (err: unknown) => void,
): void {
  try {
    decode(data, (m) => {
      try {
        each(m);
      } catch (err) {
        fault(err);
      }
    });
  } catch (err) {
    fault(err);
  }
}

/**
 * The sending half: hot messages are appended to the current batch, which goes out at the end of
 * the event-loop turn (setImmediate) or once it reaches BATCH_FLUSH_CHARS; any other message
 * flushes the batch first and is posted as its object. Bounded: one batch per turn, at most
 * BATCH_FLUSH_CHARS plus one record.
 */
export class Outbox<M> {
  private batch = '';
  private scheduled = false;
  private readonly target: PostTarget;
  private readonly encode: (m: M) => string | undefined;
  private readonly flushFn = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(target: PostTarget, encode: (m: M) => string | undefined) {
    this.target = target;
    this.encode = encode;
  }

  send(m: M): void {
    const rec = this.encode(m);
    if (rec === undefined) {
      this.flush();
      this.target.postMessage(m);
      return;
    }
    this.batch += rec;
    if (this.batch.length >= BATCH_FLUSH_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushFn);
    }
  }

  flush(): void {
    if (this.batch.length === 0) return;
    const b = this.batch;
    this.batch = '';
    this.target.postMessage(b);
  }
}
