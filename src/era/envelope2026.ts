/**
 * The part of a 2026-07-28 request body that routing and validation need, and nothing else:
 * `params.name` (tools/call, prompts/get), `params.uri` (resources/read), the two required
 * `params._meta` fields, `params.requestState` / presence of `params.inputResponses` (the MRTR
 * retry), and the values of `params.arguments` at the property paths that `Mcp-Param-*` headers
 * mirror. Runs after parseEnvelope accepted the text (so `id`/`method` come from there) and reuses
 * its scanner pieces: every value not listed is skipped without being built.
 *
 * Nothing here recurses: objects are walked one level at a time in loops, and nested values are
 * skipped by skipValue, which keeps its own bounded stack. The arguments paths come from the
 * proxy's own tool list (x-mcp-header), never from the client, and their number and depth are capped.
 *
 * Duplicate keys: a body with the same extracted key twice (`name`, `uri`, `params`, `_meta`, the
 * protocol version, an argument on a mirrored path) is refused. JSON.parse keeps the last one and
 * other parsers keep the first or fail; a proxy that validates headers against one copy while the
 * upstream executes the other would defeat the point of header/body validation.
 */
import { afterKey, lastStringHadEscape, scanString, skipValue, skipWs } from '../upstream/jsonrpc-envelope.js';

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

/** At most this many mirrored argument paths per request, each at most this deep (tool schemas are the source). */
export const MAX_ARG_PATHS = 64;
export const MAX_ARG_PATH_DEPTH = 16;

/** A JSON value as far as header comparison needs it. Objects and arrays are never built. */
export type ArgValue =
  | { kind: 'string'; value: string }
  | { kind: 'number'; text: string; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'container' };

export interface Scan2026 {
  ok: true;
  /** `params` is present and an object. */
  hasParams: boolean;
  /** `params.name` / `params.uri` when they are strings; `nameKind`/`uriKind` say what was there. */
  name: string | undefined;
  nameKind: ValueKind;
  uri: string | undefined;
  uriKind: ValueKind;
  /** `_meta["io.modelcontextprotocol/protocolVersion"]` when a string. */
  protocolVersion: string | undefined;
  protocolVersionKind: ValueKind;
  /** `_meta["io.modelcontextprotocol/clientCapabilities"]` is present and an object. */
  hasClientCapabilities: boolean;
  /** MRTR retry: `params.requestState` when a string, and whether `params.inputResponses` is an object. */
  requestState: string | undefined;
  requestStateKind: ValueKind;
  hasInputResponses: boolean;
  /** One entry per requested path: the value there, or undefined when the path is absent. */
  args: (ArgValue | undefined)[];
}
export interface ScanProblem { ok: false; problem: string }

export type ValueKind = 'absent' | 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';

const NO_PATHS: readonly (readonly string[])[] = [];
const TOP_KEYS: readonly string[] = ['params'];
const PARAM_KEYS: readonly string[] = ['name', 'uri', 'requestState', 'inputResponses', '_meta', 'arguments'];
const META_KEYS: readonly string[] = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES];

/** The kind of the JSON value starting at `i` (the text is known to be valid there). */
export function kindAt(s: string, i: number): ValueKind {
  const c = s.charCodeAt(i);
  if (c === 34) return 'string';
  if (c === 123) return 'object';
  if (c === 91) return 'array';
  if (c === 116 || c === 102) return 'boolean';
  if (c === 110) return 'null';
  return 'number';
}

/** The decoded text of the string literal between `start` (opening quote) and `end` (after the closing one). */
function stringText(s: string, start: number, end: number, escaped: boolean): string {
  return escaped ? (JSON.parse(s.slice(start, end)) as string) : s.slice(start + 1, end - 1);
}

/**
 * Calls `visit(key, valueStart)` for each member of the object whose `{` is at `i`. `key` is the
 * entry of `wanted` the member's key equals, or undefined for any other key (unescaped keys are
 * compared in place, so the keys nobody asked for cost no allocation). `visit` returns the index
 * after the value (having scanned or skipped it) or -1. Returns the index after `}`, or -1.
 */
