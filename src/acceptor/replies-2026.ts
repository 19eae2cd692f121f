/**
 * The reply to one 2026-07-28 POST (pass-through to a 2026 upstream): the same Reply contract as
 * the session-era PostReply (replies.ts), without a DownSession. There is no session to carry
 * server messages (2026 has none outside a request's own stream), no session id to hand out and
 * no initialize; flow control is the same credit scheme (threads/flow.ts via SseStream), and a
 * client that closes the stream abandons the upstream exchange (closing IS the cancellation in 2026).
 * Failures decided by the proxy use the 2026 codes (errors.ts rpcCodeFor '2026').
 */
import type { HttpResponse } from './http-types.js';
import { type ErrorCode, type ReplyEra, WIRE, jsonRpcErrorBodyFor } from '../errors.js';
import type { JsonRpcId } from '../upstream/jsonrpc-envelope.js';
import { type Abortable, type ExtraHeaders, writeErrorBody, writeResponse } from './http-util.js';
import { Reply, type ReplyHost } from './replies.js';
import { sseEvent } from './sse-format.js';
import { SseStream } from './sse-stream.js';

/**
 * A JSON-RPC error answer with the codes of `era` (2026: errors.ts rpcCodeFor) and the status (and
 * Retry-After) the error table assigns to `code`. Must run inside the handler or inside `res.cork`.
 */
export function writeEraError(
  res: HttpResponse, era: ReplyEra, code: ErrorCode, message: string, id: JsonRpcId, data?: Record<string, unknown>, headers?: ExtraHeaders,
): number {
  return writeErrorBody(res, code, jsonRpcErrorBodyFor(era, id, code, message, data), headers);
}

export class SessionlessPostReply extends Reply implements Abortable {
  aborted = false;
  private readonly res: HttpResponse;
  private readonly id: JsonRpcId;
  /** SSE keep-alive comments for long replies (subscriptions/listen); 0 = none. */
  private readonly keepaliveMs: number;
  private stream: SseStream | null = null;
  private settled = false;

  constructor(host: ReplyHost, rid: number, worker: number, dest: string, method: string | undefined,
    res: HttpResponse, id: JsonRpcId, keepaliveMs: number) {
    super(host, rid, worker, dest, method);
    this.res = res;
    this.id = id;
    this.keepaliveMs = keepaliveMs;
  }

  /** The client left (or closed the stream): the upstream exchange is abandoned, i.e. cancelled. */
  onAborted(): void {
    this.aborted = true;
    if (this.stream) this.stream.aborted();
    if (!this.settled) {
      this.settled = true;
      this.host.abandon(this.worker, this.rid);
      this.host.finished(this, 499);
    }
  }

  private settle(status: number): void {
    if (this.settled) return;
    this.settled = true;
    this.host.finished(this, status);
  }

  json(body: string): void {
    if (this.aborted || this.settled) return;
    if (this.stream) {
      this.stream.event(body, null);
      this.streamEnd();
      return;
    }
    const res = this.res;
    this.bytes += body.length;
    res.cork(() => writeResponse(res, 200, 'application/json', body));
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
    if (this.aborted || this.settled || this.stream) return;
    const stream = new SseStream(this.res, {
      // rid >= 0: the worker pays the reply's own sink; sid is unused for reply credit.
      credit: (rid, bytes) => this.host.credit(this.worker, rid, '', this.dest, bytes),
      closed: (reason) => {
        if (reason === 'slow') {
          this.host.slowReaderCut(this.dest);
          this.host.abandon(this.worker, this.rid);
          this.settle(503);
        }
      },
    }, this.host.sseLimits);
    this.stream = stream;
    this.res.cork(() => stream.open(undefined, this.keepaliveMs));
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
      this.stream.end(sseEvent(jsonRpcErrorBodyFor('2026', this.id, code, message)));
      this.settle(WIRE[code].status);
      return;
    }
    const res = this.res;
    let status = 0;
    res.cork(() => {
      status = writeEraError(res, '2026', code, message, this.id);
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
