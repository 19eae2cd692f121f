/**
 * The MCP Inspector's CLI mode (`@modelcontextprotocol/inspector`, pinned), installed on first use
 * into .cache/inspector/ and run with Node 22 (it needs Node >= 22). Each call is one Inspector
 * process: it connects, runs one method, prints the result as JSON on stdout and exits.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedPackage } from './npm-cache.js';
import { nodeBinary } from './node-bin.js';

export const INSPECTOR_VERSION = '2.12.0';

let installMs = -1;

export function inspectorLauncher(): string {
  const pkg = cachedPackage('inspector', '@modelcontextprotocol/inspector', INSPECTOR_VERSION);
  if (installMs < 0) installMs = pkg.installMs;
  return join(pkg.dir, 'clients', 'launcher', 'build', 'index.js');
}

export function inspectorInstallMs(): number {
  return Math.max(installMs, 0);
}

/**
 * `inspector --cli ARGS`; resolves with its parsed stdout. HOME and the catalog point into a
 * fresh temp folder: the Inspector otherwise creates ~/.mcp-inspector/ for its catalog and storage.
 */
export async function inspectorCli(args: string[], timeoutMs = 60_000): Promise<unknown> {
  const home = mkdtempSync(join(tmpdir(), 'mithril-inspector-'));
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(nodeBinary(22), [inspectorLauncher(), '--cli', ...args], {
        timeout: timeoutMs, env: { ...process.env, HOME: home, MCP_CATALOG_PATH: join(home, 'mcp.json') },
      }, (err, out, errOut) => (err ? reject(new Error(`inspector --cli ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out)));
    });
    return JSON.parse(stdout) as unknown;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
