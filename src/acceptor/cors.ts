/**
 * CORS for browser clients (the MCP Inspector's direct mode, web apps) from allowed origins
 * (loopback or `allowed_origins`, see origin.ts). Without it a browser may send requests but
 * cannot read replies or the Mcp-Session-Id header.
 *
 * Every response path writes its status line through `res.writeStatus`; for a CORS request that
 * one method is wrapped so the headers follow whatever status is written, from any handler, with
 * no per-request cost for the non-browser clients that make up nearly all traffic.
 */
import type { HttpResponse } from './http-types.js';

const ALLOW_METHODS = 'GET, POST, DELETE, OPTIONS';
// mcp-method / mcp-name: every 2026-07-28 request carries them; traceparent & co. may ride along.
const ALLOW_HEADERS = 'content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id, '
  + 'mcp-method, mcp-name, traceparent, tracestate, baggage';
/** At most this many Mcp-Param-* names echoed per preflight (as many as one request may carry). */
const MAX_PARAM_HEADERS = 64;
// The token characters a header name may have (RFC 9110; era/tool-headers.ts checks the same), lower-cased.
const PARAM_HEADER = /^mcp-param-[!#$%&'*+\-.^_`|~0-9a-z]{1,64}$/;
// WWW-Authenticate: a browser client reads the 401 challenge to find the authorization server.
const EXPOSE_HEADERS = 'mcp-session-id, mcp-protocol-version, www-authenticate';
const MAX_AGE = '600';

function writeCorsHeaders(res: HttpResponse, origin: string): void {
  res.writeHeader('access-control-allow-origin', origin);
  res.writeHeader('vary', 'origin');
  res.writeHeader('access-control-expose-headers', EXPOSE_HEADERS);
}

/** Make every status line this response writes carry the CORS headers for `origin`. */
export function applyCors(res: HttpResponse, origin: string): void {
  const writeStatus = res.writeStatus;
  res.writeStatus = (status) => {
    writeStatus.call(res, status);
    writeCorsHeaders(res, origin);
    return res;
  };
}

/**
 * The allowed request headers for one preflight: the fixed list, plus the `Mcp-Param-*` names the
 * browser asks for (2026-07-28 tools mirror arguments into headers whose names only the tool's
 * schema knows, and CORS has no prefix wildcard). Other requested names are not echoed.
 */
export function allowHeadersFor(requested: string): string {
  if (!/mcp-param-/i.test(requested)) return ALLOW_HEADERS;
  const params: string[] = [];
  for (const raw of requested.split(',')) {
    const name = raw.trim().toLowerCase();
    if (PARAM_HEADER.test(name) && params.length < MAX_PARAM_HEADERS) params.push(name);
  }
  return params.length ? `${ALLOW_HEADERS}, ${params.join(', ')}` : ALLOW_HEADERS;
}

/** Answer a preflight (OPTIONS); `applyCors` already made the status line carry the origin. */
export function writePreflight(res: HttpResponse, requestedHeaders = ''): void {
  res.writeStatus('204 No Content');
  res.writeHeader('access-control-allow-methods', ALLOW_METHODS);
  res.writeHeader('access-control-allow-headers', allowHeadersFor(requestedHeaders));
  res.writeHeader('access-control-max-age', MAX_AGE);
  res.endWithoutBody(0);
}
