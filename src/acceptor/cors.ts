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
const ALLOW_HEADERS = 'content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id';
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

/** Answer a preflight (OPTIONS); `applyCors` already made the status line carry the origin. */
export function writePreflight(res: HttpResponse): void {
  res.writeStatus('204 No Content');
  res.writeHeader('access-control-allow-methods', ALLOW_METHODS);
  res.writeHeader('access-control-allow-headers', ALLOW_HEADERS);
  res.writeHeader('access-control-max-age', MAX_AGE);
  res.endWithoutBody(0);
}
