/**
 * Replies in flight, by rid: the acceptor's half of every exchange it handed to a worker.
 * A worker's reply messages (Json / Accepted / StreamStart / Event / StreamEnd / Fail) land on the
 * Reply registered under their rid; each Reply knows where its bytes go:
 *  - PostReply: the Streamable HTTP POST's own response (JSON or an SSE stream);
 *  - LegacyReply: the legacy session's SSE stream (the POST itself was already answered 202);
 *  - Waiter: control exchanges (DELETE, shutdown) that only need to know the worker finished.
 */
import type { HttpResponse } from './http-types.js';
import { type ErrorCode, WIRE, jsonRpcErrorBody } from '../errors.js';
import type { JsonRpcId } from '../upstream/jsonrpc-envelope.js';
import { type Abortable, writeError, writeResponse } from './http-util.js';
import { sseEvent } from './sse-format.js';
import { type SseLimits, SseStream } from './sse-stream.js';
import type { DownSession, EventCarrier } from './sessions.js';

export interface ReplyHost {
  credit(worker: number, rid: number, sid: string, dest: string, bytes: number): void;
  abandon(worker: number, rid: number): void;
  /** The exchange finished: log it once, count it, free its slot. */
  finished(r: Reply, status: number): void;
  /** An initialize reply failed: the session never came to be. */
  initFailed(s: DownSession): void;
  push(sid: string, data: string, rid: number | null): void;
  /** A streamed reply's reader was too slow and was cut (counted for operators). */
  slowReaderCut(dest: string): void;
  readonly sseLimits: SseLimits;
}

export abstract class Reply {
  readonly rid: number;
  readonly worker: number;
  /** undefined for a 2026-07-28 reply (session-less: replies-2026.ts); session-era replies narrow it. */
  readonly session: DownSession | undefined;
  readonly dest: string;
  readonly method: string | undefined;
  readonly started = Date.now();
  bytes = 0;
  /** Holds one of its session's in-flight slots (set by Core.forward, released by Core.finished). */
  holdsSlot = false;
  /** The trace sent upstream (observability/trace.ts), set when forwarded; '' before. */
  trace = '';
  /** Runs once when the exchange ends (Core.finished): a bridged listen releases its affinity hold. */
  onFinished: (() => void) | undefined = undefined;
  protected readonly host: ReplyHost;

  /** `target`: the downstream session, or (session-less) the destination name. */
  constructor(host: ReplyHost, rid: number, worker: number, target: DownSession | string, method: string | undefined) {
    this.host = host;
    this.rid = rid;
    this.worker = worker;
    this.session = typeof target === 'string' ? undefined : target;
    this.dest = typeof target === 'string' ? target : target.dest;
    this.method = method;
  }

  abstract json(body: string): void;
  abstract accepted(): void;
  abstract streamStart(): void;
  abstract event(data: string): void;
  abstract streamEnd(): void;
  abstract fail(code: ErrorCode, message: string): void;
  /** The upstream's own JSON-RPC error body, with the status the worker mapped it to. */
  abstract errorBody(status: number, body: string): void;
}

const SESSION_HEADER = 'mcp-session-id';

export class PostReply extends Reply implements Abortable, EventCarrier {
  declare readonly session: DownSession;
  aborted = false;
  private readonly res: HttpResponse;
  private readonly id: JsonRpcId;
  /** Set on the initialize reply: hands the client its new session id. */
  private readonly newSession: boolean;
  private stream: SseStream | null = null;
  private settled = false;

  constructor(host: ReplyHost, rid: number, worker: number, session: DownSession, method: string | undefined,
    res: HttpResponse, id: JsonRpcId, newSession: boolean) {
    super(host, rid, worker, session, method);
    this.res = res;
    this.id = id;
    this.newSession = newSession;
    if (!newSession) session.carriers.push(this);
  }

  private uncarry(): void {
    const list = this.session.carriers;
    const i = list.lastIndexOf(this);
    if (i >= 0) list.splice(i, 1);
  }

  /**
   * A server message for a client that reads no GET stream: sent on this reply, which becomes an
   * SSE stream if it was not one yet (the spec lets a POST's stream carry server requests and
   * notifications before the response).
   */
  carry(data: string, rid: number | null): boolean {
    if (this.aborted || this.settled) return false;
    this.openStream();
    this.stream!.event(data, rid);
    return true;
  }

  /** uWS onAborted: the client left. Tell the worker to stop producing for this rid. */
  onAborted(): void {
    this.aborted = true;
    this.uncarry();
    if (this.stream) this.stream.aborted();
    if (!this.settled) {
      this.settled = true;
      this.host.abandon(this.worker, this.rid);
      if (this.newSession) this.host.initFailed(this.session);
      this.host.finished(this, 499);
    }
  }

