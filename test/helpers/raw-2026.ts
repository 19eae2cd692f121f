/**
 * Raw MCP 2026-07-28 client pieces for tests (no SDK speaks 2026 yet): request bodies with the
 * required `_meta`, the standard headers, and an SSE reader over fetch's body.
 */
import { createParser } from 'eventsource-parser';

export const V2026 = '2026-07-28';

export function meta2026(extra: Record<string, unknown> = {}, caps: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': V2026,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': caps,
    ...extra,
  };
}

export function body2026(id: number | string, method: string, params: Record<string, unknown> = {}, caps: Record<string, unknown> = {}): string {
  const { _meta, ...rest } = params as { _meta?: Record<string, unknown> };
  return JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...rest, _meta: meta2026(_meta, caps) } });
}

/** The headers a conforming client sends for `method` (plus overrides; a value of null removes one). */
export function headers2026(method: string, name?: string, extra: Record<string, string | null> = {}): Record<string, string> {
  const h: Record<string, string | null> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': V2026,
    'mcp-method': method,
    ...(name !== undefined ? { 'mcp-name': name } : {}),
    ...extra,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== null) out[k] = v;
  return out;
}

export async function post2026(url: string, body: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body, signal: signal ?? null });
}

/** Reads SSE `data` payloads (parsed JSON) from a response body, one at a time. */
export class SseReader {
  private readonly queue: unknown[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  readonly comments: string[] = [];

  constructor(res: Response) {
    const parser = createParser({
      onEvent: (ev) => {
        this.queue.push(JSON.parse(ev.data));
        this.wake();
      },
      onComment: (c) => {
        this.comments.push(c);
        this.wake();
      },
    });
    const body = res.body;
    if (!body) throw new Error('no body');
    void (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of body) parser.feed(dec.decode(chunk as Uint8Array, { stream: true }));
      } catch {
        // aborted by the test
      }
      this.ended = true;
      this.wake();
    })();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next message, or null when the stream ended first. Bounded by timeoutMs. */
  async next(timeoutMs = 10_000): Promise<unknown> {
    const end = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.ended) return null;
      if (Date.now() > end) throw new Error('SSE message timed out');
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100).unref();
      });
    }
    return this.queue.shift();
  }
}
