/**
 * How a virtual server names what its members offer, in one place.
 *
 *  - Tools, prompts: `<member>__<name>` (double underscore). Valid for the strictest tool-name
 *    rule (^[a-zA-Z0-9_-]{1,64}$) when the member's own name is; member names with `__` are
 *    refused at config time, so splitting at the FIRST `__` is unambiguous (the member's own tool
 *    may contain `__`). A prefixed tool name over 64 characters is left out of tools/list (one
 *    log line) and so cannot be called either.
 *  - Resource URIs and URI templates: `mithril+member://<member>/<original URI, verbatim>`.
 *    Member names have no `/`, so the first `/` after the member ends it; the rest is the
 *    member's URI byte for byte (no percent-encoding: a template's `{var}` stays a template, and
 *    a client-expanded template maps back by the same rule).
 *  - List cursors: base64url of JSON `[[memberIndex, memberCursor], ...]`, the members still to
 *    continue (see list.ts).
 */
export const SEP = '__';
export const MAX_TOOL_NAME = 64;
export const URI_SCHEME = 'mithril+member://';

export function prefixed(member: string, name: string): string {
  return `${member}${SEP}${name}`;
}

export function splitName(name: string): { member: string; name: string } | undefined {
  const i = name.indexOf(SEP);
  if (i <= 0 || i + SEP.length >= name.length) return undefined;
  return { member: name.slice(0, i), name: name.slice(i + SEP.length) };
}

export function virtualUri(member: string, uri: string): string {
  return `${URI_SCHEME}${member}/${uri}`;
}

export function memberUri(uri: string): { member: string; uri: string } | undefined {
  if (!uri.startsWith(URI_SCHEME)) return undefined;
  const slash = uri.indexOf('/', URI_SCHEME.length);
  if (slash <= URI_SCHEME.length) return undefined;
  return { member: uri.slice(URI_SCHEME.length, slash), uri: uri.slice(slash + 1) };
}

/** A cursor continues at most one page per member; anything bigger was not minted here. */
const MAX_CURSOR_CHARS = 64 * 1024;

export type Continuation = Array<[number, string]>;

export function encodeCursor(c: Continuation): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

/** undefined: not a cursor this proxy minted (the caller answers -32602). Flat shape check only. */
export function decodeCursor(cursor: string, members: number): Continuation | undefined {
  if (cursor.length > MAX_CURSOR_CHARS) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length === 0 || v.length > members) return undefined;
  const out: Continuation = [];
  for (const e of v as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2) return undefined;
    const [i, c] = e as unknown[];
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= members || typeof c !== 'string') return undefined;
    out.push([i, c]);
  }
  return out;
}
