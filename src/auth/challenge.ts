/**
 * RFC 9728 resource identifiers for this proxy and the `WWW-Authenticate` challenges (RFC 6750 §3)
 * that point clients at them. The base URL comes from config (`auth.jwt.resource`, else the
 * audience's origin), never from the Host header: Host is client-controlled, and a metadata URL
 * built from it would let anyone who can set it send clients to an authorization server of their
 * choosing.
 */

export const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** The resource a client names when asking for a token for `/NAME/mcp` (RFC 8707 `resource`). */
export function resourceFor(base: string, dest: string): string {
  return `${base}/${dest}/mcp`;
}

/** RFC 9728 §3.1: the well-known segment goes between the host and the resource's path. */
export function metadataUrlFor(base: string, dest: string | null): string {
  const u = new URL(base);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  return `${u.origin}${WELL_KNOWN}${path}${dest === null ? '' : `/${dest}/mcp`}`;
}

export interface ChallengeParams {
  /** Set when jwt is configured: the path-specific metadata document. */
  resourceMetadata?: string;
  /** 'invalid_token' (a token was sent but is not valid) or 'insufficient_scope' (403). */
  error?: 'invalid_token' | 'insufficient_scope';
  /** Fixed wording from this module's callers; never contains client input. */
  description?: string;
  /** Scopes that would satisfy the request (space-separated). */
  scope?: string;
}

/** Values here are config-derived URLs and our own fixed words; quotes and backslashes are dropped anyway. */
const quote = (v: string) => `"${v.replace(/["\\\r\n]/g, '')}"`;

export function bearerChallenge(p: ChallengeParams): string {
  const parts: string[] = [];
  if (p.error !== undefined) parts.push(`error=${quote(p.error)}`);
  if (p.description !== undefined) parts.push(`error_description=${quote(p.description)}`);
  if (p.scope !== undefined) parts.push(`scope=${quote(p.scope)}`);
  if (p.resourceMetadata !== undefined) parts.push(`resource_metadata=${quote(p.resourceMetadata)}`);
  if (parts.length === 0) parts.push('realm="mithril-proxy"');
  return `Bearer ${parts.join(', ')}`;
}
