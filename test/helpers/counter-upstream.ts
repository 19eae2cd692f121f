/**
 * The example counter server as a test upstream: in-process HTTP/SSE starters, and the path of the
 * compiled CLI for tests that need it as a real child process (stdio destinations, --http/--sse).
 */
import { fileURLToPath } from 'node:url';

export {
  startCounterHttp,
  startCounterSse,
  createCounterServer,
  type RunningUpstream,
  type UpstreamStats,
} from '../../examples/counter-server.js';

/** Absolute path of dist/examples/counter-server.js; this file runs from dist/test/helpers/. */
export function counterServerPath(): string {
  return fileURLToPath(new URL('../../examples/counter-server.js', import.meta.url));
}
