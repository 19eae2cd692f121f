/**
 * The JSON-RPC envelope of one frame: its kind, `id` and `method`. Frames are forwarded as the
 * bytes received, so the proxy never needs the rest of the message.
 *
 * `parseEnvelope` is a scanner that walks only the top-level object: nested values are skipped
 * without being built, but their syntax is still checked, so anything JSON.parse rejects is a
 * 'parse error' here too (test/jsonrpc-envelope.test.ts checks this against JSON.parse on thousands
 * of generated and mutated messages). `parseEnvelopeSimple` is the JSON.parse reference with the
 * same classification; bench/README.md records why the scanner is the one in use.
 */

export const enum MsgKind { Invalid = 0, Request = 1, Notification = 2, Response = 3, Batch = 4 }
export type JsonRpcId = string | number | null;
export interface Envelope {
  kind: MsgKind;
  id: JsonRpcId;
  method: string | undefined;
  /** error text when kind is Invalid */
  problem?: string;
}

/** Maps to JSON-RPC -32700; every other problem text maps to -32600. */
export const PARSE_ERROR = 'parse error';

/**
 * The deepest nesting of arrays and objects a message may have (`{}` is depth 1). The scanner
 * itself is iterative and would cope with any depth, but much of what sees a frame after it is
 * not: V8's JSON.stringify, structuredClone and postMessage recurse and throw RangeError near
 * 10^4 levels (that killed a worker, issue 9), and many MCP servers' parsers have their own cap
 * (serde_json: 128, Python's json: the interpreter's recursion limit). 128 is far above anything
 * MCP messages need (tool schemas nest a few tens of levels at most) and matches serde_json.
 */
export const MAX_DEPTH = 128;
/** Problem text of a too-deep message; frame-check.ts maps it to E_NESTING_TOO_DEEP. */
export const TOO_DEEP = `nesting deeper than ${MAX_DEPTH} levels`;

// ---- classification, shared by the scanner and the reference so both agree by construction ----

const enum VT { Absent = 0, Str = 1, Num = 2, Null = 3, Other = 4 }

function classify(
  jsonrpcOk: boolean,
  methodType: VT, method: string | undefined,
  idType: VT, id: JsonRpcId,
  hasResult: boolean, hasError: boolean,
): Envelope {
  const validId = idType === VT.Str || idType === VT.Num || idType === VT.Null;
  // An Invalid envelope still carries the id when it is usable, so the error reply can echo it.
  const echoId = validId ? id : null;
  const echoMethod = methodType === VT.Str ? method : undefined;
  if (!jsonrpcOk) return invalid('jsonrpc must be "2.0"', echoId, echoMethod);
  if (methodType !== VT.Absent && methodType !== VT.Str) return invalid('method must be a string', echoId, undefined);
  if (idType !== VT.Absent && !validId) return invalid('id must be a string, number or null', null, echoMethod);
  if (methodType === VT.Str) {
    if (idType === VT.Absent) return { kind: MsgKind.Notification, id: null, method };
    // MCP forbids null request ids: a reply to one could not be told apart from a parse-error reply.
    if (idType === VT.Null) return invalid('request id must not be null', null, method);
    return { kind: MsgKind.Request, id, method };
  }
  if (hasResult || hasError) {
    if (idType === VT.Absent) return invalid('response must have an id', null, undefined);
    if (hasResult && hasError) return invalid('response must have exactly one of result or error', id, undefined);
    return { kind: MsgKind.Response, id, method: undefined };
  }
  return invalid('not a request, notification or response', echoId, undefined);
}

function invalid(problem: string, id: JsonRpcId, method: string | undefined): Envelope {
  return { kind: MsgKind.Invalid, id, method, problem };
}

/** Too deep wins over every other classification, but still echoes a usable id (and method, for logs). */
function tooDeepEnvelope(idType: VT, id: JsonRpcId, method: string | undefined): Envelope {
  const validId = idType === VT.Str || idType === VT.Num || idType === VT.Null;
  return invalid(TOO_DEEP, validId ? id : null, method);
}

const PARSE_FAILED: Readonly<Envelope> = Object.freeze({ kind: MsgKind.Invalid, id: null, method: undefined, problem: PARSE_ERROR });
const TOO_DEEP_NO_ID: Readonly<Envelope> = Object.freeze({ kind: MsgKind.Invalid, id: null, method: undefined, problem: TOO_DEEP });
const NOT_OBJECT: Readonly<Envelope> = Object.freeze({ kind: MsgKind.Invalid, id: null, method: undefined, problem: 'message must be a JSON object' });
const BATCH: Readonly<Envelope> = Object.freeze({ kind: MsgKind.Batch, id: null, method: undefined });

