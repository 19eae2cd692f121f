/**
 * Operator endpoints and who may see operational details.
 *
 *  - `GET /admin/sessions` (handleAdminSessions): 404 unless `admin.token` is configured (the
 *    endpoint does not exist then), 401 without the right `Authorization: Bearer <token>`, else a
 *    JSON snapshot of the live sessions: short tag (session-tag.ts, never the id), destination,
 *    worker, age, idle time, upstream transport and state, plus per-destination counts. Only the
 *    token opens it, from anywhere: loopback alone is not enough for a page that lists sessions.
 *  - detailsAllowed(): whether a request may read `/metrics` and the detailed `/healthz` fields,
 *    per `admin.expose_metrics` (loopback | token | public). Unset: `loopback` when client
 *    authentication is on (a proxy that guards its destinations should not publish who uses
 *    them), `public` otherwise (today's behaviour: a loopback-bound proxy with no client auth has
 *    nothing to hide from its own clients). The bare liveness `{"status":"ok"}` is always public.
 *
 * Tokens are compared as SHA-256 digests with crypto.timingSafeEqual: equal lengths whatever was
 * presented, and the time taken does not depend on how much of the token matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminConfig } from '../config/types.js';
import { sessionTag } from '../observability/session-tag.js';
import type { Core } from './core.js';
import { loopbackIp } from './loopback.js';
import type { HttpRequest, HttpResponse } from './http-types.js';
import { writeResponse } from './http-util.js';

export type Exposure = 'loopback' | 'token' | 'public';

/** What detailsAllowed needs, derived once per config (detailsPolicy caches it per AdminConfig). */
export interface DetailsPolicy {
  readonly exposure: Exposure;
  /** sha256 of the admin token; undefined when none is configured. */
  readonly tokenDigest: Buffer | undefined;
}

/** Most sessions listed in one snapshot (`?limit=` up to this); per-destination counts are always complete. */
export const ADMIN_MAX_LIST = 10_000;
const ADMIN_DEFAULT_LIST = 1000;


function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

const policies = new WeakMap<AdminConfig, DetailsPolicy>();

/** The policy for this admin config (computed once per loaded config, not per request). */
export function detailsPolicy(admin: AdminConfig, clientAuthOn: boolean): DetailsPolicy {
  let p = policies.get(admin);
  if (!p) {
    p = {
      exposure: admin.exposeMetrics ?? (clientAuthOn ? 'loopback' : 'public'),
      tokenDigest: admin.token === undefined ? undefined : digest(admin.token),
    };
    policies.set(admin, p);
  }
  return p;
}

/** True when `authorization` is `Bearer <the admin token>` (scheme case-insensitive). */
export function adminTokenMatches(policy: DetailsPolicy, authorization: string): boolean {
  if (!policy.tokenDigest) return false;
  const m = /^bearer +(\S+) *$/i.exec(authorization);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), policy.tokenDigest);
}

/** May this request read /metrics and the detailed /healthz fields? */
export function detailsAllowed(policy: DetailsPolicy, remoteAddress: string, authorization: string): boolean {
  switch (policy.exposure) {
    case 'public':
      return true;
    case 'loopback':
      return loopbackIp(remoteAddress) || adminTokenMatches(policy, authorization);
    case 'token':
      return adminTokenMatches(policy, authorization);
  }
}

export interface AdminSessionView {
  tag: string;
  dest: string;
  worker: number;
  /** `streamable_http` client or `legacy_sse` client. */
  downstream: 'streamable_http' | 'legacy_sse';
  ageMs: number;
  idleMs: number;
  upstream: {
    transport: string;
    /** `initializing` until the upstream answered initialize, then `established`. */
    state: 'initializing' | 'established';
    /** A server-message stream (GET or legacy SSE) is open to the client. */
    streamOpen: boolean;
    /** Server messages queued while no stream is open. */
    queued: number;
  };
}

export interface AdminSnapshot {
  now: string;
  total: number;
  /** More sessions exist than `sessions` lists (see `?limit=`). */
  truncated: boolean;
  destinations: Record<string, { transport: string; sessions: number; streamsOpen: number; queued: number }>;
  workers: Record<string, number>;
  sessions: AdminSessionView[];
}

