/**
 * RFC 9728 protected resource metadata, for `GET /.well-known/oauth-protected-resource` (the proxy
 * as a whole) and `GET /.well-known/oauth-protected-resource/NAME/mcp` (one destination's endpoint,
 * the document 401 challenges point at). It names the issuer as the authorization server, so MCP
 * clients can discover where to get a token (MCP authorization spec, "Authorization Server
 * Location").
 *
 * Any well-formed NAME gets a document, configured or not: answering 404 for unknown names would let
 * anyone enumerate destinations without credentials. The root document lists only the wildcard
 * scope for the same reason.
 */
import { DESTINATION_NAME } from '../config/schema.js';
import type { JwtConfig } from '../config/types.js';
import { ErrorCode, jsonRpcErrorBody } from '../errors.js';
import { WELL_KNOWN, resourceFor } from './challenge.js';

export interface MetadataAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function notFound(): MetadataAnswer {
  return { status: 404, headers: JSON_HEADERS, body: jsonRpcErrorBody(null, ErrorCode.NotFound, 'no protected resource metadata here') };
}

/** `path` is the request path (a query string is ignored). */
export function protectedResourceMetadata(jwt: JwtConfig | null, path: string): MetadataAnswer {
  if (jwt === null) return notFound();
  const q = path.indexOf('?');
  const p = (q < 0 ? path : path.slice(0, q)).replace(/\/+$/, '');
  if (p !== WELL_KNOWN && !p.startsWith(`${WELL_KNOWN}/`)) return notFound();
  const rest = p.slice(WELL_KNOWN.length);
  const basePath = new URL(jwt.resource).pathname.replace(/\/+$/, '');
  let resource: string;
  let scopes: string[];
  if (rest === '' || rest === basePath) {
    resource = jwt.resource;
    scopes = [`${jwt.scopePrefix}*`];
  } else {
    // `/NAME/mcp`, or `<base path>/NAME/mcp` when the proxy is published under a path.
    const local = basePath !== '' && rest.startsWith(`${basePath}/`) ? rest.slice(basePath.length) : rest;
    const m = /^\/([^/]+)\/mcp$/.exec(local);
    const name = m?.[1];
    if (name === undefined || !DESTINATION_NAME.test(name)) return notFound();
    resource = resourceFor(jwt.resource, name);
    scopes = [`${jwt.scopePrefix}${name}`, `${jwt.scopePrefix}*`];
  }
  const doc: Record<string, unknown> = {
    resource,
    authorization_servers: [jwt.issuer],
    bearer_methods_supported: ['header'],
    resource_name: 'mithril-proxy',
  };
  if (jwt.requireScope) doc.scopes_supported = scopes;
  return {
    status: 200,
    headers: { ...JSON_HEADERS, 'cache-control': 'public, max-age=300' },
    body: JSON.stringify(doc),
  };
}
