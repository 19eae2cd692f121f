/**
 * The client name of an anonymous client: its remote address, so per-client limits apply per
 * machine. IPv4-mapped IPv6 addresses are reported as IPv4, and IPv6 is keyed by its /64: one host
 * usually owns a whole /64 and could otherwise rotate through addresses to escape every limit.
 */
import { isIP } from 'node:net';

function expandV6(addr: string): string[] | null {
  const halves = addr.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return null;
  return [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

export function anonymousClient(remote: string): string {
  const addr = remote.startsWith('[') && remote.endsWith(']') ? remote.slice(1, -1) : remote;
  const mapped = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped?.[1] !== undefined && isIP(mapped[1]) === 4) return `anon:${mapped[1]}`;
  if (isIP(addr) === 4) return `anon:${addr}`;
  if (isIP(addr) === 6 && !addr.includes('.')) {
    const groups = expandV6(addr.split('%')[0]!);
    if (groups !== null) return `anon:${groups.slice(0, 4).join(':')}::/64`;
  }
  // Not an address we can parse (a front that reports something else): still one bounded key.
  return `anon:${addr.slice(0, 64)}`;
}