function typeOf(v: unknown): VT {
  if (v === null) return VT.Null;
  if (typeof v === 'string') return VT.Str;
  if (typeof v === 'number') return VT.Num;
  return VT.Other;
}

/** Nesting depth of a parsed value, walked with an explicit stack (the value may be very deep). */
export function depthOf(v: unknown): number {
  let max = 0;
  const todo: Array<[unknown, number]> = [[v, 0]];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [x, d] = next;
    if (x === null || typeof x !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    for (const child of Object.values(x as Record<string, unknown>)) todo.push([child, d + 1]);
  }
  return max;
}

/**
 * The reference: JSON.parse the whole text (iterative in V8), then classify. Kept for tests and the
 * benchmark; `limitDepth` as for parseEnvelope (the benchmark passes false so its baseline stays
 * the bare JSON.parse cost it always measured: the depth walk is a test-only expense).
 */
export function parseEnvelopeSimple(text: string, limitDepth = true): Envelope {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return PARSE_FAILED;
  }
  const tooDeep = limitDepth && depthOf(v) > MAX_DEPTH;
  if (Array.isArray(v) || typeof v !== 'object' || v === null) return tooDeep ? TOO_DEEP_NO_ID : Array.isArray(v) ? BATCH : NOT_OBJECT;
  const o = v as Record<string, unknown>;
  const hasM = Object.hasOwn(o, 'method');
  const hasI = Object.hasOwn(o, 'id');
  if (tooDeep) return tooDeepEnvelope(hasI ? typeOf(o.id) : VT.Absent, o.id as JsonRpcId, typeof o.method === 'string' ? o.method : undefined);
  return classify(
    o.jsonrpc === '2.0',
    hasM ? typeOf(o.method) : VT.Absent, typeof o.method === 'string' ? o.method : undefined,
    hasI ? typeOf(o.id) : VT.Absent, hasI && typeOf(o.id) !== VT.Other ? (o.id as JsonRpcId) : null,
    Object.hasOwn(o, 'result'), Object.hasOwn(o, 'error'),
  );
}

// ---- the scanner ----
// Positions are returned as numbers, -1 meaning a syntax error; no closures or objects per call.

const enum Ch {
  Tab = 9, LF = 10, CR = 13, Space = 32, Quote = 34, Plus = 43, Comma = 44, Minus = 45, Dot = 46,
  Slash = 47, D0 = 48, D1 = 49, D9 = 57, Colon = 58, UpA = 65, UpE = 69, UpF = 70, LBracket = 91,
  Backslash = 92, RBracket = 93, LowA = 97, LowB = 98, LowE = 101, LowF = 102, LowN = 110, LowR = 114,
  LowT = 116, LowU = 117, LBrace = 123, RBrace = 125,
}

/** Set by scanString: whether the string just scanned had an escape (needs JSON.parse to decode). */
let lastHadEscape = false;

/** Whether the string the last scanString call scanned had an escape (src/era/envelope2026.ts decodes those with JSON.parse). */
export function lastStringHadEscape(): boolean {
  return lastHadEscape;
}

export function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === Ch.Space || c === Ch.LF || c === Ch.CR || c === Ch.Tab) i++;
    else return i;
  }
}

function isHex(c: number): boolean {
  return (c >= Ch.D0 && c <= Ch.D9) || (c >= Ch.LowA && c <= Ch.LowF) || (c >= Ch.UpA && c <= Ch.UpF);
}

// eslint-disable-next-line no-control-regex
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;

