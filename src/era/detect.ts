/**
 * Which protocol era one POST belongs to, decided from that request alone (2026-07-28 has no
 * sessions, so nothing earlier on the connection may count):
 *  - '2025': the session revisions 2024-11-05 .. 2025-11-25 (initialize, Mcp-Session-Id);
 *  - '2026': 2026-07-28, every request self-describing through `params._meta`.
 *
 * Rules (docs/mcp-2026-07-28.md, "Era per request"):
 *  1. `MCP-Protocol-Version` names a session revision -> '2025'.
 *  2. It names 2026-07-28 -> '2026'; a request must then carry the same version in
 *     `_meta["io.modelcontextprotocol/protocolVersion"]` (different -> HeaderMismatch; absent ->
 *     InvalidParams) and `_meta["io.modelcontextprotocol/clientCapabilities"]` (absent -> InvalidParams).
 *  3. It names anything else -> UnsupportedProtocolVersion (400, -32022, data.supported/requested):
 *     a modern client recognises it and retries, a legacy client only needs the 400.
 *  4. No header: a session revision (the 2025-03-26 rule: a client of that revision never sends
 *     it, and `initialize` usually comes without it) - unless the body is a request that carries a
 *     `_meta` protocol version, which only a 2026 client writes: then the required header is missing
 *     (HeaderMismatch). With an Mcp-Session-Id or on `initialize` the body is not even scanned.
 * The body scan (`scan`) is lazy so session-era traffic never pays for it. Call it after
 * frameProblem() accepted the envelope (batches and invalid frames are answered before this).
 */
import { ErrorCode } from '../errors.js';
import { type Envelope, MsgKind } from '../upstream/jsonrpc-envelope.js';
import { META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, type Scan2026, type ScanProblem } from './envelope2026.js';

export type Era = '2025' | '2026';

export const SESSION_ERA_VERSIONS: readonly string[] = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];
/** Newest first, as UnsupportedProtocolVersionError's `supported` list. */
export const SUPPORTED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...[...SESSION_ERA_VERSIONS].reverse()];

const SESSION_ERA = new Set(SESSION_ERA_VERSIONS);
const MODERN = new Set(MODERN_VERSIONS);

/** A refusal: the acceptor answers WIRE[code].status with a JSON-RPC error carrying `data`. */
export interface EraProblem {
  code: ErrorCode;
  message: string;
  /** Extra error.data members (UnsupportedProtocolVersion: supported, requested). */
  data?: Record<string, unknown>;
  /** The era whose error codes the reply uses (errors.ts rpcCodeFor). */
  replyEra: Era;
}

export type EraDecision =
  | { ok: true; era: '2025'; version: string | undefined }
  | { ok: true; era: '2026'; version: string; scan: Scan2026 | undefined }
  | { ok: false; problem: EraProblem };

export interface EraInput {
  /** MCP-Protocol-Version header; '' when absent. */
  header: string;
  /** Mcp-Session-Id header is present (a session-era request: no body scan needed). */
  hasSessionId: boolean;
  env: Envelope;
  /** Scans the body for the 2026 fields; called at most once, only when the decision needs it. */
  scan: () => Scan2026 | ScanProblem;
}

/**
 * An MCP-Protocol-Version the proxy does not serve (rule 3), in the 2026-07-28 shape whatever the
 * client's era: 400 -32022 with every version served, newest first, and the one asked for. A
 * session-era client only needs the 400; a 2026 client can pick a version from `data.supported`.
 * The acceptor answers it after the body (streamable-http.ts has no earlier version check), so the
 * error carries the request's id.
 */
function unsupported(requested: string): EraProblem {
  return {
    code: ErrorCode.UnsupportedProtocolVersion,
    message: `Unsupported protocol version: ${requested}`,
    data: { supported: [...SUPPORTED_VERSIONS], requested },
    replyEra: '2026',
  };
}

export function detectEra(input: EraInput): EraDecision {
  const { header, env } = input;
  if (header !== '') {
    if (SESSION_ERA.has(header)) return { ok: true, era: '2025', version: header };
    if (!MODERN.has(header)) return { ok: false, problem: unsupported(header) };
    return modern(header, input);
  }
  if (env.kind !== MsgKind.Request || input.hasSessionId || env.method === 'initialize') {
    return { ok: true, era: '2025', version: undefined };
  }
  const scan = input.scan();
  if (scan.ok && scan.protocolVersionKind !== 'absent') {
    return {
      ok: false,
      problem: { code: ErrorCode.HeaderMismatch, message: 'Header mismatch: required MCP-Protocol-Version header is missing', replyEra: '2026' },
    };
  }
  return { ok: true, era: '2025', version: undefined };
}

function modern(version: string, input: EraInput): EraDecision {
  const { env } = input;
  // Clients of this revision send no responses (basic/transports: no other message direction).
  if (env.kind === MsgKind.Response) {
    return { ok: false, problem: { code: ErrorCode.InvalidRequest, message: 'a 2026-07-28 client sends no JSON-RPC responses', replyEra: '2026' } };
  }
  // Notifications carry no required _meta; the transport defines none for HTTP. The acceptor answers them.
  if (env.kind !== MsgKind.Request) return { ok: true, era: '2026', version, scan: undefined };
  const scan = input.scan();
  if (!scan.ok) return { ok: false, problem: { code: ErrorCode.InvalidRequest, message: scan.problem, replyEra: '2026' } };
  if (scan.protocolVersionKind === 'absent') {
    return { ok: false, problem: { code: ErrorCode.InvalidParams, message: `params._meta["${META_PROTOCOL_VERSION}"] is required`, replyEra: '2026' } };
  }
  if (scan.protocolVersion !== version) {
    return {
      ok: false,
      problem: {
        code: ErrorCode.HeaderMismatch,
        message: `Header mismatch: MCP-Protocol-Version header value '${version}' does not match body value`,
        replyEra: '2026',
      },
    };
  }
  if (!scan.hasClientCapabilities) {
    return { ok: false, problem: { code: ErrorCode.InvalidParams, message: `params._meta["${META_CLIENT_CAPABILITIES}"] is required`, replyEra: '2026' } };
  }
  return { ok: true, era: '2026', version, scan };
}

/** Core methods 2026-07-28 removed (changelog 2, 4, 5): a modern request naming one is answered 404 -32601. */
export const REMOVED_IN_2026: ReadonlySet<string> = new Set([
  'initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe',
]);

/** The 2026 methods that take InputRequiredResult (basic/patterns/mrtr "Supported Requests"). */
export const MRTR_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** A removed method on a 2026 request, or null. Unknown methods pass: extensions may define them. */
export function methodProblem2026(method: string): EraProblem | null {
  if (!REMOVED_IN_2026.has(method)) return null;
  return { code: ErrorCode.MethodNotFound, message: `Method not found: ${method} does not exist in 2026-07-28`, replyEra: '2026' };
}