export function eachMember(s: string, i: number, wanted: readonly string[], visit: (key: string | undefined, v: number) => number): number {
  i = skipWs(s, i + 1);
  if (s.charCodeAt(i) === 125) return i + 1;
  for (;;) {
    if (s.charCodeAt(i) !== 34) return -1;
    const keyStart = i;
    i = scanString(s, i);
    if (i < 0) return -1;
    const key = matchKey(s, keyStart, i, lastStringHadEscape(), wanted);
    i = afterKey(s, i);
    if (i < 0) return -1;
    i = visit(key, i);
    if (i < 0) return -1;
    i = skipWs(s, i);
    const c = s.charCodeAt(i);
    if (c === 44) i = skipWs(s, i + 1);
    else if (c === 125) return i + 1;
    else return -1;
  }
}

function matchKey(s: string, start: number, end: number, escaped: boolean, wanted: readonly string[]): string | undefined {
  if (escaped) {
    const text = stringText(s, start, end, true);
    return wanted.includes(text) ? text : undefined;
  }
  const len = end - start - 2;
  for (const w of wanted) if (w.length === len && s.startsWith(w, start + 1)) return w;
  return undefined;
}

class Dup extends Error {}

function once(seen: Set<string>, key: string): void {
  if (seen.has(key)) throw new Dup(key);
  seen.add(key);
}

/** Reads one scalar value at `i` (skipping containers); returns [end, value]. */
function scalarAt(s: string, i: number): [number, ArgValue] {
  const kind = kindAt(s, i);
  if (kind === 'string') {
    const end = scanString(s, i);
    if (end < 0) return [-1, { kind: 'null' }];
    return [end, { kind: 'string', value: stringText(s, i, end, lastStringHadEscape()) }];
  }
  const end = skipValue(s, i);
  if (end < 0) return [-1, { kind: 'null' }];
  if (kind === 'object' || kind === 'array') return [end, { kind: 'container' }];
  if (kind === 'null') return [end, { kind: 'null' }];
  if (kind === 'boolean') return [end, { kind: 'boolean', value: s.charCodeAt(i) === 116 }];
  const text = s.slice(i, end);
  return [end, { kind: 'number', text, value: Number(text) }];
}

/**
 * `params.arguments` at `at`: one walk over its members records where each first path segment's
 * value starts; deeper segments are then looked up level by level inside just those values. Loops
 * only; returns the index after the arguments object.
 */
function scanArguments(s: string, at: number, paths: readonly (readonly string[])[], out: (ArgValue | undefined)[]): number {
  const firsts = [...new Set(paths.map((p) => p[0] as string))];
  const starts = new Map<string, number>();
  const end = eachMember(s, at, firsts, (key, v) => {
    if (key === undefined) return skipValue(s, v);
    if (starts.has(key)) throw new Dup(key);
    starts.set(key, v);
    return skipValue(s, v);
  });
  if (end < 0) return -1;
  for (let k = 0; k < paths.length; k++) {
    const path = paths[k] as readonly string[];
    let v = starts.get(path[0] as string);
    for (let level = 1; v !== undefined && level < path.length; level++) {
      if (kindAt(s, v) !== 'object') {
        v = undefined;
        break;
      }
      const want = [path[level] as string];
      let found: number | undefined;
      const r = eachMember(s, v, want, (key, at2) => {
        if (key !== undefined) {
          if (found !== undefined) throw new Dup(key);
          found = at2;
        }
        return skipValue(s, at2);
      });
      if (r < 0) return -1;
      v = found;
    }
    if (v === undefined) continue;
    const [e, value] = scalarAt(s, v);
    if (e < 0) return -1;
    out[k] = value;
  }
  return end;
}

/**
 * Scan a 2026 request body. `argPaths` are the property paths (from the tool's x-mcp-header
 * annotations) whose values inside `params.arguments` are wanted; the result's `args` lines up with it.
 */