/** `i` is at the opening quote; returns the index after the closing quote. */
export function scanString(s: string, i: number): number {
  lastHadEscape = false;
  i++;
  // Short strings (keys, ids, method names) end within a few characters: a plain loop is cheapest.
  const stop = i + 16;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === Ch.Quote) return i + 1;
    if (c === Ch.Backslash || !(c >= Ch.Space)) break;
    if (++i === stop) break;
  }
  for (;;) {
    // Long runs of plain characters: the regex engine skips them far faster than a charCodeAt loop.
    STRING_RUN.lastIndex = i;
    STRING_RUN.test(s);
    i = STRING_RUN.lastIndex;
    const c = s.charCodeAt(i);
    if (c === Ch.Quote) return i + 1;
    if (c === Ch.Backslash) {
      lastHadEscape = true;
      const e = s.charCodeAt(i + 1);
      if (e === Ch.LowU) {
        if (!(isHex(s.charCodeAt(i + 2)) && isHex(s.charCodeAt(i + 3)) && isHex(s.charCodeAt(i + 4)) && isHex(s.charCodeAt(i + 5)))) return -1;
        i += 6;
      } else if (e === Ch.Quote || e === Ch.Backslash || e === Ch.Slash || e === Ch.LowB || e === Ch.LowF
        || e === Ch.LowN || e === Ch.LowR || e === Ch.LowT) {
        i += 2;
      } else {
        return -1;
      }
    } else if (c >= Ch.Space) {
      i++;
    } else {
      return -1; // a raw control character, or the end of the text (NaN)
    }
  }
}

function scanDigits(s: string, i: number): number {
  let c = s.charCodeAt(i);
  while (c >= Ch.D0 && c <= Ch.D9) c = s.charCodeAt(++i);
  return i;
}

/** -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
function scanNumber(s: string, i: number): number {
  if (s.charCodeAt(i) === Ch.Minus) i++;
  const c = s.charCodeAt(i);
  if (c === Ch.D0) i++;
  else if (c >= Ch.D1 && c <= Ch.D9) i = scanDigits(s, i + 1);
  else return -1;
  if (s.charCodeAt(i) === Ch.Dot) {
    const j = scanDigits(s, i + 1);
    if (j === i + 1) return -1;
    i = j;
  }
  const e = s.charCodeAt(i);
  if (e === Ch.LowE || e === Ch.UpE) {
    i++;
    const sign = s.charCodeAt(i);
    if (sign === Ch.Plus || sign === Ch.Minus) i++;
    const j = scanDigits(s, i);
    if (j === i) return -1;
    i = j;
  }
  return i;
}

const IN_OBJECT = 1;
const IN_ARRAY = 2;
/**
 * Open containers of the value being skipped; iterative so deep nesting cannot overflow the stack.
 * It only grows past MAX_DEPTH for a message that is refused anyway, and is shrunk back after it.
 */
const STACK_SIZE = MAX_DEPTH;
let stack = new Uint8Array(STACK_SIZE);
/** Set by skipValue when a value nested deeper than its `room`; the scan still checks syntax to the end. */
let tooDeep = false;

/** After the key's closing quote: `:` and the whitespace before the value. */
export function afterKey(s: string, i: number): number {
  i = skipWs(s, i);
  if (s.charCodeAt(i) !== Ch.Colon) return -1;
  return skipWs(s, i + 1);
}

/**
 * `i` is at the first character of a value; returns the index just after it. `room`: how many
 * containers may nest in it (more sets `tooDeep`; one comparison per container opened).
 */
export function skipValue(s: string, i: number, room: number = MAX_DEPTH): number {
  let depth = 0;
  for (;;) {
    // One value starts at i.
    const c = s.charCodeAt(i);
    if (c === Ch.Quote) {
      i = scanString(s, i);
    } else if (c === Ch.LBrace || c === Ch.LBracket) {
      // This container is level depth + 1 of the value, empty or not.
      if (depth === room) tooDeep = true;
      i = skipWs(s, i + 1);
      const close = c === Ch.LBrace ? Ch.RBrace : Ch.RBracket;
      if (s.charCodeAt(i) === close) {
        i++;
      } else {
        if (depth === stack.length) {
          const bigger = new Uint8Array(stack.length * 2);
          bigger.set(stack);
          stack = bigger;
        }
        stack[depth++] = c === Ch.LBrace ? IN_OBJECT : IN_ARRAY;
        if (c === Ch.LBrace) {
          if (s.charCodeAt(i) !== Ch.Quote) return -1;
          i = scanString(s, i);
          if (i < 0) return -1;
          i = afterKey(s, i);
          if (i < 0) return -1;
        }
        continue;
      }
    } else if (c === Ch.LowT) {
      i = s.startsWith('true', i) ? i + 4 : -1;
    } else if (c === Ch.LowF) {
      i = s.startsWith('false', i) ? i + 5 : -1;
    } else if (c === Ch.LowN) {
      i = s.startsWith('null', i) ? i + 4 : -1;
    } else {
      i = scanNumber(s, i);
    }
    if (i < 0) return -1;
    // The value ended: close containers until one continues with a comma.
    for (;;) {
      if (depth === 0) return i;
      i = skipWs(s, i);
      const d = s.charCodeAt(i);
      const top = stack[depth - 1];
      if (d === Ch.Comma) {
        i = skipWs(s, i + 1);
        if (top === IN_OBJECT) {
          if (s.charCodeAt(i) !== Ch.Quote) return -1;
          i = scanString(s, i);
          if (i < 0) return -1;
          i = afterKey(s, i);
          if (i < 0) return -1;
        }
        break;
      }
      if (d === (top === IN_OBJECT ? Ch.RBrace : Ch.RBracket)) {
        depth--;
        i++;
        continue;
      }
      return -1;
    }
  }
}

