/**
 * Starting and stopping benchmark targets as child processes, by pid only. A target is ready when
 * its stdout says so (a matcher returns its URL) or, for peers that print nothing useful, when its
 * port accepts a TCP connection. Stopping sends SIGTERM, then SIGKILL after a grace period, and
 * finally ends any descendants the target left behind (stdio upstreams it spawned).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { ErrorCode, ProxyError } from '../../src/errors.js';
import { processTree } from './proc-stats.js';

export interface RunningTarget {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface SpawnSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Returns the target URL when a stdout line shows the target is listening. */
  readyLine?: (line: string) => string | undefined;
  /** Or: ready when this port accepts connections; the URL is then `url`. */
  port?: number;
  url?: string;
  timeoutMs?: number;
}

/** A port that was free a moment ago on 127.0.0.1 (for peers that cannot pick their own). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function spawnTarget(spec: SpawnSpec): Promise<RunningTarget> {
  const child = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], env: spec.env ?? process.env });
  const pid = child.pid;
  if (pid === undefined) throw new ProxyError(ErrorCode.Internal, `cannot spawn ${spec.command}`);
  // Keep the last lines of output: they are the failure reason when the target dies.
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > 12) tail.shift();
  };
  let readyUrl: string | undefined;
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      keep(line);
      if (readyUrl === undefined && spec.readyLine !== undefined) readyUrl = spec.readyLine(line);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => chunk.split('\n').filter((l) => l.length > 0).forEach(keep));

  const stop = async (): Promise<void> => {
    const descendants = alive(pid) ? processTree(pid).filter((p) => p !== pid) : [];
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 2000);
      }
    }
    // Children the target spawned and did not end (pids captured while it was alive).
    for (const p of descendants) if (alive(p)) process.kill(p, 'SIGKILL');
  };

  const deadline = Date.now() + (spec.timeoutMs ?? 20_000);
  try {
    while (true) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ProxyError(ErrorCode.ChildExited, `exited (${child.exitCode ?? child.signalCode}): ${tail.join(' | ').slice(-400)}`);
      }
      if (readyUrl !== undefined) return { url: readyUrl, pid, stop };
      if (spec.port !== undefined && spec.url !== undefined && (await portOpen(spec.port))) {
        return { url: spec.url, pid, stop };
      }
      if (Date.now() > deadline) {
        throw new ProxyError(ErrorCode.UpstreamTimeout, `not listening after ${spec.timeoutMs ?? 20_000} ms: ${tail.join(' | ').slice(-400)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Parses a mithril-proxy JSON log line `{"msg":"listening","url":"http://..."}`. */
export function mithrilListening(line: string): string | undefined {
  if (!line.includes('listening')) return undefined;
  try {
    const rec = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return rec.msg === 'listening' && typeof rec.url === 'string' ? rec.url : undefined;
  } catch {
    return undefined;
  }
}