  private settle(status: number): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.uncarry();
    if (this.newSession) {
      if (status < 300) this.session.established = true;
      else this.host.initFailed(this.session);
    }
    this.host.finished(this, status);
    return true;
  }

  json(body: string): void {
    if (this.aborted || this.settled) return;
    if (this.stream) {
      // Server messages already went out on this reply as an SSE stream: the result is its last event.
      this.stream.event(body, null);
      this.streamEnd();
      return;
    }
    const res = this.res;
    this.bytes += body.length;
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('content-type', 'application/json');
      if (this.newSession) res.writeHeader(SESSION_HEADER, this.session.sid);
      res.end(body);
    });
    this.settle(200);
  }

  accepted(): void {
    if (this.aborted || this.settled) return;
    const res = this.res;
    res.cork(() => {
      res.writeStatus('202 Accepted');
      res.end();
    });
    this.settle(202);
  }

  streamStart(): void {
    if (this.aborted || this.settled) return;
    this.openStream();
  }

  private openStream(): void {
    if (this.stream) return;
    const stream = new SseStream(this.res, {
      credit: (rid, bytes) => this.host.credit(this.worker, rid, this.session.sid, this.session.dest, bytes),
      closed: (reason) => {
        if (reason === 'slow') {
          this.host.slowReaderCut(this.session.dest);
          this.host.abandon(this.worker, this.rid);
          this.settle(503);
        }
      },
    }, this.host.sseLimits);
    this.stream = stream;
    const replay = this.session.replay;
    if (replay !== null) {
      // Event ids make the stream resumable (replay.ts); this stream's number maps to our id.
      const n = replay.newStream(JSON.stringify(this.id));
      stream.eventIds = (data) => replay.record(n, data);
    }
    this.res.cork(() => stream.open(this.newSession ? { [SESSION_HEADER]: this.session.sid } : undefined, 0));
    // The headers are out: from here the exchange counts as a success for the session.
    if (this.newSession) this.session.established = true;
  }

  event(data: string): void {
    if (this.aborted || !this.stream) return;
    this.stream.event(data, this.rid);
  }

  streamEnd(): void {
    if (this.aborted || !this.stream) return;
    this.bytes = this.stream.bytes;
    this.stream.end();
    this.settle(200);
  }

  fail(code: ErrorCode, message: string): void {
    if (this.aborted || this.settled) return;
    if (this.stream) {
      // Headers already went out as 200: the failure travels as a JSON-RPC error event.
      this.stream.end(sseEvent(jsonRpcErrorBody(this.id, code, message)));
      this.settle(WIRE[code].status);
      return;
    }
    const res = this.res;
    let status = 0;
    res.cork(() => {
      status = writeError(res, code, message, this.id);
    });
    this.settle(status);
  }

  errorBody(status: number, body: string): void {
    if (this.aborted || this.settled) return;
    if (this.stream) {
      this.stream.end(sseEvent(body));
      this.settle(status);
      return;
    }
    const res = this.res;
    this.bytes += body.length;
    res.cork(() => writeResponse(res, status, 'application/json', body));
    this.settle(status);
  }
}

/** Legacy HTTP+SSE: replies travel on the session's stream, as `message` events. */
export class LegacyReply extends Reply {
  declare readonly session: DownSession;
  /** The request's id, or undefined for notifications and responses (nothing to answer). */
  private readonly answerId: JsonRpcId | undefined;
  private done = false;

  constructor(host: ReplyHost, rid: number, worker: number, session: DownSession, method: string | undefined, answerId: JsonRpcId | undefined) {
    super(host, rid, worker, session, method);
    this.answerId = answerId;
  }

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.host.finished(this, status);
  }

  json(body: string): void {
    this.bytes += body.length;
    this.host.push(this.session.sid, body, null);
    this.finish(200);
  }
  accepted(): void {
    this.finish(202);
  }
  streamStart(): void {}
  event(data: string): void {
    this.bytes += data.length;
    this.host.push(this.session.sid, data, this.rid);
  }
  streamEnd(): void {
    this.finish(200);
  }
  fail(code: ErrorCode, message: string): void {
    if (this.answerId !== undefined) this.host.push(this.session.sid, jsonRpcErrorBody(this.answerId, code, message), null);
    this.finish(WIRE[code].status);
  }
  errorBody(status: number, body: string): void {
    this.bytes += body.length;
    if (this.answerId !== undefined) this.host.push(this.session.sid, body, null);
    this.finish(status);
  }
}
