/**
 * Builds an Authenticator from YAML through the real config loader (the same validation and
 * defaults operators get), with a log that the test can read back.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfigText } from '../../src/config/load.js';
import type { ProxyConfig } from '../../src/config/types.js';
import type { Logger } from '../../src/observability/log.js';

export const DESTS = `
destinations:
  github: { transport: streamable_http, url: 'http://127.0.0.1:9/mcp' }
  files: { transport: streamable_http, url: 'http://127.0.0.1:9/mcp' }
  other: { transport: streamable_http, url: 'http://127.0.0.1:9/mcp' }
`;

export function configWith(authYaml: string, env: NodeJS.ProcessEnv = {}): ProxyConfig {
  const r = parseConfigText(`${DESTS}\n${authYaml}`, { source: null, baseDir: process.cwd(), env });
  if (!r.ok) throw new Error(`test config invalid:\n${r.problems.join('\n')}`);
  return r.config;
}

export interface CapturedLog {
  log: Logger;
  lines: () => string[];
}

export function capturedLog(): CapturedLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log: Logger = pino({ level: 'debug' }, stream);
  return { log, lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}
