/**
 * HAProxy as the reference hop of bench:compare: a plain keep-alive L7 proxy (1 thread, `mode http`,
 * `http-reuse always`) in front of the same fast upstream, so "what a hop costs" has a yardstick
 * measured in the same run. Uses `haproxy` from PATH (or /usr/sbin) when installed; otherwise
 * Debian's package is fetched once with `apt-get download` and unpacked with `dpkg -x` into
 * bench/.cache/haproxy/ (no root install, nothing outside the cache folder).
 *
 * `findHaproxy` is the one HAProxy finder (test/helpers/haproxy.ts uses it for the scale-out test,
 * with the shipped deploy/haproxy.cfg; this file's own config is the bench's reference hop).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorCode, ProxyError } from '../../src/errors.js';
import { freePort, spawnTarget, type RunningTarget } from './targets.js';

/** The Debian packages `haproxy` needs beyond a base system (its shared libraries). */
export const HAPROXY_DEBS = ['haproxy', 'liblua5.3-0', 'libopentracing-c-wrapper0', 'libopentracing1'];

export interface HaproxyBinary {
  bin: string;
  /** LD_LIBRARY_PATH for an unpacked package, else undefined. */
  libraryPath: string | undefined;
  source: 'PATH' | 'cache';
  version: string;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function version(bin: string, libraryPath: string | undefined): string {
  const env = libraryPath === undefined ? process.env : { ...process.env, LD_LIBRARY_PATH: libraryPath };
  const out = execFileSync(bin, ['-v'], { encoding: 'utf8', env, timeout: 10_000 });
  return /HAProxy version (\S+)/.exec(out)?.[1] ?? 'unknown';
}

/** The library folders of an unpacked root (`usr/lib/x86_64-linux-gnu`, ...). */
function libraryDirs(root: string): string[] {
  const dirs: string[] = [];
  for (const base of [join(root, 'usr', 'lib'), join(root, 'lib')]) {
    if (!existsSync(base)) continue;
    dirs.push(base);
    for (const d of readdirSync(base)) if (d.endsWith('-linux-gnu')) dirs.push(join(base, d));
  }
  return dirs;
}

/**
 * Finds HAProxy: PATH (and /usr/sbin, often not on a user's PATH), else `cacheDir`, fetching the
 * .debs into it first when `fetch` is true. Throws with the reason when neither works.
 */
export function findHaproxy(cacheDir: string, fetch = true): HaproxyBinary {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = join(d, 'haproxy');
    if (d.length > 0 && executable(p)) return { bin: p, libraryPath: undefined, source: 'PATH', version: version(p, undefined) };
  }
  const root = join(cacheDir, 'root');
  const bin = join(root, 'usr', 'sbin', 'haproxy');
  if (!executable(bin)) {
    if (!fetch) throw new ProxyError(ErrorCode.Internal, `haproxy not on PATH and not unpacked in ${root}`);
    const debs = join(cacheDir, 'debs');
    mkdirSync(debs, { recursive: true });
    try {
      execFileSync('apt-get', ['download', ...HAPROXY_DEBS], { cwd: debs, stdio: 'pipe', timeout: 180_000 });
      for (const f of readdirSync(debs)) if (f.endsWith('.deb')) execFileSync('dpkg', ['-x', join(debs, f), root], { stdio: 'pipe', timeout: 60_000 });
    } catch (err) {
      throw Object.assign(new ProxyError(ErrorCode.Internal, `cannot fetch haproxy with apt-get download + dpkg -x into ${cacheDir}`), { cause: err });
    }
    if (!executable(bin)) throw new ProxyError(ErrorCode.Internal, `${bin} missing after unpacking the .debs`);
  }
  const libraryPath = libraryDirs(root).join(':');
  return { bin, libraryPath, source: 'cache', version: version(bin, libraryPath) };
}

/** The configuration: one thread, HTTP keep-alive both sides, upstream connections shared across clients. */
export function haproxyConfig(listenPort: number, upstream: URL): string {
  return [
    'global',
    '  nbthread 1',
    // ~2 fds per connection must fit under the open-files limit (20000 on these machines).
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  http-reuse always',
    '  timeout connect 5s',
    // Long enough for a notification stream; the bench stops HAProxy itself.
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    'frontend fe',
    `  bind 127.0.0.1:${listenPort}`,
    '  default_backend be',
    'backend be',
    `  server up ${upstream.hostname}:${upstream.port}`,
    '',
  ].join('\n');
}

/**
 * Starts HAProxy in the foreground (`-db`: no daemon, no master process, so the pid is the one that
 * does the work) in front of `upstreamUrl`; the returned URL has the upstream's path.
 */
export async function startHaproxy(bin: HaproxyBinary, upstreamUrl: string, workDir: string): Promise<RunningTarget> {
  const upstream = new URL(upstreamUrl);
  const port = await freePort();
  const config = join(workDir, `haproxy-${port}.cfg`);
  writeFileSync(config, haproxyConfig(port, upstream));
  const env = bin.libraryPath === undefined ? process.env : { ...process.env, LD_LIBRARY_PATH: bin.libraryPath };
  return spawnTarget({
    command: bin.bin,
    args: ['-f', config, '-db'],
    env,
    port,
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
  });
}
