/**
 * The worker's ReplySink: turns a transport's reply calls into thread messages for the acceptor.
 * Flow control is by credit (flow.ts): past the window `event()` returns false so the transport
 * pauses its source, and Credit from the acceptor (sent only once the client socket took the
 * bytes) runs the transport's `onResume` function.
 */
import type { ProxyError } from '../errors.js';
import type { FixedHistogram } from '../observability/histogram.js';
import type { ReplySink } from '../upstream/types.js';
import { CreditGate } from './flow.js';
import { type Outbox, ToMain, type ToMainMsg } from './messages.js';

/** The transport pauses itself when event() returns false; the gate only has to wake it. */
const SELF_PAUSING = (): void => {};

export class ThreadSink implements ReplySink {
  readonly rid: number;
  closed = false;
  private readonly gate = new CreditGate(SELF_PAUSING, () => this.runResume());
  private readonly out: Outbox<ToMainMsg>;
  private readonly done: (rid: number) => void;
  private resume: (() => void) | undefined;
  private closeFn: (() => void) | undefined;
  /** Upstream latency: recorded once, at the first byte of the reply (json or stream start). */
  private latency: FixedHistogram | undefined;
  private t0 = 0;

  constructor(rid: number, out: Outbox<ToMainMsg>, done: (rid: number) => void) {
    this.rid = rid;
    this.out = out;
    this.done = done;
  }

  /** Time this request from now (it is being forwarded) to its first reply byte. */
  timed(h: FixedHistogram): void {
    this.latency = h;
    this.t0 = performance.now();
  }

  private firstByte(): void {
    const h = this.latency;
    if (h === undefined) return;
    this.latency = undefined;
    h.observe((performance.now() - this.t0) / 1000);
  }

  private post(msg: ToMainMsg): void {
    this.out.send(msg);
  }

  private finish(msg: ToMainMsg): void {
    if (this.closed) return;
    this.closed = true;
    this.post(msg);
    this.done(this.rid);
    // A finished sink may stay referenced for a while (the session's deadline table is swept
    // every 500 ms): let go of the producer now, so it does not live into the old generation.
    this.resume = undefined;
  }

  private drop(): void {
    this.closeFn = undefined;
  }

  json(body: string): void {
    if (!this.closed) this.firstByte();
    this.finish({ t: ToMain.Json, rid: this.rid, body });
    this.drop();
  }

  startStream(): void {
    if (this.closed) return;
    this.firstByte();
    this.post({ t: ToMain.StreamStart, rid: this.rid });
  }

  event(json: string): boolean {
    if (this.closed) return false;
    this.post({ t: ToMain.Event, rid: this.rid, data: json });
    return this.gate.sent(json.length);
  }

  /** Registered once per reply; called every time credit lifts a pause. */
  onResume(fn: () => void): void {
    this.resume = fn;
  }

  onClose(fn: () => void): void {
    this.closeFn = fn;
  }

  end(): void {
    this.finish({ t: ToMain.StreamEnd, rid: this.rid });
    this.drop();
  }

  accepted(): void {
    this.finish({ t: ToMain.Accepted, rid: this.rid });
    this.drop();
  }

  errorBody(status: number, body: string): void {
    this.finish({ t: ToMain.ErrorBody, rid: this.rid, status, body });
    this.drop();
  }

  /** Also stops the producer: a failure decided here (a deadline) must abort the upstream work. */
  fail(err: ProxyError): void {
    this.finish({ t: ToMain.Fail, rid: this.rid, code: err.code, message: err.message });
    this.runClose();
  }

  credit(bytes: number): void {
    this.gate.credit(bytes);
  }

  /** The client went away: producers see `closed` and stop; nothing more is posted. */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.done(this.rid);
    // A paused producer wakes, sees `closed` and stops.
    this.runResume();
    this.resume = undefined;
    this.runClose();
  }

  private runResume(): void {
    this.resume?.();
  }

  private runClose(): void {
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }
}
