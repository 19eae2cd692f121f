/**
 * Which HTTP front serves: native uWebSockets.js wherever a binding loads (front-uws.ts), else
 * node:http (front-node.ts). Both serve the same route handlers through the seam in
 * http-types.ts. `MITHRIL_FRONT=node` or `=uws` forces one (uws: refuse to start without it).
 *
 * Bound off loopback, `auto` picks node:http even where uWS loads: uWS v20.30 answers oversized
 * headers, malformed request lines and slow headers with silence and a close ~12 s later, while
 * node:http answers 431 / 400 / 408 at once (SECURITY.md, "Hostile input"). On a network the
 * clear answer is worth more than uWS's lower CPU per request (bench:fronts); an operator who
 * wants uWS anyway (behind HAProxy, which checks HTTP itself) sets MITHRIL_FRONT=uws.
 */
import { nodeFront } from './front-node.js';
import { loadUwsFront } from './front-uws.js';
import type { Front } from './http-types.js';

export interface FrontChoice {
  front: Front;
  /** Why this front: for the start-up log line. */
  why: string;
}

export function chooseFront(env: NodeJS.ProcessEnv = process.env, opts: { offLoopback?: boolean } = {}): FrontChoice {
  const want = env.MITHRIL_FRONT || 'auto';
  if (want !== 'auto' && want !== 'uws' && want !== 'node') {
    throw new Error(`MITHRIL_FRONT must be auto, uws or node (got '${want}')`);
  }
  if (want === 'node') return { front: nodeFront, why: 'MITHRIL_FRONT=node' };
  if (want === 'auto' && opts.offLoopback === true) {
    return { front: nodeFront, why: 'bound off loopback: node:http answers malformed HTTP (400/431/408); MITHRIL_FRONT=uws to override' };
  }
  const uws = loadUwsFront();
  if (uws.ok) return { front: uws.front, why: 'native uWebSockets.js binding loaded' };
  if (want === 'uws') throw new Error(`MITHRIL_FRONT=uws but no native uWebSockets.js binding loads: ${uws.reason}`);
  return { front: nodeFront, why: uws.reason };
}
