/**
 * Whose reply was a stdout line too long to forward? Only its two ends are kept (line-splitter.ts
 * EDGE_BYTES each): the top-level `id` is found at the start (`{"jsonrpc":"2.0","id":7,...`) or,
 * as the SDK writes responses (`{"result":...,"jsonrpc":"2.0","id":7}`), at the very end. A
 * nested `"id"` never matches: the forward scan tracks depth and strings, and the backward match
 * must be followed by the one closing brace of the top-level object. The caller only acts on an
 * id that matches a request in flight.
 */
import type { JsonRpcId } from './jsonrpc-envelope.js';

const TAIL_ID = /"id"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.)*")\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*$/;

function toId(raw: string): JsonRpcId | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'string' || typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The string starting at `i` (a '"'): the index after its closing quote, or -1 if cut off. */
function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c /* \ */) j++;
    else if (c === 0x22 /* " */) return j + 1;
  }
  return -1;
}

/** Forward scan of the head: the value of a depth-1 "id" key, if it is there in full. */
function headId(s: string): JsonRpcId | undefined {
  let i = s.indexOf('{');
  if (i < 0 || s.slice(0, i).trim() !== '') return undefined;
  let depth = 0;
  let expectKey = false;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      const end = skipString(s, i);
      if (end < 0) return undefined;
      if (depth === 1 && expectKey) {
        const key = s.slice(i, end);
        let k = end;
        while (k < s.length && /\s/.test(s[k]!)) k++;
        if (s[k] !== ':') return undefined;
        if (key === '"id"') {
          const m = /^\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.)*")\s*[,}]/.exec(s.slice(k + 1, k + 1 + 1024));
          return m ? toId(m[1]!) : undefined;
        }
        expectKey = false;
        i = k;
        continue;
      }
      i = end - 1;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

/** The top-level JSON-RPC id of a line known only by its first and last bytes. */
export function oversizedLineId(head: string, tail: string): JsonRpcId | undefined {
  const fromHead = headId(head);
  if (fromHead !== undefined) return fromHead;
  const m = TAIL_ID.exec(tail);
  return m ? toId(m[1]!) : undefined;
}
