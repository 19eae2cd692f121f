/**
 * Origin validation (MCP transport spec: a server MUST validate Origin and answer 403 when it is
 * present and not allowed). A proxy on 127.0.0.1 is reachable from any web page the operator
 * opens; without this, DNS rebinding would let such a page drive its tools. Non-browser clients
 * send no Origin and are not affected.
 */

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (allowed.length > 0 && (allowed.includes('*') || allowed.includes(origin))) return true;
  if (!URL.canParse(origin)) return false;
  const u = new URL(origin);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  return LOOPBACK_HOSTS.has(u.hostname) || u.hostname.startsWith('127.');
}
