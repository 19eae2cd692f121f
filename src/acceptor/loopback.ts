/**
 * What counts as loopback, decided by IP parsing (net.isIP / net.BlockList), never a string
 * prefix (`127.attacker.net` is a hostname): the one rule for the Origin and Host checks, the
 * admin endpoints' remote address, the off-loopback start rule and the front choice. `0.0.0.0` and `::` are not loopback: they are "any address" and a
 * page served from them must not be trusted like a local one.
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * True for an IPv4 literal in 127.0.0.0/8 or the IPv6 literal ::1 (brackets allowed, as URL
 * hostnames and Host headers write it). IPv4-mapped forms (`::ffff:127.0.0.1`) count too: the
 * BlockList maps them, and they reach the same socket.
 */
export function loopbackIp(host: string): boolean {
  const h = host.length > 1 && host.charCodeAt(0) === 0x5b && host.endsWith(']') ? host.slice(1, -1) : host;
  const v = isIP(h);
  if (v === 0) return false;
  return LOOPBACK.check(h, v === 4 ? 'ipv4' : 'ipv6');
}

/** A host (listen.host, a URL's hostname) that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === 'localhost' || loopbackIp(host);
}
