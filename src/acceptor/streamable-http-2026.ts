/**
 * MCP 2026-07-28 on the Streamable HTTP endpoint (/NAME/mcp): the pass-through to a session-less
 * 2026 upstream (docs/mcp-2026-07-28.md, "pass" column). streamable-http.ts hands a POST here once
 * its body is parsed; a request that is not 2026 goes back (returns false) and is served as before.
 *
 * A 2026 request is self-describing: no session is looked up, minted or forwarded (an
 * Mcp-Session-Id is ignored, as a 2026 server does). Order of checks, all before routing:
 * era (detectEra: header vs `_meta`), removed methods (404 -32601), Mcp-Method / Mcp-Name against
 * the body and, for a tools/call of a tool seen in this destination's tools/list, its Mcp-Param-*
 * against the arguments (400 -32020 with the request's id), the destination's era (a session-era
 * upstream answers 400 -32022 listing the session revisions, so a 2026 client falls back to
 * initialize).
 * Then the least-loaded worker forwards it with the validated headers (streamable-http-2026 worker
 * side: upstream/sessionless-http.ts). Every refusal uses the 2026 error codes.
 */
import type { HttpRequest, HttpResponse } from './http-types.js';
import { ErrorCode, type ReplyEra } from '../errors.js';
import { MODERN_VERSIONS, SESSION_ERA_VERSIONS, detectEra, methodProblem2026 } from '../era/detect.js';
import { scanRequest2026 } from '../era/envelope2026.js';
import { checkHeaders2026 } from '../era/headers2026.js';
import { mrtrTarget } from '../era/mrtr-spans.js';
import { type Envelope, MsgKind } from '../upstream/jsonrpc-envelope.js';
import type { Core } from './core.js';
import type { Abortable } from './http-util.js';
import { SessionlessPostReply, writeEraError } from './replies-2026.js';

const MODERN = new Set(MODERN_VERSIONS);
/** Most Mcp-* headers one request may carry (each is forwarded upstream). */
export const MAX_MCP_HEADERS = 64;
/** The session revisions a session-era destination speaks, newest first (UnsupportedProtocolVersion data). */
const SESSION_ERA_NEWEST_FIRST: readonly string[] = [...SESSION_ERA_VERSIONS].reverse();
/** Headers whose value decides routing or validation: a second copy would let two readers disagree. */
const SINGLE = /^mcp-(?:protocol-version|method|name|param-.+)$/;

/** The Mcp-* headers of a 2026 request, copied while `req` is valid (uWS: synchronously). */
export interface McpHeaders {
  /** [lower-case name, value], in arrival order, Mcp-Session-Id left out (never forwarded). */
  list: [string, string][];
  /** A routed header that came twice, if any. */
  duplicate: string | undefined;
  tooMany: boolean;
}

/** True when `version` (the MCP-Protocol-Version header) names a 2026 revision. */
export function isModernVersion(version: string): boolean {
  return MODERN.has(version);
}

export function captureMcpHeaders(req: HttpRequest): McpHeaders {
  const out: McpHeaders = { list: [], duplicate: undefined, tooMany: false };
  const seen = new Set<string>();
  req.forEach((name, value) => {
    if (!name.startsWith('mcp-') || name === 'mcp-session-id') return;
    if (out.list.length >= MAX_MCP_HEADERS) {
      out.tooMany = true;
      return;
    }
    if (seen.has(name) && SINGLE.test(name)) out.duplicate ??= name;
    seen.add(name);
    out.list.push([name, value]);
  });
  return out;
}

/** The state handlePost shares with this handler (its onAborted reaches our reply through it). */
export interface PostState2026 extends Abortable {
  reply: { onAborted(): void } | null;
}

export interface Post2026 {
  dest: string;
  res: HttpResponse;
  st: PostState2026;
  env: Envelope;
  body: string;
  /** MCP-Protocol-Version; '' when absent. */
  version: string;
  hasSessionId: boolean;
  /** Captured when the version header named a 2026 revision (else undefined). */
  headers: McpHeaders | undefined;
  started: number;
  /** Authenticated client name (AuthOk.client): the bridge's affinity and session key. */
  principal: string;
}

/**
 * Serve `p` if it is a 2026-07-28 request (or a malformed attempt at one); false = session era,
 * the caller continues as before. Runs after frameProblem() accepted the envelope.
 */
