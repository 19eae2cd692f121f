/**
 * Preloaded into the proxy under test (`node --import .../thread-names.js`; worker threads inherit
 * execArgv, so it runs in each of them too). Node 20 does not give worker threads an OS thread name:
 * every thread's /proc/PID/task/TID/comm reads "node", so per-thread CPU could not tell a session
 * worker from V8's helpers. Each session worker names its own thread `mithril-wrk-N` (comm holds at
 * most 15 bytes, so `mithril-worker-N` would lose its number). Costs nothing after start-up.
 */
import { writeFileSync } from 'node:fs';
import { isMainThread, workerData } from 'node:worker_threads';

/** The comm name a session worker's thread gets; see threadGroup() in thread-stats.ts. */
export const WORKER_COMM_PREFIX = 'mithril-wrk-';

const index = (workerData as { index?: unknown } | undefined)?.index;
if (!isMainThread && typeof index === 'number') {
  try {
    // /proc/thread-self is the calling thread: a sync write runs on this worker's own thread.
    writeFileSync('/proc/thread-self/comm', `${WORKER_COMM_PREFIX}${index}`);
  } catch {
    // Not Linux, or /proc not writable: the thread keeps the name "node" and counts as a helper.
  }
}
