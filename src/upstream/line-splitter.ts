/**
 * Newline-delimited JSON framing for stdio children: splitting their output into lines, telling
 * messages from stray text, putting outgoing messages on one line, and logging text lines
 * (stderr) without letting a chatty child flood the log.
 *
 * LineSplitter works on Buffers, not strings: 0x0A never occurs inside a multi-byte UTF-8 sequence, so splitting
 * bytes first and decoding whole lines afterwards is correct even when a character straddles two
 * chunks. Each byte is scanned once (indexOf from the last position), and a partial line is held as
 * a list of chunk slices that is joined only when its newline arrives, so a line delivered in many
 * chunks costs one copy, not a quadratic re-scan. At most `maxLineBytes` of one partial line is held:
 * past that the line is abandoned and everything up to the next newline is discarded.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import { MsgKind, parseEnvelope } from './jsonrpc-envelope.js';

export interface LineSink {
  /** One complete line, decoded as UTF-8, without its `\n` and without a trailing `\r`. */
  onLine(line: string): void;
  /** A line grew past the limit and is being dropped; called once per such line. */
  onOversize(heldBytes: number): void;
  /**
   * The dropped line ended: its first and last EDGE_BYTES (they may overlap for a short excess),
   * so the owner can find whose reply it was and fail that request at once.
   */
  onOversizeEnd?(head: Buffer, tail: Buffer, totalBytes: number): void;
}

/** Bytes kept of each end of a dropped line. */
export const EDGE_BYTES = 4096;

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** True while skipping the rest of an oversized line. */
  private dropping = false;
  /** While dropping: the line's first bytes, its last bytes so far, and its length so far. */
  private head: Buffer | undefined;
  private tail: Buffer | undefined;
  private dropped = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly sink: LineSink,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    let nl = chunk.indexOf(LF, start);
    while (nl !== -1) {
      if (this.dropping) {
        this.dropping = false;
        this.keepTail(chunk.subarray(start, nl));
        this.endOversize(this.dropped + (nl - start));
      } else {
        const len = this.partBytes + (nl - start);
        if (len > this.maxLineBytes) {
          this.sink.onOversize(len);
          this.parts.push(chunk.subarray(start, nl));
          this.startEdges();
          this.endOversize(len);
        } else if (this.partBytes === 0) {
          this.emit(chunk, start, nl);
        } else {
          this.parts.push(chunk.subarray(start, nl));
          const joined = Buffer.concat(this.parts, len);
          this.emit(joined, 0, len);
        }
      }
      this.parts.length = 0;
      this.partBytes = 0;
      start = nl + 1;
      nl = chunk.indexOf(LF, start);
    }
    const rest = chunk.length - start;
    if (rest === 0) return;
    if (this.dropping) {
      this.keepTail(start === 0 ? chunk : chunk.subarray(start));
      this.dropped += rest;
      return;
    }
    if (this.partBytes + rest > this.maxLineBytes) {
      this.sink.onOversize(this.partBytes + rest);
      this.parts.push(start === 0 ? chunk : chunk.subarray(start));
      this.dropped = this.partBytes + rest;
      this.startEdges();
      this.parts.length = 0;
      this.partBytes = 0;
      this.dropping = true;
      return;
    }
    this.parts.push(start === 0 ? chunk : chunk.subarray(start));
    this.partBytes += rest;
  }

  /** Bytes of the partial line currently held (for tests and diagnostics). */
  get heldBytes(): number {
    return this.partBytes;
  }

  /** Forget any partial line (the stream ended; an unterminated last line is not a message). */
  reset(): void {
    this.parts.length = 0;
    this.partBytes = 0;
    this.dropping = false;
    this.head = undefined;
    this.tail = undefined;
    this.dropped = 0;
  }

  /** From `parts` (the oversized line so far): copy its first and last EDGE_BYTES. */
  private startEdges(): void {
    if (this.sink.onOversizeEnd === undefined) return;
    const first: Buffer[] = [];
    let n = 0;
    for (const p of this.parts) {
      if (n >= EDGE_BYTES) break;
      first.push(p);
      n += p.length;
    }
    this.head = Buffer.from(Buffer.concat(first).subarray(0, EDGE_BYTES));
    this.tail = undefined;
    for (const p of this.parts) this.keepTail(p);
  }

  /** Keep the last EDGE_BYTES seen (copies: chunks are not ours to hold). */
  private keepTail(piece: Buffer): void {
    if (this.head === undefined) return;
    if (piece.length >= EDGE_BYTES) {
      this.tail = Buffer.from(piece.subarray(piece.length - EDGE_BYTES));
      return;
    }
    const joined = this.tail === undefined ? piece : Buffer.concat([this.tail, piece]);
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - EDGE_BYTES)));
  }

  private endOversize(total: number): void {
    const { head, tail } = this;
    this.head = undefined;
    this.tail = undefined;
    this.dropped = 0;
    if (head !== undefined) this.sink.onOversizeEnd?.(head, tail ?? head, total);
  }

  private emit(buf: Buffer, from: number, to: number): void {
    let end = to;
    if (end > from && buf[end - 1] === CR) end--;
    this.sink.onLine(buf.toString('utf8', from, end));
  }
}

/** Framing needs one line per message; raw CR/LF can only be JSON whitespace, so a space is equivalent. */
export function oneLine(json: string): string {
  if (json.indexOf('\n') === -1 && json.indexOf('\r') === -1) return json;
  return json.replace(/[\r\n]/g, ' ');
}

/** Cheap test that a stdout line is a JSON-RPC message rather than a banner or log line. */
export function looksLikeJson(line: string): boolean {
  let i = 0;
  while (i < line.length && (line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09)) i++;
  const first = line.charCodeAt(i);
  if (first === 0x7b /* { */) {
    let j = line.length - 1;
    while (j > i && (line.charCodeAt(j) === 0x20 || line.charCodeAt(j) === 0x09)) j--;
    return line.charCodeAt(j) === 0x7d; /* } */
  }
  // '[' also starts many log lines ("[INFO] ..."); batches are rare, so a full scan is affordable.
  // The scanner, not JSON.parse: it checks the syntax without building the (child-made) value.
  if (first === 0x5b /* [ */) return parseEnvelope(line, false).kind === MsgKind.Batch;
  return false;
}

export function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

/** Longest line (in characters) written to the log. */
const LOG_LINE_CHARS = 2048;

/**
 * Logs each line at info, at most `perSec` a second; the rest are counted and summarised at warn.
 * stderr is a stdio server's own logging channel (MCP stdio transport), so its routine lines are
 * its logs, not the proxy's warnings; losing some of them to the rate limit is the proxy's concern.
 */
export class RateLimitedLineLog implements LineSink {
  private windowStart = 0;
  private inWindow = 0;
  private dropped = 0;

  constructor(
    private readonly log: Logger,
    private readonly perSec: number,
    private readonly bindings: Record<string, unknown>,
  ) {}

  onLine(line: string): void {
    if (line.length === 0) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.flush();
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSec) {
      this.dropped++;
      return;
    }
    this.inWindow++;
    this.log.info(this.bindings, line.length > LOG_LINE_CHARS ? `${line.slice(0, LOG_LINE_CHARS)}…` : line);
  }

  onOversize(heldBytes: number): void {
    this.log.warn({ ...this.bindings, heldBytes }, 'stderr line over the limit dropped');
  }

  /** Log the count of lines dropped in the current window, if any. */
  flush(): void {
    if (this.dropped === 0) return;
    this.log.warn({ ...this.bindings, dropped: this.dropped }, 'lines dropped (rate limit)');
    this.dropped = 0;
  }
}
