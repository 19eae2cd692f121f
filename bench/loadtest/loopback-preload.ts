/**
 * Preload (`node --import <this file>`) for peers that cannot be told where to bind (supergateway
 * listens on every interface): any TCP listen without an explicit host is moved to 127.0.0.1, so a
 * benchmark never opens a port beyond loopback.
 */
import net from 'node:net';

const LOOPBACK = '127.0.0.1';
const original = net.Server.prototype.listen;

// listen() has many overloads; only the port-without-host forms are rewritten.
net.Server.prototype.listen = function listenOnLoopback(this: net.Server, ...args: unknown[]): net.Server {
  const [first, second] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof second !== 'string') args.splice(1, 0, LOOPBACK);
  } else if (first !== null && typeof first === 'object' && !('path' in first) && !('fd' in first) && !('handle' in first)) {
    const opts = first as net.ListenOptions;
    if (opts.host === undefined || opts.host === '::' || opts.host === '0.0.0.0') args[0] = { ...opts, host: LOOPBACK };
  }
  return (original as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;