/** The snapshot itself (no ids, no headers, no secrets: only what the acceptor's store knows). */
export function adminSnapshot(core: Core, limit = ADMIN_DEFAULT_LIST, now = Date.now()): AdminSnapshot {
  const destinations: AdminSnapshot['destinations'] = {};
  for (const [name, d] of Object.entries(core.config.destinations)) destinations[name] = { transport: d.transport, sessions: 0, streamsOpen: 0, queued: 0 };
  for (const name of Object.keys(core.config.virtualServers)) destinations[name] = { transport: 'virtual', sessions: 0, streamsOpen: 0, queued: 0 };
  const workers: Record<string, number> = {};
  const sessions: AdminSessionView[] = [];
  let total = 0;
  for (const s of core.store.all()) {
    total++;
    const streamOpen = s.stream !== null && !s.stream.done;
    // A destination removed by a reload still has sessions until they end: list it too.
    const d = (destinations[s.dest] ??= { transport: core.config.destinations[s.dest]?.transport ?? 'removed', sessions: 0, streamsOpen: 0, queued: 0 });
    d.sessions++;
    if (streamOpen) d.streamsOpen++;
    d.queued += s.queue.length;
    workers[s.worker] = (workers[s.worker] ?? 0) + 1;
    if (sessions.length >= limit) continue;
    sessions.push({
      tag: sessionTag(s.sid),
      dest: s.dest,
      worker: s.worker,
      downstream: s.legacy ? 'legacy_sse' : 'streamable_http',
      ageMs: now - s.created,
      idleMs: now - s.lastSeen,
      upstream: { transport: d.transport, state: s.established ? 'established' : 'initializing', streamOpen, queued: s.queue.length },
    });
  }
  return { now: new Date(now).toISOString(), total, truncated: total > sessions.length, destinations, workers, sessions };
}

/**
 * GET /admin/sessions. `clientAuthOn` only feeds the policy's default exposure; this endpoint
 * always needs the token.
 */
export function handleAdminSessions(core: Core, res: HttpResponse, req: HttpRequest, clientAuthOn = false): void {
  const policy = detailsPolicy(core.config.admin, clientAuthOn);
  if (!policy.tokenDigest) {
    writeResponse(res, 404, 'application/json', JSON.stringify({ error: 'not found', path: req.getUrl() }));
    return;
  }
  if (!adminTokenMatches(policy, req.getHeader('authorization'))) {
    writeResponse(res, 401, 'application/json', JSON.stringify({ error: 'admin token required (Authorization: Bearer <admin.token>)' }), {
      'www-authenticate': 'Bearer realm="mithril-admin"',
      'cache-control': 'no-store',
    });
    return;
  }
  const asked = Number(req.getQuery('limit') ?? ADMIN_DEFAULT_LIST);
  const limit = Number.isInteger(asked) && asked >= 0 ? Math.min(asked, ADMIN_MAX_LIST) : ADMIN_DEFAULT_LIST;
  writeResponse(res, 200, 'application/json', JSON.stringify(adminSnapshot(core, limit)), { 'cache-control': 'no-store' });
}

/** /metrics refused: 401 when the admin token would open it, else 403 (loopback only). */
export function writeDetailsDenied(res: HttpResponse, policy: DetailsPolicy): void {
  if (policy.tokenDigest) {
    writeResponse(res, 401, 'application/json', JSON.stringify({ error: 'admin token required (Authorization: Bearer <admin.token>)' }), {
      'www-authenticate': 'Bearer realm="mithril-admin"',
    });
    return;
  }
  writeResponse(res, 403, 'application/json', JSON.stringify({ error: 'metrics are served to loopback clients only (admin.expose_metrics)' }));
}

/** The liveness answer everyone may read, and the detailed one for those detailsAllowed() lets in. */
export function healthBody(core: Core, details: () => Record<string, unknown>, allowed: boolean): string {
  const status = core.draining ? 'draining' : 'ok';
  return JSON.stringify(allowed ? { status, ...details() } : { status });
}
