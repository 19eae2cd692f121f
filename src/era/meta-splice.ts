/**
 * Adding members to `params._meta` of a JSON-RPC message on its bytes: the bridges must stamp
 * 2026-07-28 metadata (B2: protocolVersion / clientCapabilities / logLevel on every request sent
 * to a 2026 upstream; B1: the subscriptionId on notifications of a bridged subscriptions/listen)
 * into frames whose params they must not rebuild (arguments and results can be large and are
 * the client's; only the envelope is parsed on these paths).
 *
 * The members are appended at the end of an existing `_meta` object, so a parser that keeps the
 * last of duplicate keys (JSON.parse, the SDKs) sees the proxy's value; callers that must not
 * override a client's own member check for it first. Iterative scanning (skipValue), so any
 * nesting depth is safe.
 */
import { afterKey, scanString, skipValue, skipWs } from '../upstream/jsonrpc-envelope.js';

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;

interface Found {
  /** Index of the value's first character, or -1 when the member is absent. */
  start: number;
  end: number;
  /** Index of the object's closing brace. */
  close: number;
  /** The object has no members. */
  empty: boolean;
}

/**
 * Finds member `name` (plain ASCII, no escapes needed) of the object whose `{` is at `open`.
 * Keys written with escapes are compared after decoding, as a JSON parser would. Undefined when
 * the text is not a valid object there.
 */
function findMember(s: string, open: number, name: string): Found | undefined {
  let i = skipWs(s, open + 1);
  const found: Found = { start: -1, end: -1, close: -1, empty: false };
  if (s.charCodeAt(i) === RBRACE) return { ...found, close: i, empty: true };
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return undefined;
    const keyStart = i;
    i = scanString(s, i);
    if (i < 0) return undefined;
    const raw = s.slice(keyStart + 1, i - 1);
    const key = raw.includes('\\') ? (JSON.parse(s.slice(keyStart, i)) as string) : raw;
    i = afterKey(s, i);
    if (i < 0) return undefined;
    const vStart = i;
    i = skipValue(s, i, Infinity);
    if (i < 0) return undefined;
    // The first copy counts: duplicated routed keys are refused before a frame gets here.
    if (key === name && found.start < 0) {
      found.start = vStart;
      found.end = i;
    }
    i = skipWs(s, i);
    const c = s.charCodeAt(i);
    if (c === COMMA) i = skipWs(s, i + 1);
    else if (c === RBRACE) return { ...found, close: i };
    else return undefined;
  }
}

/** The top-level `params` member of `frame`, or undefined when `frame` is not one JSON object. */
function topParams(frame: string): Found | undefined {
  const top = skipWs(frame, 0);
  if (frame.charCodeAt(top) !== LBRACE) return undefined;
  const params = findMember(frame, top, 'params');
  if (!params || skipWs(frame, params.close + 1) !== frame.length) return undefined;
  return params;
}

/** `members` appended after the last member of the object whose `{` is at `open`. */
function append(frame: string, open: number, members: string): string | undefined {
  if (frame.charCodeAt(open) !== LBRACE) return undefined;
  const obj = findMember(frame, open, '');
  if (!obj) return undefined;
  return insertAtClose(frame, obj, members);
}

function insertAtClose(frame: string, obj: Found, members: string): string {
  const sep = obj.empty ? '' : ',';
  return `${frame.slice(0, obj.close)}${sep}${members}${frame.slice(obj.close)}`;
}

/**
 * `frame` with `members` (JSON text of one or more members, e.g. `"a":1,"b":"x"`, non-empty)
 * added to `params._meta`, creating `params` and `_meta` when absent. Undefined when `frame` is
 * not an object, or `params` / `params._meta` is present but not an object.
 */
export function withMeta(frame: string, members: string): string | undefined {
  const params = topParams(frame);
  if (!params) return undefined;
  if (params.start < 0) return insertAtClose(frame, params, `"params":{"_meta":{${members}}}`);
  if (frame.charCodeAt(params.start) !== LBRACE) return undefined;
  const meta = findMember(frame, params.start, '_meta');
  if (!meta) return undefined;
  // Absent: `meta.close` is the close of params itself.
  if (meta.start < 0) return insertAtClose(frame, meta, `"_meta":{${members}}`);
  return append(frame, meta.start, members);
}

/**
 * `frame` with `members` (JSON text of one or more members, non-empty) appended to `params`,
 * creating `params` when absent. B2's MRTR retry adds `inputResponses` and `requestState` this way
 * to the client's original request, whose arguments it must not rebuild. Appended last, so a
 * parser that keeps the last duplicate sees the proxy's value. Undefined when `frame` is not an
 * object or `params` is present but not an object.
 */
export function withParams(frame: string, members: string): string | undefined {
  const params = topParams(frame);
  if (!params) return undefined;
  if (params.start < 0) return insertAtClose(frame, params, `"params":{${members}}`);
  return append(frame, params.start, members);
}
