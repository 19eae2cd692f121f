/**
 * Which hosts count as loopback, with real address parsing (net.isIP + a BlockList), never a
 * string prefix: `127.attacker.net` is a hostname, not a loopback address.
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `host` as written in `listen.host` or a URL's hostname (IPv6 may carry brackets). */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  const family = isIP(h);
  if (family === 4) return LOOPBACK.check(h, 'ipv4');
  if (family === 6) {
    // ::ffff:127.0.0.1 is the IPv4 loopback seen through a dual-stack socket.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(h);
    if (mapped?.[1] !== undefined) return LOOPBACK.check(mapped[1], 'ipv4');
    return LOOPBACK.check(h, 'ipv6');
  }
  return false;
}

/** https anywhere, or http only to a loopback host (the key set then never crosses a network). */
export function isSafeFetchUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const u = new URL(url);
  if (u.username !== '' || u.password !== '') return false;
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && isLoopbackHost(u.hostname);
}
