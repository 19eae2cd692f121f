/**
 * Flow control between a worker (producer of event data) and the acceptor (which writes it to
 * client sockets), in one place. Everything that pauses an upstream or pays for delivered bytes
 * goes through the two classes here; nothing else keeps a count.
 *
 * The rule: per stream (one streamed POST reply, addressed by its rid; or a session's server
 * messages, addressed by rid < 0), the worker may have at most CREDIT_WINDOW characters of event
 * data that the acceptor has not acknowledged. Past the window the worker stops reading that
 * stream's upstream (undici body paused, child stdout paused) until Credit brings it back under
 * half a window. The acceptor acknowledges bytes only once the client socket took them, in
 * batches of CREDIT_BATCH or when the socket drains; so a slow client holds back its own
 * upstream and the acceptor holds about one window per stream at most.
 *
 * Every byte owed is paid exactly once, whatever happens to the stream: written and drained,
 * queued for a stream that is not open (paid at once: the queue is bounded on its own), or lost
 * with a stream that closed (paid when it closes). A stream that ends with credit unpaid would
 * leave its producer paused for ever (the defect this module was written to end: each GET
 * reconnect lost up to a batch, and after ~1 MiB the session's child stayed paused).
 */

export const CREDIT_WINDOW = 1 << 20;
export const CREDIT_BATCH = 64 << 10;
const RESUME_BELOW = CREDIT_WINDOW / 2;

/**
 * The producer's side (worker): counts what it sent and calls `pause` once at the window,
 * `resume` once credit brings it under half a window.
 */
export class CreditGate {
  private unacked = 0;
  private paused = false;
  private readonly onPause: () => void;
  private readonly onResume: () => void;

  constructor(onPause: () => void, onResume: () => void) {
    this.onPause = onPause;
    this.onResume = onResume;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** `bytes` were just sent; false once the window is reached (the source is paused). */
  sent(bytes: number): boolean {
    this.unacked += bytes;
    if (this.unacked < CREDIT_WINDOW) return true;
    if (!this.paused) {
      this.paused = true;
      this.onPause();
    }
    return false;
  }

  credit(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    if (this.paused && this.unacked < RESUME_BELOW) {
      this.paused = false;
      this.onResume();
    }
  }
}

/**
 * The consumer's side (acceptor), one per client stream: what it owes each producer for bytes
 * written to this stream. `due()` pays once a batch accumulated (call it while the socket
 * accepts writes), `payAll()` pays everything (the socket drained, or the stream closed).
 */
export class CreditLedger {
  /** Owed per producer rid; nearly always one entry (a reply, or a session's server messages). */
  private readonly owed = new Map<number, number>();
  private total = 0;
  private readonly pay: (rid: number, bytes: number) => void;

  constructor(pay: (rid: number, bytes: number) => void) {
    this.pay = pay;
  }

  owe(rid: number, bytes: number): void {
    this.owed.set(rid, (this.owed.get(rid) ?? 0) + bytes);
    this.total += bytes;
  }

  due(): void {
    if (this.total >= CREDIT_BATCH) this.payAll();
  }

  payAll(): void {
    if (this.total === 0) return;
    for (const [rid, bytes] of this.owed) this.pay(rid, bytes);
    this.owed.clear();
    this.total = 0;
  }
}
