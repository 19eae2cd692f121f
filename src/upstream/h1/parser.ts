/**
 * An incremental HTTP/1.1 response parser (RFC 9112) for the upstream client (h1/connection.ts).
 * It reads what an MCP server sends: a status line and headers, then a body framed by
 * Content-Length, by chunked transfer coding, or by the close of the connection; 1xx interim
 * responses are skipped. Loops only (no recursion on peer data), bounded head and chunk lines,
 * body bytes handed on as views of the socket's own buffers (no copy).
 *
 * Why not llhttp through undici: measured in bench/RESULTS.md (issue 13), undici's JS around its
 * parser was the largest share of a worker's time per request; this parser costs a few indexOf
 * calls per reply.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { H1Error, H1ErrorCode } from './errors.js';

/** The most bytes a response head (status line + headers) may take. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** The most bytes of a chunk extension or of one trailer line. */
const MAX_LINE_BYTES = 4 * 1024;

export interface ResponseListener {
  /** The final head (never a 1xx). `keepAlive`: the connection may carry another request after it. */
  onHead(status: number, headers: IncomingHttpHeaders, keepAlive: boolean): void;
  /** Body bytes: a view of the buffer the socket read, the listener's to keep. */
  onBody(chunk: Buffer): void;
  /** The body is complete. */
  onEnd(): void;
}

