/**
 * The two handshake translations the bridges need (docs/mcp-2026-07-28.md 1.2):
 *  - B1, 2026 client -> session-era upstream: the proxy answers `server/discover` itself, from the
 *    upstream's `initialize` result (server/discover.mdx: supportedVersions, capabilities,
 *    serverInfo in `_meta`, instructions, plus the CacheableResult fields);
 *  - B2, session-era client -> 2026-only upstream: the proxy answers `initialize` itself, from the
 *    upstream's `server/discover` result, in the revision the client asked for when we serve it.
 * Inputs are parsed JSON from an upstream (small objects); only known members are copied, and
 * values are copied by reference, never walked.
 */
import { MODERN_VERSIONS, SESSION_ERA_VERSIONS, SUPPORTED_VERSIONS } from './detect.js';

const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
/** Capabilities that exist in both eras with the same meaning. `tasks` moved to an extension in 2026. */
const SHARED_CAPABILITIES = ['experimental', 'logging', 'completions', 'prompts', 'resources', 'tools', 'extensions'];
const NEWEST_SESSION_ERA = SESSION_ERA_VERSIONS[SESSION_ERA_VERSIONS.length - 1] as string;

export type Translated = { ok: true; result: Record<string, unknown> } | { ok: false; problem: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function implementation(v: unknown): Record<string, unknown> | undefined {
  return isObject(v) && typeof v.name === 'string' && typeof v.version === 'string' ? v : undefined;
}

function capabilities(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isObject(v)) return out;
  for (const k of SHARED_CAPABILITIES) if (isObject(v[k])) out[k] = v[k];
  return out;
}

/**
 * B1: a DiscoverResult for a 2026 client from a session-era `initialize` result. The proxy serves
 * every version in SUPPORTED_VERSIONS on this endpoint, so that is what it advertises. Caching is
 * off (ttlMs 0, private): the proxy cannot promise that its own policies make the answer shareable.
 */
export function discoverFromInitialize(initResult: unknown): Translated {
  if (!isObject(initResult) || typeof initResult.protocolVersion !== 'string') {
    return { ok: false, problem: 'upstream initialize result has no protocolVersion' };
  }
  const result: Record<string, unknown> = {
    resultType: 'complete',
    supportedVersions: [...SUPPORTED_VERSIONS],
    capabilities: capabilities(initResult.capabilities),
    ttlMs: 0,
    cacheScope: 'private',
  };
  if (typeof initResult.instructions === 'string') result.instructions = initResult.instructions;
  const info = implementation(initResult.serverInfo);
  if (info) result._meta = { [SERVER_INFO]: info };
  return { ok: true, result };
}

/**
 * B2: an InitializeResult for a session-era client from a 2026 `server/discover` result. The
 * negotiated revision is the client's when we serve it, else the newest session revision (the
 * client then decides, as in any version negotiation). Refused when the upstream does not speak
 * 2026-07-28 (it is then not a 2026 upstream and must not be bridged this way).
 */
export function initializeFromDiscover(discoverResult: unknown, requestedVersion: string): Translated {
  if (!isObject(discoverResult) || !Array.isArray(discoverResult.supportedVersions)) {
    return { ok: false, problem: 'upstream server/discover result has no supportedVersions' };
  }
  const versions = discoverResult.supportedVersions;
  if (!MODERN_VERSIONS.some((v) => versions.includes(v))) {
    return { ok: false, problem: 'upstream does not support a 2026 revision the proxy speaks' };
  }
  const meta = isObject(discoverResult._meta) ? discoverResult._meta : {};
  const result: Record<string, unknown> = {
    protocolVersion: SESSION_ERA_VERSIONS.includes(requestedVersion) ? requestedVersion : NEWEST_SESSION_ERA,
    capabilities: capabilities(discoverResult.capabilities),
    serverInfo: implementation(meta[SERVER_INFO]) ?? { name: 'mithril-proxy-bridge', version: '0' },
  };
  if (typeof discoverResult.instructions === 'string') result.instructions = discoverResult.instructions;
  return { ok: true, result };
}
