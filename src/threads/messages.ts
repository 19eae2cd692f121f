/**
 * Every message between the acceptor (main thread) and a session worker, in one place.
 *
 * Messages are plain objects with a numeric tag `t`; each side switches over `t`. Payloads are the
 * JSON-RPC frames as strings, exactly as received: a string posts as one flat copy, while a Buffer
 * view would clone its whole pooled backing store (platform-notes). bench/README.md holds the
 * measurement that chose structured-clone of small objects over msgpackr and a SAB ring here.
 *
 * Naming: `rid` identifies one downstream HTTP exchange (a POST reply, a DELETE) and is minted by
 * the acceptor; `sid` is the downstream session id; `dest` is the destination name.
 */
import type { ProxyConfig } from '../config/types.js';
import type { ErrorCode } from '../errors.js';

export const enum ToWorker {
  /** A JSON-RPC frame to forward. Requests expect a reply; notifications/responses expect Accepted. */
  Frame = 1,
  /** The downstream side of session `sid` opened its server-message stream (GET / legacy SSE). */
  StreamOpen = 2,
  /**
   * Flow control: `bytes` of event data for `rid` (or, when rid < 0, for the server-message stream
   * of (sid, dest)) reached the client socket. See CREDIT_WINDOW.
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
}

/**
 * Bounded credit between a worker and the acceptor, per streamed reply and per session's
 * server-message stream: the worker may have at most CREDIT_WINDOW characters of event data that
 * the acceptor has not yet acknowledged; past that it pauses its upstream (undici body, child
 * stdout) until Credit arrives. The acceptor acknowledges only what the client socket accepted,
 * in batches of CREDIT_BATCH or when the socket drains, so a slow client holds back its own
 * upstream and the acceptor never holds more than about one window per stream.
 */
export const CREDIT_WINDOW = 1 << 20;
export const CREDIT_BATCH = 64 << 10;

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
  body: string;
}
export interface StreamOpenMsg { t: ToWorker.StreamOpen; sid: string; dest: string }
/** rid < 0 addresses the server-message stream of (sid, dest) instead of one reply. */
export interface CreditMsg { t: ToWorker.Credit; rid: number; sid: string; dest: string; bytes: number }
export interface AbandonMsg { t: ToWorker.Abandon; rid: number }
export interface EndSessionMsg { t: ToWorker.EndSession; rid: number; sid: string; dest: string; reason: string }
export interface EndAllMsg { t: ToWorker.EndAll; rid: number }
export interface EvictDestinationsMsg { t: ToWorker.EvictDestinations; dests: string[]; config: ProxyConfig }

export type ToWorkerMsg =
  | FrameMsg
  | StreamOpenMsg
  | CreditMsg
  | AbandonMsg
  | EndSessionMsg
  | EndAllMsg
  | EvictDestinationsMsg;

export const enum ToMain {
  /** Worker is up and has attached the session table. */
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
  | ChildDownMsg;

/** What a worker receives as `workerData`. */
export interface WorkerInit {
  index: number;
  config: ProxyConfig;
  table: SharedArrayBuffer;
}