const enum State {
  Head,
  Length,
  /** Hex digits of a chunk size. */
  ChunkSize,
  /** A chunk extension (";name=value"), skipped up to its CR. */
  ChunkExt,
  /** The LF ending a chunk-size line. */
  ChunkSizeLF,
  ChunkData,
  /** The CR LF after a chunk's data. */
  ChunkDataCR,
  ChunkDataLF,
  Trailers,
  UntilClose,
  Done,
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** One response on one connection at a time; `reset` before the next request's response. */
export class ResponseParser {
  private state = State.Done;
  /** Bytes of an unfinished head, kept across reads. */
  private partial: Buffer | undefined;
  private remaining = 0;
  /** Hex digits read of the current chunk size. */
  private digits = 0;
  /** Bytes read of the current chunk extension or trailer line; whether the last was a CR. */
  private lineBytes = 0;
  private lastCR = false;
  /** After onEnd: bytes that arrived beyond the response (a server must not send them). */
  extra = false;

  constructor(private readonly l: ResponseListener) {}

  /** Expect the head of a new response. */
  reset(): void {
    this.state = State.Head;
    this.partial = undefined;
    this.remaining = 0;
    this.digits = 0;
    this.extra = false;
  }

  /** True while the response's body ends only with the connection (no length, not chunked). */
  get untilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /** True once the response is complete. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** True while no byte of the response head has arrived. */
  get awaitingHead(): boolean {
    return this.state === State.Head && this.partial === undefined;
  }

  /**
   * The peer closed the connection: a close-delimited body ends here (true); anything else
   * unfinished is a cut reply (false).
   */
  close(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.l.onEnd();
      return true;
    }
    return this.state === State.Done;
  }

  /** Parse the bytes of one socket read. Throws H1Error on a malformed response. */
  feed(buf: Buffer): void {
    let at = 0;
    const n = buf.length;
    while (at < n) {
      switch (this.state) {
        case State.Head: {
          const end = this.headEnd(buf, at);
          if (end < 0) return;
          at = end;
          break;
        }
        case State.Length:
          at = this.body(buf, at, State.Done);
          if (this.remaining === 0) this.l.onEnd();
          break;
        // Chunk framing is read byte by byte (no strings, no regex): on an event stream every
        // event is its own chunk, so this runs per event.
        case State.ChunkSize: {
          const c = buf[at++] as number;
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.digits > 12) throw new H1Error(H1ErrorCode.Parse, 'invalid chunk size');
            this.remaining = this.remaining * 16 + d;
          } else if (this.digits === 0) {
            throw new H1Error(H1ErrorCode.Parse, 'invalid chunk size');
          } else if (c === 0x0d) {
            this.state = State.ChunkSizeLF;
          } else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) {
            this.state = State.ChunkExt;
            this.lineBytes = 0;
          } else {
            throw new H1Error(H1ErrorCode.Parse, 'invalid chunk size');
          }
          break;
        }
        case State.ChunkExt: {
          const cr = buf.indexOf(0x0d, at);
          const end = cr < 0 ? n : cr;
          this.lineBytes += end - at;
          if (this.lineBytes > MAX_LINE_BYTES) throw new H1Error(H1ErrorCode.Parse, 'chunk extension too long');
          at = end;
          if (cr >= 0) {
            at++;
            this.state = State.ChunkSizeLF;
          }
          break;
        }
        case State.ChunkSizeLF: {
          if (buf[at++] !== 0x0a) throw new H1Error(H1ErrorCode.Parse, 'chunk size line not ended by CRLF');
          this.digits = 0;
          this.lineBytes = 0;
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          break;
        }
        case State.ChunkData:
          at = this.body(buf, at, State.ChunkDataCR);
          break;
        case State.ChunkDataCR: {
          if (buf[at++] !== 0x0d) throw new H1Error(H1ErrorCode.Parse, 'chunk data not followed by CRLF');
          this.state = State.ChunkDataLF;
          break;
        }
        case State.ChunkDataLF: {
          if (buf[at++] !== 0x0a) throw new H1Error(H1ErrorCode.Parse, 'chunk data not followed by CRLF');
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // Trailer fields are skipped (the proxy has no use for them), a line at a time up to
          // its LF; the empty line (CR LF, or a bare LF: RFC 9112 §2.2) ends the response.
          const lf = buf.indexOf(0x0a, at);
          const end = lf < 0 ? n : lf;
          if (end > at) this.lastCR = buf[end - 1] === 0x0d;
          this.lineBytes += end - at;
          if (this.lineBytes > MAX_LINE_BYTES) throw new H1Error(H1ErrorCode.Parse, 'trailer line too long');
          at = end;
          if (lf < 0) break;
          at++;
          const empty = this.lineBytes === 0 || (this.lineBytes === 1 && this.lastCR);
          this.lineBytes = 0;
          if (empty) {
            this.state = State.Done;
            this.l.onEnd();
          }
          break;
        }
        case State.UntilClose:
          this.l.onBody(at === 0 ? buf : buf.subarray(at));
          return;
        case State.Done:
          this.extra = true;
          return;
      }
    }
  }

  /**
   * Hand on the next of the `remaining` body bytes that `buf` holds from `at`, as one view;
   * `then` is the state once they are all read. Returns where parsing goes on.
   */
  private body(buf: Buffer, at: number, then: State): number {
    const take = Math.min(this.remaining, buf.length - at);
    this.remaining -= take;
    if (this.remaining === 0) this.state = then;
    this.l.onBody(buf.subarray(at, at + take));
    return at + take;
  }

  /** Collect the head; returns where the body starts, or -1 when more bytes are needed. */
  private headEnd(buf: Buffer, at: number): number {
    let data = buf;
    let from = at;
    if (this.partial !== undefined) {
      const start = Math.max(0, this.partial.length - 3);
      data = Buffer.concat([this.partial, buf.subarray(at)]);
      from = 0;
      const end = data.indexOf(HEAD_END, start);
      if (end < 0) return this.keepPartial(data);
      this.partial = undefined;
      this.head(data.toString('latin1', 0, end));
      // Where the body starts in `buf`: the head's bytes beyond `partial` were buf[at ..].
      return at + (end + 4 - (data.length - (buf.length - at)));
    }
    const end = data.indexOf(HEAD_END, from);
    if (end < 0) return this.keepPartial(data.subarray(from));
    this.head(data.toString('latin1', from, end));
    return end + 4;
  }

  private keepPartial(data: Buffer): number {
    if (data.length > MAX_HEAD_BYTES) throw new H1Error(H1ErrorCode.Parse, `response head over ${MAX_HEAD_BYTES} bytes`);
    this.partial = Buffer.from(data); // a copy: the socket's buffer is not ours to pin
    return -1;
  }

  /** Parse a complete head (without its final CRLF CRLF) and choose the body's framing. */
  private head(text: string): void {
    const eol = text.indexOf('\r\n');
    const statusLine = eol < 0 ? text : text.slice(0, eol);
    // "HTTP/1.1 200 OK": version, a three-digit status, an optional reason.
    if (!statusLine.startsWith('HTTP/1.') || statusLine.charCodeAt(8) !== 0x20) {
      throw new H1Error(H1ErrorCode.Parse, 'malformed status line');
    }
    const minor = statusLine.charCodeAt(7) - 0x30;
    const status = Number(statusLine.slice(9, 12));
    if (!(status >= 100 && status <= 999) || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 0x20) || (minor !== 0 && minor !== 1)) {
      throw new H1Error(H1ErrorCode.Parse, 'malformed status line');
    }
    const headers: IncomingHttpHeaders = {};
    let pos = eol < 0 ? text.length : eol + 2;
    while (pos < text.length) {
      let next = text.indexOf('\r\n', pos);
      if (next < 0) next = text.length;
      const colon = text.indexOf(':', pos);
      if (colon < 0 || colon >= next || colon === pos) throw new H1Error(H1ErrorCode.Parse, 'malformed header line');
      const c0 = text.charCodeAt(pos);
      if (c0 === 0x20 || c0 === 0x09) throw new H1Error(H1ErrorCode.Parse, 'obsolete header line folding');
      const name = text.slice(pos, colon).toLowerCase();
      const value = text.slice(colon + 1, next).trim();
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [prev, value];
      pos = next + 2;
    }
    if (status < 200) {
      if (status === 101) throw new H1Error(H1ErrorCode.Parse, 'unexpected protocol switch (101)');
      // An interim response (100 Continue, 103 Early Hints): the final one follows.
      this.state = State.Head;
      return;
    }
    const connection = lower(headers.connection);
    let keepAlive = minor === 1 ? !connection.includes('close') : connection.includes('keep-alive');
    const te = lower(headers['transfer-encoding']);
    if (status === 204 || status === 304) {
      this.state = State.Done;
    } else if (te !== '') {
      // RFC 9112 §6.3: chunked as the final coding frames the body; any other coding runs to close.
      if (te.endsWith('chunked')) this.state = State.ChunkSize;
      else {
        this.state = State.UntilClose;
        keepAlive = false;
      }
    } else if (headers['content-length'] !== undefined) {
      this.remaining = contentLength(headers['content-length']);
      this.state = this.remaining === 0 ? State.Done : State.Length;
    } else {
      this.state = State.UntilClose;
      keepAlive = false;
    }
    this.l.onHead(status, headers, keepAlive);
    if (this.state === State.Done) this.l.onEnd();
  }
}

function lower(v: string | string[] | undefined): string {
  if (v === undefined) return '';
  return (Array.isArray(v) ? v.join(',') : v).toLowerCase();
}

/** Content-Length: digits; repeated values must agree (RFC 9110 §8.6). */
function contentLength(v: string | string[]): number {
  // Nearly every reply: one value, digits only (a profile had the split + regex at ~2 % of a worker).
  if (typeof v === 'string' && v.length > 0 && v.length <= 15) {
    let n = 0;
    let i = 0;
    for (; i < v.length; i++) {
      const d = v.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === v.length) return n;
  }
  const parts = (Array.isArray(v) ? v.join(',') : v).split(',');
  let len = -1;
  for (const p of parts) {
    const s = p.trim();
    if (!/^\d{1,15}$/.test(s)) throw new H1Error(H1ErrorCode.Parse, 'invalid content-length');
    const n = Number(s);
    if (len !== -1 && n !== len) throw new H1Error(H1ErrorCode.Parse, 'conflicting content-length values');
    len = n;
  }
  return len;
}

/** The value of a hex digit byte, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20; // ASCII lower case
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}
