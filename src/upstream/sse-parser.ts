/**
 * Streaming Server-Sent Events parser (WHATWG "event stream interpretation") over arbitrary byte
 * chunks. Field parsing is `eventsource-parser`; this wrapper owns what it leaves to the caller:
 *  - UTF-8 decoding with a streaming TextDecoder, so a multi-byte character split across chunks
 *    survives.
 *  - The one leading U+FEFF BOM. The library only recognises the BOM as three raw bytes
 *    (0xEF 0xBB 0xBF as chars), which never appear once text is decoded; we strip it ourselves.
 *  - A chunk that ends in CR. The library holds such a CR back (it might be the first half of a
 *    CRLF), which delays a CR-terminated event until the next chunk and loses it at end of stream.
 *    We treat the CR as a terminator at once by feeding a synthetic LF (CR LF is one terminator)
 *    and drop a real LF if it starts the next chunk.
 *
 * `id` on an event is the `id` field of that event's block (undefined if the block had none);
 * consumers that need the spec's persistent "last event ID" keep the last defined one. A block with
 * an `id` but no `data` is never dispatched (spec) and, as the library resets it, not reported.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';

export interface SseEvent {
  data: string;
  event: string | undefined;
  id: string | undefined;
}

export interface SseParser {
  push(chunk: Uint8Array | string): void;
  /** End of stream: an event not yet terminated by a blank line is discarded (spec). */
  end(): void;
  /** Forget everything (new connection). */
  reset(): void;
}

export interface SseHandlers {
  onEvent(e: SseEvent): void;
  onRetry?(ms: number): void;
  onComment?(text: string): void;
}

export interface SseParserOptions {
  /**
   * Most characters buffered for one incomplete line or event. Past it the parser stops, calls
   * `onOverflow`, and ignores input until `reset()`. Unbounded when omitted.
   */
  maxBufferChars?: number;
  onOverflow?(): void;
}

const LF = 10;
const CR = 13;
const BOM = 0xfeff;

class StreamingSseParser implements SseParser {
  private readonly parser: EventSourceParser;
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private atStart = true;
  private skipLeadingLf = false;
  private overflowed = false;

  constructor(handlers: SseHandlers, opts: SseParserOptions) {
    const onEvent = handlers.onEvent;
    this.parser = createParser({
      // The library's message object already has exactly our shape; normalise `event`/`id` to
      // always-present keys so consumers see a stable hidden class.
      onEvent: (m) => onEvent({ data: m.data, event: m.event, id: m.id }),
      onRetry: handlers.onRetry ? (ms) => handlers.onRetry?.(ms) : undefined,
      onComment: handlers.onComment ? (t) => handlers.onComment?.(t) : undefined,
      onError: (err) => {
        if (err.type === 'max-buffer-size-exceeded') {
          this.overflowed = true;
          opts.onOverflow?.();
        }
        // unknown-field / invalid-retry: the spec says ignore the line, which the library did.
      },
      maxBufferSize: opts.maxBufferChars,
    });
  }

  push(chunk: Uint8Array | string): void {
    if (this.overflowed) return;
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.feedText(text);
  }

  end(): void {
    if (!this.overflowed) this.feedText(this.decoder.decode());
    this.reset();
  }

  reset(): void {
    this.parser.reset();
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    this.atStart = true;
    this.skipLeadingLf = false;
    this.overflowed = false;
  }

  private feedText(text: string): void {
    if (text.length === 0) return;
    let start = 0;
    if (this.skipLeadingLf) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    if (this.atStart) {
      this.atStart = false;
      if (text.charCodeAt(start) === BOM) start++;
    }
    if (start > 0) text = text.slice(start);
    if (text.length === 0) return;
    if (text.charCodeAt(text.length - 1) === CR) {
      text += '\n';
      this.skipLeadingLf = true;
    }
    this.parser.feed(text);
  }
}

export function createSseParser(handlers: SseHandlers, opts: SseParserOptions = {}): SseParser {
  return new StreamingSseParser(handlers, opts);
}
