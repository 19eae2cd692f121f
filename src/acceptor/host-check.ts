/**
 * Host header allow-list: the DNS-rebinding defence that does not depend on the browser sending
 * Origin (a rebound page's same-origin GET, an EventSource for /NAME/sse, carries none).
 *
 * A rebinding attack always arrives with a DNS name the attacker controls in Host, because the
 * browser fills Host from the URL it loaded. So the rule accepts, by default:
 *  - any IP literal (canonical dotted quad, or bracketed IPv6): a page loaded from an IP literal
 *    has that IP as its origin, so the same-origin policy already protects it;
 *  - `localhost`, this machine's hostname (os.hostname(), and `NAME.local` for mDNS), and
 *    `listen.host` when it is a name;
 *  - every entry of `allowed_hosts` (a name, accepted with any port, or `name:port`, accepted with
 *    exactly that port); `'*'` turns the check off (e.g. behind a reverse proxy that checks Host).
 * Everything else, a missing Host included, is refused with 421 E_FORBIDDEN_HOST. Names compare
 * case-insensitively and exactly: no suffix matching, no trailing-dot folding.
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { ErrorCode } from '../errors.js';
import type { HttpRequest, HttpResponse } from './http-types.js';
import { writeError } from './http-util.js';

export interface HostCheckConfig {
  readonly listen: { readonly host: string };
  readonly allowedHosts: readonly string[];
}

/** Most Host values remembered as accepted per config (IP literals with ports vary; this bounds them). */
const ACCEPTED_MEMO = 64;

interface Policy {
  any: boolean;
  /**
   * Host values (as received) already accepted: a client sends the same one on every request, and
   * the parse below ran per request on the acceptor thread (~1 µs). Only accepted values go in.
   */
  accepted: Set<string>;
  /** Names accepted with any port. */
  names: Set<string>;
  /** `name:port` accepted only together. */
  pairs: Set<string>;
}

/** Built once per config snapshot (reload builds a new object, so the cache follows it). */
const policies = new WeakMap<HostCheckConfig, Policy>();

function policyOf(cfg: HostCheckConfig): Policy {
  let p = policies.get(cfg);
  if (p !== undefined) return p;
  const names = new Set<string>(['localhost']);
  const pairs = new Set<string>();
  const me = hostname().toLowerCase();
  if (me !== '') {
    names.add(me);
    names.add(`${me}.local`);
  }
  const listen = cfg.listen.host.toLowerCase();
  if (isIP(listen) === 0) names.add(listen);
  let any = false;
  for (const raw of cfg.allowedHosts) {
    const e = raw.toLowerCase();
    if (e === '*') any = true;
    const hp = splitHost(e);
    if (hp === undefined) continue; // the schema refuses these; be safe anyway
    if (hp.port === '') names.add(hp.host);
    else pairs.add(`${hp.host}:${hp.port}`);
  }
  p = { any, accepted: new Set(), names, pairs };
  policies.set(cfg, p);
  return p;
}

/**
 * `host[:port]` or `[v6][:port]`, lower-case in. Undefined when malformed: an empty name, more
 * than one colon outside brackets, a port that is not 1-5 digits, or anything URL would have to
 * normalise (spaces, userinfo, a path).
 */
export function splitHost(h: string): { host: string; port: string } | undefined {
  let host: string;
  let rest: string;
  if (h.charCodeAt(0) === 0x5b /* [ */) {
    const close = h.indexOf(']');
    if (close < 0) return undefined;
    host = h.slice(0, close + 1);
    if (isIP(host.slice(1, -1)) !== 6) return undefined;
    rest = h.slice(close + 1);
  } else {
    const colon = h.indexOf(':');
    host = colon < 0 ? h : h.slice(0, colon);
    rest = colon < 0 ? '' : h.slice(colon);
    if (!HOST_NAME.test(host)) return undefined;
  }
  if (rest === '') return { host, port: '' };
  if (!PORT.test(rest)) return undefined;
  return { host, port: rest.slice(1) };
}

/** A DNS name or a dotted IPv4: labels of letters, digits, '-' and '_' separated by single dots. */
const HOST_NAME = /^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/;
const PORT = /^:[0-9]{1,5}$/;

/** Whether a request with this Host header (as received; '' when absent) may be served. */
export function hostAllowed(hostHeader: string, cfg: HostCheckConfig): boolean {
  const p = policyOf(cfg);
  if (p.any || p.accepted.has(hostHeader)) return true;
  if (!judge(hostHeader, p)) return false;
  if (p.accepted.size < ACCEPTED_MEMO) p.accepted.add(hostHeader);
  return true;
}

function judge(hostHeader: string, p: Policy): boolean {
  const hp = splitHost(hostHeader.toLowerCase());
  if (hp === undefined) return false;
  const { host, port } = hp;
  if (host.charCodeAt(0) === 0x5b) return true; // a bracketed IPv6 literal (checked by splitHost)
  if (isIP(host) === 4) return true;
  if (p.names.has(host)) return true;
  return port !== '' && p.pairs.has(`${host}:${port}`);
}

/**
 * The route-side check: 0 when the Host is served, else the status of the 421 JSON-RPC error it
 * wrote (E_FORBIDDEN_HOST). The Host is quoted cut short: it is attacker text.
 */
export function refuseForeignHost(res: HttpResponse, req: HttpRequest, cfg: HostCheckConfig): number {
  const host = req.getHeader('host');
  if (hostAllowed(host, cfg)) return 0;
  const shown = host === '' ? 'a missing Host header' : `Host ${JSON.stringify(host.slice(0, 100))}`;
  return writeError(res, ErrorCode.ForbiddenHost, `${shown} is not served here (allowed_hosts)`);
}
