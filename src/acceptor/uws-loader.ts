/**
 * Chooses the uWebSockets.js binding (platform-notes): an official `uWebSockets.js` if the
 * operator installed one, else the trufflesuite build of v20.30. The truffle package silently
 * falls back to a slow pure-JS imitation when its native binary does not load; we refuse to run
 * on that unless the operator asks for it (MITHRIL_ALLOW_JS_UWS=1), because it would quietly
 * cost an order of magnitude in throughput.
 */
import { createRequire } from 'node:module';
import type * as UwsTypes from '@trufflesuite/uws-js-unofficial';

export type Uws = typeof UwsTypes;

export interface Binding {
  uws: Uws;
  name: string;
  version: string;
  native: boolean;
}

const require = createRequire(import.meta.url);

function tryLoad(name: string): Binding | undefined {
  try {
    const uws = require(name) as Uws;
    let version = 'unknown';
    try {
      version = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      // Official builds ship no package.json in some installs; the name is still useful.
    }
    return { uws, name, version, native: /native code/.test(uws.App.toString()) };
  } catch {
    return undefined;
  }
}

let cached: Binding | undefined;

export function loadBinding(env: NodeJS.ProcessEnv = process.env): Binding {
  if (cached) return cached;
  const candidates = ['uWebSockets.js', '@trufflesuite/uws-js-unofficial'];
  let fallback: Binding | undefined;
  for (const name of candidates) {
    const b = tryLoad(name);
    if (!b) continue;
    if (b.native) return (cached = b);
    fallback ??= b;
  }
  if (fallback && env.MITHRIL_ALLOW_JS_UWS === '1') return (cached = fallback);
  throw new Error(
    fallback
      ? `uWebSockets.js native binary did not load for node ${process.versions.modules}/${process.platform}-${process.arch}; ` +
          'set MITHRIL_ALLOW_JS_UWS=1 to run on the slow pure-JS fallback'
      : 'no uWebSockets.js binding is installed (npm ci should have installed @trufflesuite/uws-js-unofficial)',
  );
}