export function scanRequest2026(body: string, argPaths: readonly (readonly string[])[] = NO_PATHS): Scan2026 | ScanProblem {
  if (argPaths.length > MAX_ARG_PATHS) return { ok: false, problem: `more than ${MAX_ARG_PATHS} mirrored parameters` };
  for (const p of argPaths) {
    if (p.length === 0 || p.length > MAX_ARG_PATH_DEPTH) return { ok: false, problem: 'mirrored parameter path out of bounds' };
  }
  const out: Scan2026 = {
    ok: true, hasParams: false,
    name: undefined, nameKind: 'absent', uri: undefined, uriKind: 'absent',
    protocolVersion: undefined, protocolVersionKind: 'absent', hasClientCapabilities: false,
    requestState: undefined, requestStateKind: 'absent', hasInputResponses: false,
    args: argPaths.map(() => undefined),
  };
  const s = body;
  try {
    const i = skipWs(s, 0);
    if (s.charCodeAt(i) !== 123) return { ok: false, problem: 'message must be a JSON object' };
    const top = new Set<string>();
    const end = eachMember(s, i, TOP_KEYS, (key, v) => {
      if (key !== 'params') return skipValue(s, v);
      once(top, key);
      if (kindAt(s, v) !== 'object') return skipValue(s, v);
      out.hasParams = true;
      return scanParams(s, v, out, argPaths);
    });
    if (end < 0 || skipWs(s, end) !== s.length) return { ok: false, problem: 'parse error' };
    return out;
  } catch (err) {
    if (err instanceof Dup) return { ok: false, problem: `duplicate key "${err.message}"` };
    throw err;
  }
}

function scanParams(s: string, at: number, out: Scan2026, argPaths: readonly (readonly string[])[]): number {
  const seen = new Set<string>();
  return eachMember(s, at, PARAM_KEYS, (key, v) => {
    switch (key) {
      case 'name':
      case 'uri':
      case 'requestState': {
        once(seen, key);
        const kind = kindAt(s, v);
        if (kind !== 'string') {
          if (key === 'name') out.nameKind = kind;
          else if (key === 'uri') out.uriKind = kind;
          else out.requestStateKind = kind;
          return skipValue(s, v);
        }
        const e = scanString(s, v);
        if (e < 0) return -1;
        const text = stringText(s, v, e, lastStringHadEscape());
        if (key === 'name') { out.name = text; out.nameKind = kind; }
        else if (key === 'uri') { out.uri = text; out.uriKind = kind; }
        else { out.requestState = text; out.requestStateKind = kind; }
        return e;
      }
      case 'inputResponses':
        once(seen, key);
        out.hasInputResponses = kindAt(s, v) === 'object';
        return skipValue(s, v);
      case '_meta':
        once(seen, key);
        if (kindAt(s, v) !== 'object') return skipValue(s, v);
        return scanMeta(s, v, out);
      case 'arguments':
        once(seen, key);
        if (argPaths.length === 0 || kindAt(s, v) !== 'object') return skipValue(s, v);
        return scanArguments(s, v, argPaths, out.args);
      default:
        return skipValue(s, v);
    }
  });
}

function scanMeta(s: string, at: number, out: Scan2026): number {
  const seen = new Set<string>();
  return eachMember(s, at, META_KEYS, (key, v) => {
    if (key === META_PROTOCOL_VERSION) {
      once(seen, key);
      const kind = kindAt(s, v);
      out.protocolVersionKind = kind;
      if (kind !== 'string') return skipValue(s, v);
      const e = scanString(s, v);
      if (e < 0) return -1;
      out.protocolVersion = stringText(s, v, e, lastStringHadEscape());
      return e;
    }
    if (key === META_CLIENT_CAPABILITIES) {
      once(seen, key);
      out.hasClientCapabilities = kindAt(s, v) === 'object';
    }
    return skipValue(s, v);
  });
}
