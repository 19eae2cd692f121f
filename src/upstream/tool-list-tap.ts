/**
 * Learning x-mcp-header specs from a pass-through `tools/list` (2026-07-28, server/tools
 * "x-mcp-header"): the reply goes to the client unchanged; afterwards (setImmediate, so the bytes
 * are handed on first and the parse is off the reply's path) the result is parsed once and each
 * tool's mirrored parameters are reported. Only tools/list replies are tapped: they are rare,
 * bounded by the reply size limits like any reply, and this is the one place a 2026 result body is
 * parsed in full. Every other request keeps the untouched sink.
 */
import type { ProxyError } from '../errors.js';
import type { ParamHeaderSpec } from '../era/headers2026.js';
import { paramHeadersOf } from '../era/tool-headers.js';
import { MsgKind, parseEnvelope } from './jsonrpc-envelope.js';
import type { ReplySink } from './types.js';

/** At most this many tools (with mirrored parameters) are reported per result; the acceptor caps the same. */
export const MAX_TOOLS_REPORTED = 1024;

export type ToolSpecs = [string, ParamHeaderSpec[]][];

/**
 * The tools of a tools/list response message that declare valid x-mcp-header annotations, or
 * undefined when `message` is not a successful tools/list result (an error, a notification, junk).
 * Tools whose annotations break the rules (paramHeadersOf ok:false) are left out: the spec has
 * clients drop them from tools/list, so a conforming client never calls them, and the proxy cannot
 * map headers it cannot read; such a call is forwarded as before and its upstream decides.
 */
export function toolSpecsOf(message: string): ToolSpecs | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null) return undefined;
  const result = (msg as { result?: unknown }).result;
  if (typeof result !== 'object' || result === null) return undefined;
  const tools = (result as { tools?: unknown }).tools;
  if (!Array.isArray(tools)) return undefined;
  const out: ToolSpecs = [];
  for (const t of tools) {
    if (out.length >= MAX_TOOLS_REPORTED) break;
    if (typeof t !== 'object' || t === null) continue;
    const { name, inputSchema } = t as { name?: unknown; inputSchema?: unknown };
    if (typeof name !== 'string') continue;
    const h = paramHeadersOf(inputSchema);
    if (h.ok && h.params.length > 0) out.push([name, h.params]);
  }
  return out;
}

/** True when the tools/list request body asked for a later page (`params.cursor`). */
export function asksLaterPage(body: string): boolean {
  try {
    const m = JSON.parse(body) as { params?: { cursor?: unknown } };
    return typeof m.params?.cursor === 'string';
  } catch {
    return false;
  }
}

/**
 * A ReplySink that passes everything to `inner` and, once the reply carried the JSON-RPC response
 * (a JSON body, or the response event of an SSE reply), calls `found` with its tools. Optional
 * members of `inner` stay optional (the Exchange tests for errorBody and onClose).
 */
export class ToolListTap implements ReplySink {
  errorBody?: (status: number, body: string) => void;
  onClose?: (fn: () => void) => void;
  private done = false;

  constructor(private readonly inner: ReplySink, private readonly found: (tools: ToolSpecs) => void) {
    if (inner.errorBody) this.errorBody = (status, body) => inner.errorBody?.(status, body);
    if (inner.onClose) this.onClose = (fn) => inner.onClose?.(fn);
  }

  get closed(): boolean {
    return this.inner.closed;
  }

  json(body: string): void {
    this.inner.json(body);
    this.look(body);
  }

  startStream(): void {
    this.inner.startStream();
  }

  event(json: string, id?: string): boolean {
    const more = this.inner.event(json, id);
    // Progress and other notifications share the stream; only the response holds the result.
    if (!this.done && parseEnvelope(json).kind === MsgKind.Response) this.look(json);
    return more;
  }

  onResume(fn: () => void): void {
    this.inner.onResume(fn);
  }

  end(): void {
    this.inner.end();
  }

  accepted(): void {
    this.inner.accepted();
  }

  fail(err: ProxyError): void {
    this.inner.fail(err);
  }

  private look(message: string): void {
    if (this.done) return;
    this.done = true;
    setImmediate(() => {
      const tools = toolSpecsOf(message);
      if (tools !== undefined) this.found(tools);
    });
  }
}
