/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for a proxy that is one hop of a trace.
 *
 * A request's trace comes from the client's `traceparent` header, else from `params._meta.
 * traceparent` in its body (MCP clients that cannot set headers put it there), else the proxy
 * starts one. Upstream, the proxy sends a traceparent with the same trace-id and flags and its own
 * span id as the parent-id (the proxy is the upstream's parent), plus the client's `tracestate`
 * unchanged. A malformed traceparent is treated as absent (the spec's rule: restart the trace, and
 * drop its tracestate, which cannot be trusted without it).
 *
 * What travels to the worker (FrameMsg.trace) is one string: the outgoing traceparent (always
 * TRACEPARENT_LENGTH chars, version 00) followed by the tracestate, if any. Everything here runs
 * once per request on the acceptor thread, so ids come from a CSPRNG pool refilled in blocks
 * (one randomFillSync per ~500 spans, not one per request) and nothing else is allocated but the
 * strings themselves.
 */
import { randomFillSync } from 'node:crypto';

/** `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`. */
export const TRACEPARENT_LENGTH = 55;
/**
 * The spec asks vendors to propagate at least 512 characters of tracestate; longer ones are cut at
 * a list-member boundary (whole entries dropped from the end, as the spec allows), never mid-entry.
 */
export const MAX_TRACESTATE_CHARS = 512;
/** Flags of a trace the proxy starts: sampled, because every request's log line records it. */
const STARTED_FLAGS = '01';

const SHAPE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
/** Visible ASCII and space only: anything else would be refused as a header value (h1/headers.ts). */
const HEADER_SAFE = /^[\x20-\x7e]*$/;

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let poolAt = POOL_BYTES;

/** `bytes` random bytes as lowercase hex, from the pool (refilled from the CSPRNG when used up). */
function randomHex(bytes: number): string {
  if (poolAt + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const s = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return s;
}

/** A span id that is not all zero (the spec forbids it; 2^-64, but checked). */
function newSpanId(): string {
  const s = randomHex(8);
  return s === ZERO_SPAN ? newSpanId() : s;
}

/**
 * True when `v` is a traceparent this proxy accepts: lowercase hex fields of the right lengths, a
 * version other than ff, trace-id and parent-id not all zero. Version 00 must be exactly 55 chars;
 * a higher version may carry more after a '-' (the spec's forward-compatibility rule).
 */
export function validTraceparent(v: string): boolean {
  if (v.length < TRACEPARENT_LENGTH || !SHAPE.test(v)) return false;
  if (v.startsWith('ff')) return false;
  if (v.length > TRACEPARENT_LENGTH && (v.startsWith('00') || v.charCodeAt(TRACEPARENT_LENGTH) !== 0x2d /* - */)) return false;
  return !v.startsWith(ZERO_TRACE, 3) && !v.startsWith(ZERO_SPAN, 36);
}

const META_KEY = '"traceparent"';
/**
 * The body search is bounded: bodies up to SCAN_WHOLE_CHARS are searched whole, longer ones only
 * in their first and last SCAN_END_CHARS (a string search costs ~0.3-0.5 ns per char here, about
 * 20 µs for a 64 KiB body, on the one acceptor thread, for every request without the header).
 * `params._meta` sits near one end in what MCP clients send (the SDK appends it after
 * `arguments`); one buried in the middle of a large body is not found, and a trace is started.
 */
const SCAN_WHOLE_CHARS = 1024;
const SCAN_END_CHARS = 512;
/** How far before the key its `"_meta"` may start (the _meta object's other members). */
const META_REACH = 512;

function findMetaKey(body: string): number {
  if (body.length <= SCAN_WHOLE_CHARS) return body.indexOf(META_KEY);
  const head = body.lastIndexOf(META_KEY, SCAN_END_CHARS);
  return head >= 0 ? head : body.indexOf(META_KEY, body.length - SCAN_END_CHARS);
}

/**
 * A traceparent in the body's `_meta` (`"traceparent":"00-…"`), or '' — used only when the header
 * is absent. No JSON is parsed: a bounded substring search for the key (see SCAN_WHOLE_CHARS),
 * which must follow a `"_meta"` key closely (so an unrelated tool argument does not count), then
 * the 55 chars of its string value.
 */
export function traceparentFromBody(body: string): string {
  let i = findMetaKey(body);
  if (i < 0 || !body.slice(Math.max(0, i - META_REACH), i).includes('"_meta"')) return '';
  i += META_KEY.length;
  while (body.charCodeAt(i) === 0x20) i++;
  if (body.charCodeAt(i++) !== 0x3a /* : */) return '';
  while (body.charCodeAt(i) === 0x20) i++;
  if (body.charCodeAt(i++) !== 0x22 /* " */ || body.charCodeAt(i + TRACEPARENT_LENGTH) !== 0x22) return '';
  const v = body.slice(i, i + TRACEPARENT_LENGTH);
  return validTraceparent(v) ? v : '';
}

/** The client's tracestate made safe to forward: bounded (see MAX_TRACESTATE_CHARS), header-safe, or ''. */
export function boundedTracestate(v: string): string {
  if (v.length > MAX_TRACESTATE_CHARS) {
    const cut = v.lastIndexOf(',', MAX_TRACESTATE_CHARS);
    v = cut > 0 ? v.slice(0, cut).trimEnd() : '';
  }
  return HEADER_SAFE.test(v) ? v : '';
}

/**
 * The trace to send upstream for one request (see the file comment for the format): a child of
 * the client's traceparent (`incoming` from the header, else the body) when valid, else a new
 * trace. `tracestate` is kept only with a valid incoming traceparent.
 */
export function upstreamTrace(header: string, tracestate: string, body: string): string {
  let incoming = header;
  if (incoming === '' || !validTraceparent(incoming)) incoming = body.length > 0 ? traceparentFromBody(body) : '';
  if (incoming === '') return `00-${randomHex(16)}-${newSpanId()}-${STARTED_FLAGS}`;
  const out = `00-${incoming.slice(3, 35)}-${newSpanId()}${incoming.slice(52, 55)}`;
  return tracestate === '' ? out : out + boundedTracestate(tracestate);
}

/** A new trace (the proxy's own span as parent), for exchanges with no client context at hand. */
export function startedTrace(): string {
  return upstreamTrace('', '', '');
}

/** The trace-id of an upstream trace string (for the log line). */
export function traceIdOf(trace: string): string {
  return trace.slice(3, 35);
}

/** The proxy's span id in an upstream trace string (the parent-id the upstream sees). */
export function spanIdOf(trace: string): string {
  return trace.slice(36, 52);
}

/**
 * The trace as request header lines (h1/headers.ts wire form), '' when there is none. The values
 * were validated where the trace was made (validTraceparent, boundedTracestate).
 */
export function traceLines(trace: string): string {
  if (trace.length < TRACEPARENT_LENGTH) return '';
  if (trace.length === TRACEPARENT_LENGTH) return `traceparent: ${trace}\r\n`;
  return `traceparent: ${trace.slice(0, TRACEPARENT_LENGTH)}\r\ntracestate: ${trace.slice(TRACEPARENT_LENGTH)}\r\n`;
}

/**
 * Request headers with the trace added: `base` itself when there is none (no copy), else a copy
 * with `traceparent` (and `tracestate`). Per-request copy on purpose: the pool may hold the headers
 * of a queued request, so a shared object cannot be changed in place.
 */
export function withTrace(base: Record<string, string>, trace: string): Record<string, string> {
  if (trace.length < TRACEPARENT_LENGTH) return base;
  // Object.assign, not spread: measured 6x cheaper on these dash-named keys (bench/micro/trace.bench.ts).
  const h = Object.assign({}, base);
  if (trace.length === TRACEPARENT_LENGTH) {
    h.traceparent = trace;
  } else {
    h.traceparent = trace.slice(0, TRACEPARENT_LENGTH);
    h.tracestate = trace.slice(TRACEPARENT_LENGTH);
  }
  return h;
}
