/**
 * Where the proxy may fetch key material from: https anywhere, or http only to a loopback host
 * (the key set then never crosses a network). Loopback itself is decided in one place.
 */
import { isLoopbackHost } from '../acceptor/loopback.js';

export function isSafeFetchUrl(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const u = new URL(url);
  if (u.username !== '' || u.password !== '') return false;
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && isLoopbackHost(u.hostname);
}
