/**
 * Install a pinned npm package on first use into .cache/NAME/ of this repository, for test tools
 * that are not dependencies of the proxy (the conformance suite, the MCP Inspector). They need
 * Node >= 22, so npm itself runs under Node 22: its engine checks and install scripts then see the
 * Node that will run the tool. Only the npm registry is used (a plain `npm install NAME@VERSION`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinary } from './node-bin.js';

/** dist/test/helpers/ → the repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * npm's own entry script, to run it with another node. `npm test` sets npm_execpath to it;
 * otherwise the `npm` on PATH is a symlink to it (system, nvm and official tarball layouts alike).
 */
function npmCli(): string {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && /npm-cli\.js$/.test(fromEnv) && existsSync(fromEnv)) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'npm');
    if (!existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (/npm-cli\.js$/.test(real)) return real;
    const beside = join(dirname(real), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (existsSync(beside)) return beside;
  }
  throw new Error('npm-cache: cannot find npm-cli.js (npm_execpath unset and no npm on PATH)');
}

export interface CachedPackage {
  /** The package's folder inside .cache/NAME/node_modules/. */
  dir: string;
  /** Milliseconds the install took; 0 when it was already there. */
  installMs: number;
}

/**
 * `.cache/<cacheName>/node_modules/<pkg>` at exactly `version`, installed with Node 22's run of
 * npm when missing. A marker file written after a successful install makes a half-finished
 * install (killed test run) count as missing.
 */
export function cachedPackage(cacheName: string, pkg: string, version: string, timeoutMs = 600_000): CachedPackage {
  const prefix = join(REPO_ROOT, '.cache', cacheName);
  const dir = join(prefix, 'node_modules', ...pkg.split('/'));
  const marker = join(prefix, '.installed');
  const spec = `${pkg}@${version}`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === spec) return { dir, installMs: 0 };
  mkdirSync(prefix, { recursive: true });
  const started = Date.now();
  execFileSync(nodeBinary(22), [npmCli(), 'install', '--prefix', prefix, '--no-save', '--no-package-lock',
    '--no-audit', '--no-fund', '--loglevel=error', spec], { stdio: ['ignore', 'ignore', 'inherit'], timeout: timeoutMs });
  const installed = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string };
  if (installed.version !== version) throw new Error(`npm-cache: ${pkg} installed ${installed.version}, wanted ${version}`);
  writeFileSync(marker, spec);
  return { dir, installMs: Date.now() - started };
}
