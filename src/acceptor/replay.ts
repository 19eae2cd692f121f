/**
 * Downstream resumability (Streamable HTTP 2025-11-25, "Resumability and Redelivery"): every SSE
 * event the proxy writes to a Streamable HTTP client carries an id, and a client that reconnects
 * with GET + `Last-Event-ID` is served from a bounded per-session buffer.
 *
 * Ids are `<stream>-<seq>`: `seq` counts every event of the session (so ids are unique within it,
 * as the spec requires), `stream` says which stream carried it: 0 for the session's standalone
 * GET stream (each GET of the session continues it), 1, 2, … for POST reply streams. The spec
 * forbids replaying one stream's messages on another, so only the standalone stream is replayed:
 *  - resuming stream 0: the events after the id that the buffer still holds, then live. When more
 *    was sent than the buffer keeps (`limits.replay_buffer_bytes`), the stream starts with a
 *    `notifications/message` warning saying how many events were lost;
 *  - resuming a POST stream: its request was abandoned upstream when the client left (a cut reply
 *    is not resumed), so the client gets a JSON-RPC error for that request at once instead of
 *    waiting for an answer that cannot come; then the stream goes on as the standalone stream.
 */

export const STANDALONE_STREAM = 0;
/** POST streams whose request id is remembered for a resume (the newest ones). */
const MAX_POST_STREAMS = 64;

interface Entry {
  seq: number;
  data: string;
}

export type ResumePlan =
  | { stream: 'standalone'; events: Array<{ id: string; data: string }>; lost: number }
  /** `requestId` is the JSON text of the cut POST's request id, or undefined if forgotten. */
  | { stream: 'post'; requestId: string | undefined };

export class ReplayBuffer {
  private readonly entries: Entry[] = [];
  private head = 0;
  private bytes = 0;
  private seq = 0;
  private nextStream = 1;
  /** Standalone events evicted so far, with the seq of the newest one. */
  private evictedCount = 0;
  private readonly evictedSeqs: number[] = [];
  private readonly postStreams = new Map<number, string>();
  private readonly maxBytes: () => number;

  constructor(maxBytes: () => number) {
    this.maxBytes = maxBytes;
  }

  /** A number for a new POST reply stream; `requestIdJson` is its request's id as JSON text. */
  newStream(requestIdJson: string): number {
    const n = this.nextStream++;
    this.postStreams.set(n, requestIdJson);
    if (this.postStreams.size > MAX_POST_STREAMS) this.postStreams.delete(this.postStreams.keys().next().value!);
    return n;
  }

  /** The id for the next event on `stream`; standalone events are kept for replay. */
  record(stream: number, data: string): string {
    const seq = ++this.seq;
    if (stream === STANDALONE_STREAM) this.keep(seq, data);
    return `${stream}-${seq}`;
  }

  /**
   * What to send a client resuming after `lastEventId`, or undefined when the id is not one this
   * session handed out (malformed, or ahead of it): the caller then opens the stream fresh.
   */
  plan(lastEventId: string): ResumePlan | undefined {
    const m = /^(\d{1,9})-(\d{1,15})$/.exec(lastEventId);
    if (m === null) return undefined;
    const stream = Number(m[1]);
    const after = Number(m[2]);
    if (after > this.seq || stream >= this.nextStream) return undefined;
    if (stream !== STANDALONE_STREAM) return { stream: 'post', requestId: this.postStreams.get(stream) };
    const events: Array<{ id: string; data: string }> = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.seq > after) events.push({ id: `${STANDALONE_STREAM}-${e.seq}`, data: e.data });
    }
    let lost = 0;
    for (const seq of this.evictedSeqs) if (seq > after) lost++;
    return { stream: 'standalone', events, lost };
  }

  private keep(seq: number, data: string): void {
    const max = this.maxBytes();
    this.entries.push({ seq, data });
    this.bytes += data.length;
    while (this.bytes > max && this.head < this.entries.length) {
      const old = this.entries[this.head]!;
      this.entries[this.head++] = undefined as unknown as Entry;
      this.bytes -= old.data.length;
      this.evictedCount++;
      this.evictedSeqs.push(old.seq);
      // Only a count is reported, and only for ids this recent: a bounded memory of seqs.
      if (this.evictedSeqs.length > MAX_EVICTED_SEQS) this.evictedSeqs.splice(0, this.evictedSeqs.length - MAX_EVICTED_SEQS);
    }
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** How many evicted standalone events are remembered to count a loss (seqs, not data). */
const MAX_EVICTED_SEQS = 4096;
