/**
 * The uWebSockets.js front: the native binding when one loads for this Node and platform.
 *
 * Candidates, in order: an official `uWebSockets.js` if the operator installed one (it is not on
 * the npm registry; it installs from the project's GitHub tags), then the trufflesuite build of
 * uWS v20.30 (`@trufflesuite/uws-js-unofficial`, native for Node ABI 93/108/115 = Node 16/18/20).
 *
 * The truffle package's entry silently falls back to a pure-JS imitation of uWS when its binary
 * does not load (or when UWS_USE_FALLBACK is set). We never run on that: we load the package's
 * native binary for this ABI directly, and when there is none the caller serves on node:http
 * (front-node.ts) instead, which is honest about what it is.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UwsTypes from '@trufflesuite/uws-js-unofficial';
import type { Front, HttpApp, Listener } from './http-types.js';

type Uws = typeof UwsTypes;

const require = createRequire(import.meta.url);
const TRUFFLE = '@trufflesuite/uws-js-unofficial';
/** ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT: a second instance on the port fails instead of sharing it. */
const LISTEN_EXCLUSIVE_PORT = 1;

export type UwsLoad = { ok: true; front: Front } | { ok: false; reason: string };

function versionOf(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown'; // official builds ship no package.json in some installs
  }
}

function isNative(uws: Uws): boolean {
  return /native code/.test(uws.App.toString());
}

function tryOfficial(): Uws | string {
  try {
    const uws = require('uWebSockets.js') as Uws;
    return isNative(uws) ? uws : 'uWebSockets.js is installed but not native';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'MODULE_NOT_FOUND' ? 'uWebSockets.js is not installed' : `uWebSockets.js did not load: ${(err as Error).message.split('\n')[0]}`;
  }
}

function tryTruffle(): Uws | string {
  let dir: string;
  try {
    dir = dirname(require.resolve(`${TRUFFLE}/package.json`));
  } catch {
    return `${TRUFFLE} is not installed`;
  }
  const file = join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  if (!existsSync(file)) {
    return `${TRUFFLE} has no native binary for node ${process.versions.node} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  }
  try {
    const uws = require(file) as Uws;
    return isNative(uws) ? uws : `${TRUFFLE} binary is not native`;
  } catch (err) {
    return `${TRUFFLE} native binary did not load: ${(err as Error).message.split('\n')[0]}`;
  }
}

function frontOf(uws: Uws, name: string): Front {
  return {
    kind: 'uws',
    name,
    version: versionOf(name),
    // uWS's own app satisfies the seam's HttpApp; its handlers get uWS objects, which satisfy
    // HttpRequest/HttpResponse as they are.
    createApp: () => uws.App() as unknown as HttpApp,
    listen(app: HttpApp, host: string, port: number): Promise<Listener> {
      const uapp = app as unknown as UwsTypes.TemplatedApp;
      return new Promise((resolve, reject) => {
        (uapp.listen as unknown as (h: string, p: number, o: number, cb: (t: UwsTypes.us_listen_socket | false) => void) => void)(
          host, port, LISTEN_EXCLUSIVE_PORT, (token) => {
            if (!token) return reject(new Error(`cannot listen on ${host}:${port} (in use or not permitted)`));
            resolve({
              port: uws.us_socket_local_port(token),
              stopAccepting: () => uws.us_listen_socket_close(token),
              // Force-close kept-alive connections (present on v20.30, missing from its typings).
              closeAll: () => (uapp as unknown as { close?: () => void }).close?.(),
            });
          });
      });
    },
  };
}

let cached: UwsLoad | undefined;

/** The native uWS front, or why there is none. Loaded once per thread. */
export function loadUwsFront(): UwsLoad {
  if (cached) return cached;
  const official = tryOfficial();
  if (typeof official !== 'string') return (cached = { ok: true, front: frontOf(official, 'uWebSockets.js') });
  const truffle = tryTruffle();
  if (typeof truffle !== 'string') return (cached = { ok: true, front: frontOf(truffle, TRUFFLE) });
  return (cached = { ok: false, reason: `${official}; ${truffle}` });
}
