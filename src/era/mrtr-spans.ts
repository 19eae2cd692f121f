/**
 * The few members of a 2026 request that the B1 MRTR bridge needs as values, cut out of the body
 * with the envelope scanner's pieces (no parse of the whole body): the client's declared
 * capabilities (`params._meta["io.modelcontextprotocol/clientCapabilities"]`) when an upstream
 * asks for input, and `params.inputResponses` when the retry answers. Only that one member's text is
 * JSON.parsed, and only on the MRTR path (never for ordinary calls). The body already passed the
 * acceptor's depth limit (parseEnvelope MAX_DEPTH), and the walk below is loops, not recursion.
 */
import { skipValue, skipWs } from '../upstream/jsonrpc-envelope.js';
import { META_CLIENT_CAPABILITIES, type Scan2026, eachMember, kindAt } from './envelope2026.js';

const TOP: readonly string[] = ['params'];
const META: readonly string[] = ['_meta'];
const CAPS: readonly string[] = [META_CLIENT_CAPABILITIES];
const INPUT: readonly string[] = ['inputResponses'];

/** [start, end) of the object value at params -> path[0] -> path[1]...; undefined when absent or not an object. */
function objectSpan(s: string, path: readonly (readonly string[])[]): [number, number] | undefined {
  let found: [number, number] | undefined;
  const walk = (at: number, level: number): number => eachMember(s, at, path[level]!, (key, v) => {
    if (key === undefined || kindAt(s, v) !== 'object') return skipValue(s, v);
    if (level === path.length - 1) {
      const end = skipValue(s, v);
      if (end >= 0) found = [v, end];
      return end;
    }
    return walk(v, level + 1);
  });
  const i = skipWs(s, 0);
  if (s.charCodeAt(i) !== 123) return undefined;
  // Depth is path.length (at most 4): bounded by this file's constants, not by the client's data.
  walk(i, 0);
  return found;
}

function parseSpan(s: string, span: [number, number] | undefined): Record<string, unknown> | undefined {
  if (!span) return undefined;
  try {
    const v = JSON.parse(s.slice(span[0], span[1])) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The client's declared capabilities ({} when it declared none). */
export function clientCapabilitiesOf(body: string): Record<string, unknown> {
  return parseSpan(body, objectSpan(body, [TOP, META, CAPS])) ?? {};
}

/** The retry's `params.inputResponses` ({} when absent or not an object). */
export function inputResponsesOf(body: string): Record<string, unknown> {
  return parseSpan(body, objectSpan(body, [TOP, INPUT])) ?? {};
}

/** What a requestState is bound to besides the method: params.name (tools, prompts) or params.uri (resources). */
export function mrtrTarget(scan: Pick<Scan2026, 'name' | 'uri'>): string {
  return scan.name ?? scan.uri ?? '';
}

/** The only methods that may answer `input_required` (basic/patterns/mrtr). */
export const MRTR_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);
