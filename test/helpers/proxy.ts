/**
 * Start a real proxy in-process on 127.0.0.1:0 from YAML text, the same path operators use.
 */
import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../../src/config/load.js';
import type { ProxyConfig } from '../../src/config/types.js';
import { type ProxyHandle, startProxy } from '../../src/proxy.js';
import { createLogger } from '../../src/observability/log.js';

export function configFromYaml(yaml: string): ProxyConfig {
  const r = parseConfigText(yaml, { source: null, baseDir: process.cwd() });
  if (!r.ok) throw new Error(`test config invalid:\n${r.problems.join('\n')}`);
  return r.config;
}

export async function startTestProxy(destinationsYaml: string, extraYaml = ''): Promise<ProxyHandle> {
  const level = process.env.MITHRIL_TEST_LOG ?? 'silent';
  const yaml = `listen: { host: 127.0.0.1, port: 0 }\nworkers: 2\nlog_level: ${level}\n${extraYaml}\ndestinations:\n${destinationsYaml}`;
  const config = configFromYaml(yaml);
  return startProxy(config, { log: createLogger(config.logLevel, { thread: 'main', test: true }) });
}

/** One stdio destination running the example counter server with this node binary. */
export function stdioCounterYaml(name: string, serverPath: string): string {
  return `  ${name}:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(serverPath)}, --stdio]\n`;
}

export function httpYaml(name: string, url: string, transport = 'streamable_http'): string {
  return `  ${name}:\n    transport: ${transport}\n    url: ${url}\n`;
}

/** Raw JSON-RPC POST to the proxy, for the status-rule tests that the SDK client would never send. */
export async function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
}

export const INIT_BODY = JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-test', version: '1' } },
});

/** initialize + notifications/initialized over raw HTTP; returns the proxy's session id. */
export async function rawSession(url: string): Promise<string> {
  const r = await rawPost(url, INIT_BODY);
  if (r.status !== 200) throw new Error(`initialize failed: ${r.status} ${await r.text()}`);
  await r.text();
  const sid = r.headers.get('mcp-session-id');
  if (!sid) throw new Error('no session id');
  const n = await rawPost(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', { 'mcp-session-id': sid });
  await n.text();
  return sid;
}

/**
 * True while `pid` is a running process. A zombie counts as gone: it has exited and holds no
 * resources but a process-table slot (children of a worker thread that died cannot be reaped by
 * another thread's event loop; init reaps them when the proxy exits).
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * SIGTERM a child we started and wait for its exit code. A child that already exited is not
 * waited on: its 'exit' event has fired, and waiting for it again would hang the test.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill(signal);
  const [code] = await exited;
  return code;
}

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface ServedCli {
  child: ChildProcessWithoutNullStreams;
  /** The proxy's base URL, from its `listening on` line. */
  url: string;
  out(): string;
  err(): string;
}

/**
 * Run `mithril-proxy serve ARGS` as a real process and wait for its listening line. A child that
 * exits or never listens fails the wait at once (and is stopped), instead of hanging the test.
 */
export async function serveCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServedCli> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  try {
    await waitFor(() => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`cli exited ${child.exitCode ?? child.signalCode}: ${err}`);
      return /listening on http/.test(err);
    }, 15_000, `listening line (stderr: ${err})`);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  const url = /listening on (http:\/\/\S+)/.exec(err)![1]!;
  return { child, url, out: () => out, err: () => err };
}

/**
 * The JSON-RPC answer to request `id` from a POST reply, JSON or SSE: server messages that arrive
 * during a call (no GET stream open) turn its reply into an SSE stream that ends with the answer.
 */
export async function answerOf<T = Record<string, unknown>>(r: Response, id: unknown): Promise<T> {
  if (r.headers.get('content-type') !== 'text/event-stream') return (await r.json()) as T;
  const messages = (await r.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { id?: unknown });
  const answer = messages.find((m) => m.id === id);
  if (answer === undefined) throw new Error(`no answer for id ${String(id)} on the stream`);
  return answer as T;
}