const enum Key { Other = 0, JsonRpc = 1, Id = 2, Method = 3, Result = 4, Error = 5 }

/** Which envelope field the key text between `start` and `end` (quotes excluded) names. */
function keyOf(s: string, start: number, end: number, escaped: boolean): Key {
  if (escaped) return keyFromText(JSON.parse(s.slice(start - 1, end + 1)) as string);
  switch (end - start) {
    case 2: return s.startsWith('id', start) ? Key.Id : Key.Other;
    case 5: return s.startsWith('error', start) ? Key.Error : Key.Other;
    case 6: return s.startsWith('method', start) ? Key.Method : s.startsWith('result', start) ? Key.Result : Key.Other;
    case 7: return s.startsWith('jsonrpc', start) ? Key.JsonRpc : Key.Other;
    default: return Key.Other;
  }
}

function keyFromText(k: string): Key {
  switch (k) {
    case 'id': return Key.Id;
    case 'error': return Key.Error;
    case 'method': return Key.Method;
    case 'result': return Key.Result;
    case 'jsonrpc': return Key.JsonRpc;
    default: return Key.Other;
  }
}

function valueType(c: number): VT {
  if (c === Ch.Quote) return VT.Str;
  if (c === Ch.LowN) return VT.Null;
  if (c === Ch.Minus || (c >= Ch.D0 && c <= Ch.D9)) return VT.Num;
  return VT.Other;
}

/** A string value's text; JSON.parse only when it has escapes (rare in ids and method names). */
function stringAt(s: string, start: number, end: number, escaped: boolean): string {
  return escaped ? (JSON.parse(s.slice(start, end)) as string) : s.slice(start + 1, end - 1);
}

/**
 * Classify one JSON-RPC message. Never throws. `limitDepth` false is for frames from upstream
 * servers: they are only routed by id and forwarded as bytes, never built into objects, so their
 * depth harms nothing here, and refusing them would strand the request they answer.
 */
export function parseEnvelope(text: string, limitDepth = true): Envelope {
  tooDeep = false;
  const env = scanEnvelope(text, limitDepth ? MAX_DEPTH : Infinity);
  if (stack.length > STACK_SIZE) stack = new Uint8Array(STACK_SIZE);
  return env;
}

