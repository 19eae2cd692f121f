/**
 * Which HTTP front serves: native uWebSockets.js wherever a binding loads (front-uws.ts), else
 * node:http (front-node.ts). Both serve the same route handlers through the seam in
 * http-types.ts. `MITHRIL_FRONT=node` or `=uws` forces one (uws: refuse to start without it).
 */
import { nodeFront } from './front-node.js';
import { loadUwsFront } from './front-uws.js';
import type { Front } from './http-types.js';

export interface FrontChoice {
  front: Front;
  /** Why this front: for the start-up log line. */
  why: string;
}

export function chooseFront(env: NodeJS.ProcessEnv = process.env): FrontChoice {
  const want = env.MITHRIL_FRONT || 'auto';
  if (want !== 'auto' && want !== 'uws' && want !== 'node') {
    throw new Error(`MITHRIL_FRONT must be auto, uws or node (got '${want}')`);
  }
  if (want === 'node') return { front: nodeFront, why: 'MITHRIL_FRONT=node' };
  const uws = loadUwsFront();
  if (uws.ok) return { front: uws.front, why: 'native uWebSockets.js binding loaded' };
  if (want === 'uws') throw new Error(`MITHRIL_FRONT=uws but no native uWebSockets.js binding loads: ${uws.reason}`);
  return { front: nodeFront, why: uws.reason };
}
