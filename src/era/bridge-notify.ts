/**
 * B1: which in-call notifications of a session-era upstream may reach the 2026 client, read from a
 * few small members (no parse of the whole body):
 *  - `notifications/message`: 2026-07-28 server/utilities/logging says a server MUST NOT emit it
 *    for a request without `_meta["io.modelcontextprotocol/logLevel"]`, and MAY send it at or above
 *    that level. A session-era upstream logs by its session's `logging/setLevel` (the bridge sends
 *    none), so the bridge filters: no level on the request, nothing; else RFC 5424 order.
 *  - `notifications/progress`: a stdio upstream's arrives on the session's one channel, tied to its
 *    call only by `params.progressToken` (the client's own `_meta.progressToken`, forwarded as is).
 * Paths are this file's constants (depth 3 at most): the walk is bounded by them, not by the data.
 */
import { skipValue, skipWs } from '../upstream/jsonrpc-envelope.js';
import { eachMember, kindAt } from './envelope2026.js';

export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

/** RFC 5424 severities, least severe first (logging.mdx "Log Levels"). */
const RANK: ReadonlyMap<string, number> = new Map([
  ['debug', 0], ['info', 1], ['notice', 2], ['warning', 3], ['error', 4], ['critical', 5], ['alert', 6], ['emergency', 7],
]);

const P_LOG: readonly (readonly string[])[] = [['params'], ['_meta'], [META_LOG_LEVEL]];
const P_TOKEN: readonly (readonly string[])[] = [['params'], ['_meta'], ['progressToken']];
const P_LEVEL: readonly (readonly string[])[] = [['params'], ['level']];
const P_NOTE_TOKEN: readonly (readonly string[])[] = [['params'], ['progressToken']];

/** The string or number at the end of `path` (each level one wanted key), else undefined. */
function scalarAt(s: string, path: readonly (readonly string[])[]): string | number | undefined {
  let found: string | number | undefined;
  const walk = (at: number, level: number): number => eachMember(s, at, path[level]!, (key, v) => {
    if (key === undefined) return skipValue(s, v);
    const kind = kindAt(s, v);
    const end = skipValue(s, v);
    if (end < 0) return end;
    if (level === path.length - 1) {
      if (kind === 'string' || kind === 'number') {
        try {
          // One scalar member: a short string or a number.
          found = JSON.parse(s.slice(v, end)) as string | number;
        } catch {
          found = undefined;
        }
      }
      return end;
    }
    return kind === 'object' ? walk(v, level + 1) : end;
  });
  const i = skipWs(s, 0);
  if (s.charCodeAt(i) !== 123) return undefined;
  walk(i, 0);
  return found;
}

/** The rank of the request's `_meta` logLevel; undefined when absent or not a known level. */
export function requestLogRank(body: string): number | undefined {
  const v = scalarAt(body, P_LOG);
  return typeof v === 'string' ? RANK.get(v) : undefined;
}

/** Whether an upstream `notifications/message` may go to a request with log rank `rank`. */
export function logAllowed(rank: number | undefined, json: string): boolean {
  if (rank === undefined) return false;
  const v = scalarAt(json, P_LEVEL);
  const r = typeof v === 'string' ? RANK.get(v) : undefined;
  // An unknown level cannot be placed in the order: not sent (the client did not ask for it).
  return r !== undefined && r >= rank;
}

/** The request's `_meta.progressToken`, as `typeof:value` (1 and "1" stay distinct); undefined when none. */
export function requestProgressKey(body: string): string | undefined {
  const v = scalarAt(body, P_TOKEN);
  return v === undefined ? undefined : `${typeof v}:${v}`;
}

/** A `notifications/progress`'s `params.progressToken`, keyed as requestProgressKey. */
export function notificationProgressKey(json: string): string | undefined {
  const v = scalarAt(json, P_NOTE_TOKEN);
  return v === undefined ? undefined : `${typeof v}:${v}`;
}
