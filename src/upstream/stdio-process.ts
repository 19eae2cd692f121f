/**
 * Child processes of the stdio transport, below the session logic: spawning with a minimal
 * environment and clear errors, the per-process exit bookkeeping, and process groups.
 *
 * Children run detached (their own process group) so that close() can signal the server together
 * with anything it spawned. The flip side is that they survive the proxy's death, so every live
 * group is kept in a module-level set that `killAllChildrenSync` SIGKILLs on the way out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { StdioDestination } from '../config/types.js';
import { ErrorCode, ProxyError } from '../errors.js';

/** Process groups of children that may still be alive, for `killAllChildrenSync`. */
const liveGroups = new Set<number>();

/** SIGKILL every child process group still alive. Synchronous: safe inside process.on('exit'). */
export function killAllChildrenSync(): void {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  liveGroups.clear();
}

/** Number of child groups this process still considers alive (tests, metrics). */
export function liveChildCount(): number {
  return liveGroups.size;
}

/**
 * What a child inherits from the proxy's environment when set. Besides PATH, HOME and LANG, the
 * cache locations: under systemd's ProtectSystem=strict only the unit's Cache/State directories
 * are writable, and `npx -y PKG` must download PKG somewhere (systemd/mithril-proxy.service sets
 * these to its CacheDirectory). Nothing else passes: the proxy's own secrets stay out of children.
 */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'npm_config_cache', 'XDG_CACHE_HOME'] as const;

/** The environment a child gets: INHERITED_ENV from the proxy when set, plus `extra`. */
export function minimalEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED_ENV) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return Object.assign(env, extra);
}

export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/** The leader exited: its group is no longer ours to kill on the way out. */
export function forgetGroup(pgid: number): void {
  liveGroups.delete(pgid);
}

/** One spawned process and the per-process state that must not leak into its successor. */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exited = false;
  /** 'close': exited and every pipe ended, so all its output has been read. */
  stdioClosed = false;
  private waiters: Array<() => void> = [];

  constructor(child: ChildProcess, pid: number) {
    this.child = child;
    this.pid = pid;
  }

  markExited(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.exitCode = code;
    this.exitSignal = signal;
    this.notify();
  }

  markStdioClosed(): void {
    this.stdioClosed = true;
    this.notify();
  }

  /** Resolves true once the process exited, false after `ms`. */
  waitExit(ms: number): Promise<boolean> {
    return this.waitUntil(() => this.exited, ms);
  }

  /** Resolves true once its pipes are drained and closed, false after `ms`. */
  waitStdioClosed(ms: number): Promise<boolean> {
    return this.waitUntil(() => this.stdioClosed, ms);
  }

  private waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      const check = (): void => {
        if (!cond()) {
          this.waiters.push(check);
          return;
        }
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(check);
    });
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  describeExit(): string {
    return this.exitSignal !== null ? `signal ${this.exitSignal}` : `code ${String(this.exitCode)}`;
  }
}

/**
 * Spawn the destination's command (never through a shell). `onSpawned` runs synchronously on
 * 'spawn', before the promise settles, so listeners are attached before any output can arrive.
 */
export function spawnProc(dest: StdioDestination, log: Logger, onSpawned: (proc: Proc) => void): Promise<Proc> {
  return new Promise<Proc>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(dest.command, dest.args, {
        cwd: dest.cwd,
        env: minimalEnv(dest.env),
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
      });
    } catch (err) {
      reject(spawnError(dest, err));
      return;
    }
    let proc: Proc | undefined;
    child.on('error', (err) => {
      // Before 'spawn' this is a spawn failure; afterwards (e.g. kill failed) it is only logged.
      if (proc === undefined) reject(spawnError(dest, err));
      else log.debug({ err: err.message }, 'stdio child error');
    });
    child.once('spawn', () => {
      const pid = child.pid as number;
      proc = new Proc(child, pid);
      liveGroups.add(pid);
      onSpawned(proc);
      resolve(proc);
    });
  });
}

function spawnError(dest: StdioDestination, err: unknown): ProxyError {
  const e = err as NodeJS.ErrnoException;
  let why: string;
  if (e.code === 'ENOENT') {
    why = dest.cwd !== undefined && !dirExists(dest.cwd) ? `cwd ${dest.cwd} does not exist` : `command not found: ${dest.command}`;
  } else if (e.code === 'EACCES') {
    why = `permission denied running ${dest.command}`;
  } else {
    why = e.message;
  }
  return new ProxyError(ErrorCode.UpstreamConnect, `cannot start stdio server for ${dest.name}: ${why}`, { errno: e.code });
}

function dirExists(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
