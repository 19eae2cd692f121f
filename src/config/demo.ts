/**
 * The built-in config `npm start` serves when no file is given: one stdio destination, `demo`, that
 * runs the example counter server shipped in the repository, so a fresh checkout needs nothing else.
 * It is written as the YAML a user would write and goes through the same validation and defaults.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ProxyError } from '../errors.js';
import { formatProblems, resolveConfigObject } from './load.js';
import type { ProxyConfig } from './types.js';

/** This module runs as dist/src/config/demo.js; the example server is built to dist/examples/. */
export const DEMO_SERVER_PATH = fileURLToPath(new URL('../../examples/counter-server.js', import.meta.url));

export function demoConfig(overrides: { port?: number; host?: string; workers?: number } = {}): ProxyConfig {
  const listen: Record<string, unknown> = {};
  if (overrides.host !== undefined) listen.host = overrides.host;
  if (overrides.port !== undefined) listen.port = overrides.port;
  const raw: Record<string, unknown> = {
    listen,
    destinations: {
      demo: { transport: 'stdio', command: process.execPath, args: [DEMO_SERVER_PATH, '--stdio'] },
    },
  };
  if (overrides.workers !== undefined) raw.workers = overrides.workers;

  const result = resolveConfigObject(raw, { source: null, baseDir: dirname(DEMO_SERVER_PATH) });
  if (!result.ok) {
    // Only an override (e.g. a port from the command line) can be wrong here.
    throw new ProxyError(ErrorCode.Internal, `invalid demo config:\n${formatProblems(result.problems)}`, {
      problems: result.problems,
    });
  }
  return result.config;
}
