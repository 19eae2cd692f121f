/**
 * pino, JSON to stdout. One root logger per thread; children carry bindings (worker, destination,
 * session). Credentials never reach the log: the redaction list is fixed here, and header values
 * are never logged wholesale anywhere else.
 */
import { isMainThread } from 'node:worker_threads';
import { pino, type DestinationStream, type Logger, type Level } from 'pino';

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

/**
 * Log lines are written in blocks of at least MIN_WRITE_BYTES, and whatever is buffered is written
 * at most FLUSH_MS after its line. Under load that is one write(2) per ~20 request lines instead of
 * one per line (or per line written while the previous write was in flight): the per-request log
 * line is a requirement, and unbuffered it cost about 5 µs of CPU per request (bench/RESULTS.md).
 * pino.destination flushes synchronously on process exit, so buffered lines are not lost then.
 * Only the main thread buffers: it writes the request lines, and a worker thread that is terminated
 * gets no exit hook, so its (rare) lines go out unbuffered as before.
 */
const MIN_WRITE_BYTES = 4096;
const FLUSH_MS = 100;

/** The main thread's stdout: buffered (see above), flushed by a timer and on exit. */
function bufferedStdout(): DestinationStream {
  const dest = pino.destination({ fd: 1, sync: false, minLength: MIN_WRITE_BYTES });
  let dirty = false;
  const timer = setInterval(() => {
    if (!dirty) return;
    dirty = false;
    try {
      dest.flush();
    } catch {
      // Destroyed (process exiting): its exit hook already wrote what was buffered.
    }
  }, FLUSH_MS);
  timer.unref();
  return {
    write(line: string): void {
      dirty = true;
      dest.write(line);
    },
  };
}

/**
 * pino's isoTime, computed once per millisecond: under load dozens of lines share a millisecond,
 * and building the ISO string was the largest single cost of a request line.
 */
let lastMs = -1;
let lastTime = '';
function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

export function createLogger(level: Level | 'silent', bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: isoTimeCached,
    formatters: { level: (label) => ({ level: label }) },
  }, isMainThread ? bufferedStdout() : pino.destination({ fd: 1, sync: false }));
}

export type { Logger };
