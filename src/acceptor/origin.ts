/**
 * Origin validation (MCP transport spec: a server MUST validate Origin and answer 403 when it is
 * present and not allowed). A proxy on 127.0.0.1 is reachable from any web page the operator
 * opens; without this, DNS rebinding would let such a page drive its tools. Non-browser clients
 * send no Origin and are not affected.
 *
 * Loopback is decided by parsing, never by string prefixes (`127.0.0.1.evil.example` is a DNS
 * name an attacker owns). Browsers always send the serialized origin (`scheme://host[:port]`,
 * lower-case, IPv4 as a dotted quad), so anything that is not already in that form is refused:
 * that rejects userinfo (`http://127.0.0.1@evil.example`), paths, trailing dots, and the numeric
 * spellings WHATWG URL would normalise to 127.0.0.1 (`http://2130706433`, `http://0x7f.1`,
 * `http://127.1`, `http://0177.0.0.1`): no browser emits them, so whoever does is not a page we
 * have to serve and gets the answer a foreign origin gets.
 */
import { loopbackIp } from './loopback.js';

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (allowed.length > 0 && (allowed.includes('*') || allowed.includes(origin))) return true;
  return isLoopbackOrigin(origin);
}

/** `http(s)://localhost|127.x.y.z|[::1][:port]`, exactly as a browser serializes it. */
export function isLoopbackOrigin(origin: string): boolean {
  if (!URL.canParse(origin)) return false;
  const u = new URL(origin);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  // The serialization round trip is the canonical-form test (it drops userinfo, path, and
  // rewrites numeric and dotted spellings), so any difference means a non-browser spelling.
  if (u.origin !== origin) return false;
  return u.hostname === 'localhost' || loopbackIp(u.hostname);
}