function scanEnvelope(s: string, maxDepth: number): Envelope {
  let i = skipWs(s, 0);
  const first = s.charCodeAt(i);
  if (first !== Ch.LBrace) {
    const end = skipValue(s, i, maxDepth);
    if (end < 0 || skipWs(s, end) !== s.length) return PARSE_FAILED;
    if (tooDeep) return TOO_DEEP_NO_ID;
    return first === Ch.LBracket ? BATCH : NOT_OBJECT;
  }
  // Last occurrence wins for duplicate keys, as with JSON.parse: only positions are remembered.
  let jsonrpcOk = false;
  let idType = VT.Absent, idStart = 0, idEnd = 0, idEsc = false;
  let methodType = VT.Absent, methodStart = 0, methodEnd = 0, methodEsc = false;
  let hasResult = false, hasError = false;

  i = skipWs(s, i + 1);
  if (s.charCodeAt(i) === Ch.RBrace) {
    i++;
  } else {
    for (;;) {
      if (s.charCodeAt(i) !== Ch.Quote) return PARSE_FAILED;
      const keyStart = i + 1;
      i = scanString(s, i);
      if (i < 0) return PARSE_FAILED;
      const key = keyOf(s, keyStart, i - 1, lastHadEscape);
      i = afterKey(s, i);
      if (i < 0) return PARSE_FAILED;
      const vStart = i;
      const vt = valueType(s.charCodeAt(i));
      // The top-level object is one level: its members have one less.
      i = vt === VT.Str ? scanString(s, i) : skipValue(s, i, maxDepth - 1);
      if (i < 0) return PARSE_FAILED;
      switch (key) {
        case Key.JsonRpc:
          jsonrpcOk = vt === VT.Str && (lastHadEscape
            ? stringAt(s, vStart, i, true) === '2.0'
            : i - vStart === 5 && s.startsWith('"2.0"', vStart));
          break;
        case Key.Id: idType = vt; idStart = vStart; idEnd = i; idEsc = lastHadEscape; break;
        case Key.Method: methodType = vt; methodStart = vStart; methodEnd = i; methodEsc = lastHadEscape; break;
        case Key.Result: hasResult = true; break;
        case Key.Error: hasError = true; break;
        default: break;
      }
      i = skipWs(s, i);
      const c = s.charCodeAt(i);
      if (c === Ch.Comma) {
        i = skipWs(s, i + 1);
      } else if (c === Ch.RBrace) {
        i++;
        break;
      } else {
        return PARSE_FAILED;
      }
    }
  }
  if (skipWs(s, i) !== s.length) return PARSE_FAILED;

  let id: JsonRpcId = null;
  if (idType === VT.Str) id = stringAt(s, idStart, idEnd, idEsc);
  else if (idType === VT.Num) id = Number(s.slice(idStart, idEnd));
  const method = methodType === VT.Str ? stringAt(s, methodStart, methodEnd, methodEsc) : undefined;
  if (tooDeep) return tooDeepEnvelope(idType, id, method);
  return classify(jsonrpcOk, methodType, method, idType, id, hasResult, hasError);
}

/** A map key for an id: 1 and "1" differ; 0, "" and null each have their own key. */
export function idKey(id: JsonRpcId): string {
  if (typeof id === 'string') return 's' + id;
  if (typeof id === 'number') return 'n' + String(id);
  return '_';
}

export function isInitialize(env: Envelope): boolean {
  return env.kind === MsgKind.Request && env.method === 'initialize';
}

// ---- textual edits, for frames that must never be rebuilt from objects ----

/**
 * Where each top-level `name` member's value is in `s`: [start, end) pairs in text order (JSON
 * allows duplicates). Undefined unless `s` is one syntactically valid JSON object. Iterative,
 * like the scanner, so any depth is safe.
 */
export function memberSpans(s: string, name: 'id' | 'error' | 'result'): Array<[number, number]> | undefined {
  const spans = scanMembers(s, keyFromText(name));
  if (stack.length > STACK_SIZE) stack = new Uint8Array(STACK_SIZE);
  return spans;
}

function scanMembers(s: string, want: Key): Array<[number, number]> | undefined {
  const spans: Array<[number, number]> = [];
  let i = skipWs(s, 0);
  if (s.charCodeAt(i) !== Ch.LBrace) return undefined;
  i = skipWs(s, i + 1);
  if (s.charCodeAt(i) === Ch.RBrace) return skipWs(s, i + 1) === s.length ? spans : undefined;
  for (;;) {
    if (s.charCodeAt(i) !== Ch.Quote) return undefined;
    const keyStart = i + 1;
    i = scanString(s, i);
    if (i < 0) return undefined;
    const key = keyOf(s, keyStart, i - 1, lastHadEscape);
    i = afterKey(s, i);
    if (i < 0) return undefined;
    const vStart = i;
    i = skipValue(s, i, Infinity);
    if (i < 0) return undefined;
    if (key === want) spans.push([vStart, i]);
    i = skipWs(s, i);
    const c = s.charCodeAt(i);
    if (c === Ch.Comma) {
      i = skipWs(s, i + 1);
    } else if (c === Ch.RBrace) {
      break;
    } else {
      return undefined;
    }
  }
  return skipWs(s, i + 1) === s.length ? spans : undefined;
}

/**
 * `frame` with the value of every top-level `id` replaced by `newIdJson` (already JSON text), the
 * rest byte for byte. Undefined when the frame is not a JSON object with an id. This is how a
 * remembered client request is re-sent under the proxy's own id without JSON.parse/stringify: a
 * client's deeply nested params can make JSON.stringify throw RangeError (issue 9).
 */
export function replaceId(frame: string, newIdJson: string): string | undefined {
  const spans = memberSpans(frame, 'id');
  if (spans === undefined || spans.length === 0) return undefined;
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    out += frame.slice(from, start) + newIdJson;
    from = end;
  }
  return out + frame.slice(from);
}