export function handlePost2026(core: Core, p: Post2026): boolean {
  const { env, res, st, dest } = p;
  const decision = detectEra({ header: p.version, hasSessionId: p.hasSessionId, env, scan: () => scanRequest2026(p.body) });
  const refuse = (era: ReplyEra, code: ErrorCode, message: string, data?: Record<string, unknown>): true => {
    let status = 0;
    if (st.aborted) status = 499;
    else res.cork(() => {
      status = writeEraError(res, era, code, message, env.id ?? null, data);
    });
    core.logExchange(dest, undefined, env.method, status, p.started, code, '2026');
    return true;
  };
  if (!decision.ok) return refuse(decision.problem.replyEra, decision.problem.code, decision.problem.message, decision.problem.data);
  if (decision.era === '2025') return false;

  const headers = p.headers ?? { list: [], duplicate: undefined, tooMany: false };
  if (headers.tooMany) return refuse('2026', ErrorCode.InvalidRequest, `more than ${MAX_MCP_HEADERS} Mcp-* headers`);
  if (headers.duplicate !== undefined) return refuse('2026', ErrorCode.HeaderMismatch, `Header mismatch: ${headers.duplicate} is repeated`);
  if (env.kind !== MsgKind.Request || decision.scan === undefined) {
    // 2026-07-28 defines no client notifications on HTTP: acknowledged, nothing to forward.
    if (!st.aborted) res.cork(() => {
      res.writeStatus('202 Accepted');
      res.end();
    });
    core.logExchange(dest, undefined, env.method, 202, p.started, 'notification', '2026');
    return true;
  }
  const method = env.method as string;
  const removed = methodProblem2026(method);
  if (removed) return refuse('2026', removed.code, removed.message);
  const get = (name: string): string => {
    for (const [k, v] of headers.list) if (k === name) return v;
    return '';
  };
  // Mcp-Param-* of a tool the proxy saw in a tools/list of this destination (tool-header-cache.ts)
  // are checked against the arguments; the body is scanned again for them only then, so every other
  // request costs one Map lookup at most. Unknown tools (or before any tools/list) have no specs:
  // their Mcp-Param-* are forwarded unchecked, as an intermediary that does not recognise them
  // must, and the 2026 upstream validates them itself.
  let scan = decision.scan;
  const tool = method === 'tools/call' && scan.name !== undefined ? core.toolHeaders.lookup(dest, scan.name) : undefined;
  if (tool !== undefined) {
    const again = scanRequest2026(p.body, tool.paths);
    if (!again.ok) return refuse('2026', ErrorCode.InvalidRequest, again.problem);
    scan = again;
  }
  const mismatch = checkHeaders2026(get, method, scan, tool?.params);
  if (mismatch) return refuse('2026', mismatch.code, mismatch.message);

  const d = core.config.destinations[dest];
  // B1: a session-era destination is bridged, pinned per principal. A virtual server has no
  // destinations entry (the names never collide): it is bridged the same way (its members are
  // session-era sessions of the worker's virtual session, src/virtual/bridged.ts).
  if (!d && !core.config.virtualServers[dest]) {
    return refuse('2026', ErrorCode.UnsupportedProtocolVersion,
      `Unsupported protocol version: destination ${dest} serves the session revisions (initialize with one of data.supported)`,
      { supported: [...SESSION_ERA_NEWEST_FIRST], requested: decision.version });
  }
  const bridge = d === undefined || d.protocol !== '2026';
  if (core.draining) return refuse('2026', ErrorCode.ShuttingDown, 'proxy is shutting down');
  // B1 MRTR retry: the token (minted by a worker when it parked the call) names the worker that
  // holds the parked upstream exchange; a pass-through destination's requestState is the
  // upstream's own and is forwarded untouched.
  if (bridge && decision.scan.requestStateKind !== 'absent') {
    const scan = decision.scan;
    const v = scan.requestState === undefined
      ? undefined
      : core.signer.verify(scan.requestState, { principal: p.principal, method, target: mrtrTarget(scan) });
    if (!v?.ok) return refuse('2026', v?.code ?? ErrorCode.RequestStateInvalid, v?.reason ?? 'requestState must be a string');
    const w = v.claims.worker;
    // A worker that died took its parked calls with it (a respawned one answers "already answered").
    if (!core.supervisor.isUp(w)) return refuse('2026', ErrorCode.RequestStateInvalid, 'requestState names a call that no longer exists: send the original request again');
    if (!core.hasRoom(w)) return refuse('2026', ErrorCode.Overloaded, 'proxy is at capacity, retry shortly');
    const reply = new SessionlessPostReply(core, core.rid(), w, dest, method, res, env.id ?? null, 0);
    st.reply = reply;
    core.resume2026(reply, { session: v.claims.session, parked: String(v.claims.parked), principal: p.principal, body: p.body });
    return true;
  }
  const worker = bridge ? core.bridgeAffinity.pick(core.supervisor, p.principal, dest) : core.supervisor.pickLeastInflight();
  if (worker < 0 || !core.hasRoom(worker)) return refuse('2026', ErrorCode.Overloaded, 'proxy is at capacity, retry shortly');

  const long = method === 'subscriptions/listen';
  const reply = new SessionlessPostReply(core, core.rid(), worker, dest, method, res, env.id ?? null, long ? core.config.sseKeepaliveMs : 0);
  st.reply = reply;
  // A bridged listen keeps its principal on this worker for as long as it is open.
  if (bridge && long) reply.onFinished = core.bridgeAffinity.hold(p.principal, dest);
  core.forward2026(reply, { body: p.body, headers: headers.list, long, bridge, principal: p.principal });
  return true;
}

/** GET/DELETE that name a 2026 revision: 405 Allow: POST (2026 has no GET stream, no DELETE). True when answered. */
export function refuseModernGetDelete(core: Core, dest: string, res: HttpResponse, req: HttpRequest, what: 'GET' | 'DELETE'): boolean {
  if (!isModernVersion(req.getHeader('mcp-protocol-version'))) return false;
  const status = writeEraError(res, '2026', ErrorCode.MethodNotAllowed, `${what} is not part of 2026-07-28: use POST`, null, undefined, { allow: 'POST' });
  core.logExchange(dest, undefined, what, status, Date.now(), ErrorCode.MethodNotAllowed, '2026');
  return true;
}
