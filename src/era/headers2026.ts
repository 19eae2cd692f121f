/**
 * 2026-07-28 request headers checked against the body (basic/transports/streamable-http, "Request
 * Metadata" and "Server Validation"): `Mcp-Method` on every request, `Mcp-Name` on tools/call,
 * prompts/get (params.name) and resources/read (params.uri), and `Mcp-Param-{Name}` for every tool
 * argument the tool's schema marks with `x-mcp-header`. Any failure is one HeaderMismatch problem
 * (400, -32020). The proxy runs this before it routes, rate-limits or logs anything by these headers:
 * a header that disagrees with the body must never steer a decision the body would not.
 *
 * Values: `Mcp-Name` and `Mcp-Param-*` may use the `=?base64?...?=` form (Base64 of the UTF-8 value);
 * markers are case-sensitive. A plain value must be visible ASCII, space or tab. Method names
 * compare case-sensitively; integer arguments compare numerically (42 equals 42.0).
 *
 * `Mcp-Param-*` headers the proxy has no spec for are not checked: intermediaries MUST forward an
 * unrecognised one and otherwise ignore it (the same section).
 */
import { ErrorCode } from '../errors.js';
import type { ArgValue, Scan2026 } from './envelope2026.js';

export interface HeaderProblem {
  code: typeof ErrorCode.HeaderMismatch;
  message: string;
  /** The header at fault (lower case). */
  header: string;
}

/** One mirrored argument of a tool (from its inputSchema, see tool-headers.ts). */
export interface ParamHeaderSpec {
  /** The x-mcp-header value: the header is `Mcp-Param-{name}`. */
  name: string;
  /** Chain of `properties` keys from the schema root to the annotated property. */
  path: readonly string[];
  type: 'string' | 'integer' | 'boolean';
}

const PREFIX = '=?base64?';
const SUFFIX = '?=';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Visible ASCII, space and tab (RFC 9110 field values as the spec restricts them).
const PLAIN = /^[\t\x20-\x7e]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The value a header carries, Base64 sentinel decoded; null when it is malformed. */
export function decodeHeaderValue(raw: string): string | null {
  if (!PLAIN.test(raw)) return null;
  if (!(raw.startsWith(PREFIX) && raw.endsWith(SUFFIX) && raw.length >= PREFIX.length + SUFFIX.length)) return raw;
  const b64 = raw.slice(PREFIX.length, raw.length - SUFFIX.length);
  if (!BASE64.test(b64)) return null;
  try {
    return utf8.decode(Buffer.from(b64, 'base64'));
  } catch {
    return null;
  }
}

/** How a client (or the proxy, towards a 2026 upstream) writes `value` into a header. */
export function encodeHeaderValue(value: string): string {
  const needs = !PLAIN.test(value) || /^[ \t]|[ \t]$/.test(value) || (value.startsWith(PREFIX) && value.endsWith(SUFFIX));
  return needs ? PREFIX + Buffer.from(value, 'utf8').toString('base64') + SUFFIX : value;
}

/** The body source of Mcp-Name for a method, or undefined when the method has none. */
export function nameSource(method: string): 'name' | 'uri' | undefined {
  if (method === 'tools/call' || method === 'prompts/get') return 'name';
  if (method === 'resources/read') return 'uri';
  return undefined;
}

function mismatch(header: string, message: string): HeaderProblem {
  return { code: ErrorCode.HeaderMismatch, message: `Header mismatch: ${message}`, header };
}

/** The string form a mirrored argument takes in its header (streamable-http "Value Encoding"). */
function argMatches(spec: ParamHeaderSpec, header: string, body: ArgValue): boolean {
  switch (spec.type) {
    case 'string':
      return body.kind === 'string' && body.value === header;
    case 'boolean':
      return body.kind === 'boolean' && header === (body.value ? 'true' : 'false');
    case 'integer': {
      if (body.kind !== 'number' || !/^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(header)) return false;
      return Number(header) === body.value && Number.isFinite(body.value);
    }
  }
}

/**
 * Check the headers of one 2026 request (not a notification: the revision defines no header
 * rules for notification POSTs) against its scanned body. `get` returns a header by
 * lower-case name ('' when absent, as HttpRequest.getHeader). `params` are the mirrored arguments
 * of the called tool (empty unless method is tools/call and the tool has x-mcp-header annotations);
 * `scan.args` must line up with them (scanRequest2026 with the same paths). Returns null when all agree.
 */
export function checkHeaders2026(
  get: (lowerName: string) => string, method: string, scan: Scan2026, params: readonly ParamHeaderSpec[] = [],
): HeaderProblem | null {
  const m = get('mcp-method');
  if (m === '') return mismatch('mcp-method', 'required Mcp-Method header is missing');
  if (!PLAIN.test(m)) return mismatch('mcp-method', 'Mcp-Method header has invalid characters');
  if (m !== method) return mismatch('mcp-method', `Mcp-Method header value '${m}' does not match body value '${method}'`);

  const source = nameSource(method);
  if (source) {
    const raw = get('mcp-name');
    if (raw === '') return mismatch('mcp-name', `required Mcp-Name header is missing for ${method}`);
    const value = decodeHeaderValue(raw);
    if (value === null) return mismatch('mcp-name', 'Mcp-Name header is malformed');
    const body = source === 'name' ? scan.name : scan.uri;
    if (body === undefined) return mismatch('mcp-name', `Mcp-Name header present but params.${source} is not a string`);
    if (value !== body) return mismatch('mcp-name', `Mcp-Name header value does not match body params.${source}`);
  }

  for (let k = 0; k < params.length; k++) {
    const spec = params[k] as ParamHeaderSpec;
    const header = 'mcp-param-' + spec.name.toLowerCase();
    const raw = get(header);
    const body = scan.args[k];
    const present = body !== undefined && body.kind !== 'null';
    if (raw === '') {
      // A value in the body with no header: "Server MUST reject" (the scenario table).
      if (present) return mismatch(header, `required Mcp-Param-${spec.name} header is missing`);
      continue;
    }
    const value = decodeHeaderValue(raw);
    if (value === null) return mismatch(header, `Mcp-Param-${spec.name} header is malformed`);
    // A header with no body value would let a router act on a value the server never sees.
    if (!present) return mismatch(header, `Mcp-Param-${spec.name} header present but the argument is absent`);
    if (!argMatches(spec, value, body)) return mismatch(header, `Mcp-Param-${spec.name} header value does not match the body`);
  }
  return null;
}

/**
 * The standard and mirrored headers for forwarding a request to a 2026 upstream, derived from the
 * body (the source of truth) rather than copied from the client. Returns [name, value] pairs.
 */
export function headersFromBody2026(method: string, scan: Scan2026, params: readonly ParamHeaderSpec[] = []): [string, string][] {
  const out: [string, string][] = [['Mcp-Method', method]];
  const source = nameSource(method);
  const name = source === 'name' ? scan.name : source === 'uri' ? scan.uri : undefined;
  if (name !== undefined) out.push(['Mcp-Name', encodeHeaderValue(name)]);
  for (let k = 0; k < params.length; k++) {
    const spec = params[k] as ParamHeaderSpec;
    const v = scan.args[k];
    if (v === undefined || v.kind === 'null' || v.kind === 'container') continue;
    const text = v.kind === 'string' ? v.value : v.kind === 'boolean' ? String(v.value) : String(v.value);
    out.push([`Mcp-Param-${spec.name}`, encodeHeaderValue(text)]);
  }
  return out;
}
