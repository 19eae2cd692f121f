/**
 * An official Node.js binary of a given major version for tests that need a newer Node than the
 * one running the suite (the conformance suite and the MCP Inspector need Node >= 22). Installed
 * on first use from the npm registry by .ci/node-bin.sh into .cache/node-<major>/.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../.ci/node-bin.sh', import.meta.url));

/** The current node when it is already at least `major`, else the installed official binary. */
export function nodeBinary(major: number): string {
  const own = Number(process.versions.node.split('.')[0]);
  if (own >= major) return process.execPath;
  return execFileSync('bash', [SCRIPT, String(major)], { encoding: 'utf8', timeout: 180_000 }).trim();
}
