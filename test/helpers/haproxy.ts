/**
 * The real HAProxy for tests and benches: find the binary, turn the shipped deploy/haproxy.cfg
 * into one with given bind/server lines, run it as a child process, restart and stop it by pid.
 *
 * The binary: `haproxy` on PATH (or /usr/sbin, which is not on a non-root PATH), else Debian's
 * package unpacked without root into .cache/haproxy/ (`apt-get download` + `dpkg -x`, once), by
 * the one finder the benchmarks use too.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { findHaproxy } from '../../bench/loadtest/haproxy.js';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SHIPPED_CONFIG = join(ROOT, 'deploy', 'haproxy.cfg');
const CACHE = join(ROOT, '.cache', 'haproxy');

export interface HaproxyBinary {
  path: string;
  /** Extra environment (LD_LIBRARY_PATH for the unpacked package). */
  env: NodeJS.ProcessEnv;
  version: string;
}

let found: HaproxyBinary | undefined;

/**
 * The HAProxy binary: one finder for tests and benches (bench/loadtest/haproxy.ts findHaproxy:
 * PATH or /usr/sbin, else Debian's package unpacked into .cache/haproxy/ on first use).
 */
export function haproxyBinary(): HaproxyBinary {
  if (found) return found;
  const b = findHaproxy(CACHE);
  const env = b.libraryPath === undefined ? {} : { LD_LIBRARY_PATH: [b.libraryPath, process.env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter) };
  return (found = { path: b.bin, env, version: b.version });
}

export interface ServerLine {
  name: string;
  host: string;
  port: number;
}

/**
 * `template` (the shipped config by default) with its `bind` line and its `server` lines replaced:
 * exactly the edit the config asks an operator to make, so the test runs the shipped rules.
 */
export function haproxyConfig(bind: { host: string; port: number }, servers: ServerLine[], template = readFileSync(SHIPPED_CONFIG, 'utf8')): string {
  const lines = template.split('\n');
  const bindAt = lines.findIndex((l) => /^\s*bind\s/.test(l));
  const serverAt = lines.map((l, i) => (/^\s*server\s/.test(l) ? i : -1)).filter((i) => i >= 0);
  if (bindAt < 0 || serverAt.length === 0) throw new Error('haproxy config template has no bind or no server line');
  const indentOf = (line: string): string => /^\s*/.exec(line)![0];
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (i === bindAt) out.push(`${indentOf(line)}bind ${bind.host}:${bind.port}`);
    else if (i === serverAt[0]) out.push(...servers.map((s) => `${indentOf(line)}server ${s.name} ${s.host}:${s.port}`));
    else if (!serverAt.includes(i)) out.push(line);
  });
  return out.join('\n');
}

/** A free loopback port (closed again at once: the caller binds it next). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, host);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface RunningHaproxy {
  readonly pid: number;
  readonly url: string;
  stderr(): string;
  /** Stop (SIGTERM, by pid) and start again from the same config file: all memory is gone. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Run HAProxy in the foreground (-db) from `configText`, written to `dir/haproxy.cfg`; resolves
 * once its bind port accepts connections. `bind` must be the address in the config text.
 */
export async function startHaproxy(configText: string, bind: { host: string; port: number }, dir: string): Promise<RunningHaproxy> {
  const bin = haproxyBinary();
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, configText);
  execFileSync(bin.path, ['-c', '-q', '-f', file], { env: { ...process.env, ...bin.env }, timeout: 10_000 });
  let child: ChildProcess;
  let err = '';
  const launch = async (): Promise<void> => {
    const c = spawn(bin.path, ['-db', '-f', file], { env: { ...process.env, ...bin.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 1 << 20) err += d;
    });
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`haproxy exited ${c.exitCode ?? c.signalCode}: ${err}`);
      if (await accepts(bind.host, bind.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await stop();
    throw new Error(`haproxy did not listen on ${bind.host}:${bind.port}: ${err}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
    const exited = once(c, 'exit');
    process.kill(c.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  return {
    get pid() {
      return child.pid!;
    },
    url: `http://${bind.host}:${bind.port}`,
    stderr: () => err,
    restart: async () => {
      await stop();
      await launch();
    },
    stop,
  };
}

