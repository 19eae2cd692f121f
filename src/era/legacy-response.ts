/**
 * B1: a session-era upstream's response, made valid for a 2026 client without re-serialising it
 * (docs/mcp-2026-07-28.md 1.4, 1.6). Members are spliced into the text at known offsets:
 *  - every result gets `resultType: "complete"` when it has none (basic/index "ResultType": required);
 *  - results of the cacheable methods get `ttlMs: 0` and `cacheScope: "private"` when absent
 *    (server/utilities/caching: required there; 0/private = "do not reuse", the only promise a proxy
 *    that cannot see its upstream's intent can make);
 *  - error -32002 (resource not found before 2026) becomes -32602, which 2026 uses instead and
 *    2026 implementations must not emit -32002;
 *  - error -32601 asks for HTTP 404 (streamable-http "Protocol Version Header").
 * The frame was produced by an upstream and accepted by parseEnvelope; anything unexpected is
 * returned unchanged. Loops and skipValue only: no recursion, nothing built but the splice.
 */
import { skipValue, skipWs } from '../upstream/jsonrpc-envelope.js';
import { eachMember, kindAt } from './envelope2026.js';

export const CACHEABLE_METHODS: ReadonlySet<string> = new Set([
  'server/discover', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read',
]);

export interface Patched {
  frame: string;
  /** HTTP status the 2026 reply should use. */
  status: number;
}

const RESULT_KEYS: readonly string[] = ['resultType', 'ttlMs', 'cacheScope'];
const TOP_KEYS: readonly string[] = ['result', 'error'];
const ERROR_KEYS: readonly string[] = ['code'];

/** `method` is the method of the request this frame answers. */
export function patchLegacyResponse(frame: string, method: string): Patched {
  const s = frame;
  let resultAt = -1;
  let codeStart = -1;
  let codeEnd = -1;
  const start = skipWs(s, 0);
  if (s.charCodeAt(start) !== 123) return { frame, status: 200 };
  const end = eachMember(s, start, TOP_KEYS, (key, v) => {
    if (key === 'result') {
      resultAt = kindAt(s, v) === 'object' ? v : -1;
    } else if (key === 'error' && kindAt(s, v) === 'object') {
      const r = eachMember(s, v, ERROR_KEYS, (k2, v2) => {
        if (k2 !== 'code' || kindAt(s, v2) !== 'number') return skipValue(s, v2);
        codeStart = v2;
        codeEnd = skipValue(s, v2);
        return codeEnd;
      });
      return r;
    }
    return skipValue(s, v);
  });
  if (end < 0) return { frame, status: 200 };

  if (codeStart >= 0) {
    const code = Number(s.slice(codeStart, codeEnd));
    if (code === -32002) return { frame: s.slice(0, codeStart) + '-32602' + s.slice(codeEnd), status: 200 };
    if (code === -32601) return { frame, status: 404 };
    return { frame, status: 200 };
  }
  if (resultAt < 0) return { frame, status: 200 };

  const has = new Set<string>();
  const r = eachMember(s, resultAt, RESULT_KEYS, (key, v) => {
    if (key !== undefined) has.add(key);
    return skipValue(s, v);
  });
  if (r < 0) return { frame, status: 200 };
  const add: string[] = [];
  if (!has.has('resultType')) add.push('"resultType":"complete"');
  if (CACHEABLE_METHODS.has(method)) {
    if (!has.has('ttlMs')) add.push('"ttlMs":0');
    if (!has.has('cacheScope')) add.push('"cacheScope":"private"');
  }
  if (add.length === 0) return { frame, status: 200 };
  const empty = s.charCodeAt(skipWs(s, resultAt + 1)) === 125;
  const insert = add.join(',') + (empty ? '' : ',');
  return { frame: s.slice(0, resultAt + 1) + insert + s.slice(resultAt + 1), status: 200 };
}
