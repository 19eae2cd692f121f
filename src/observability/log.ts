/**
 * pino, JSON to stdout. One root logger per thread; children carry bindings (worker, destination,
 * session). Credentials never reach the log: the redaction list is fixed here, and header values
 * are never logged wholesale anywhere else.
 */
import { pino, type Logger, type Level } from 'pino';

export const REDACT_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'env',
  'secrets',
];

export function createLogger(level: Level | 'silent', bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, pino.destination({ fd: 1, sync: false }));
}

export type { Logger };
