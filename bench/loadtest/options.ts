/**
 * Load-generator options: defaults, validation and CLI parsing. Every run is bounded (a duration or a
 * request count), connections are bounded by sessions × concurrency, and only loopback targets are
 * accepted unless the operator explicitly allows a remote one.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { ErrorCode, ProxyError } from '../../src/errors.js';

/** 'streamable-2026': session-less MCP 2026-07-28 requests (no initialize; sessionless-2026-session.ts). */
export type LoadTransport = 'streamable' | 'sse' | 'streamable-2026';

export interface LoadOptions {
  /** Streamable HTTP endpoint (`.../NAME/mcp`), or for `transport: 'sse'` the SSE endpoint (`.../NAME/sse`). */
  url: string;
  sessions?: number;
  /** Concurrent in-flight requests per session. */
  concurrency?: number;
  /** Run for this long (ms)... */
  durationMs?: number;
  /** ...or send exactly this many tools/call requests in total (split over the sessions). */
  requests?: number;
  /** Size of the echoed `text` argument in bytes (ASCII), token included. */
  payload?: number;
  transport?: LoadTransport;
  /** Write report.json and report.html here; undefined = write nothing. */
  out?: string;
  /** The target's pid: CPU time per request and RSS are read from /proc. */
  pid?: number;
  allowRemote?: boolean;
  /** Generator worker threads; default half the cores (the target needs the rest), at most `sessions`. */
  threads?: number;
  /** A request without a reply after this long counts as lost. */
  timeoutMs?: number;
  /** Print a progress line to stderr every second. */
  progress?: boolean;
}

export type ResolvedLoadOptions = Required<Omit<LoadOptions, 'durationMs' | 'requests' | 'out' | 'pid'>> &
  Pick<LoadOptions, 'durationMs' | 'requests' | 'out' | 'pid'>;

/** Ids are `session * ID_STRIDE + seq`, so a reply's id also tells which session it belongs to. */
export const ID_STRIDE = 2 ** 26;
const MAX_SESSIONS = 2 ** 26;
const MAX_DURATION_MS = 3_600_000;

function bad(message: string): ProxyError {
  return new ProxyError(ErrorCode.InvalidRequest, message);
}

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw bad(`--${name} must be an integer in 1..${max}, got ${v}`);
  return v;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function resolveOptions(o: LoadOptions): ResolvedLoadOptions {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw bad(`--url is not a URL: ${o.url}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`--url must be http(s): ${o.url}`);
  if (!isLoopbackHost(url.hostname) && o.allowRemote !== true) {
    throw bad(`refusing non-loopback target ${url.hostname} (pass --allow-remote to load a remote host)`);
  }
  if ((o.durationMs === undefined) === (o.requests === undefined)) {
    throw bad('give exactly one of --duration or --requests');
  }
  const sessions = positiveInt('sessions', o.sessions ?? 1, MAX_SESSIONS - 1);
  const concurrency = positiveInt('concurrency', o.concurrency ?? 1, 10_000);
  if (sessions * concurrency > 100_000) throw bad('sessions × concurrency must be at most 100000 connections');
  if (o.durationMs !== undefined) positiveInt('duration (ms)', o.durationMs, MAX_DURATION_MS);
  if (o.requests !== undefined) {
    positiveInt('requests', o.requests, Number.MAX_SAFE_INTEGER);
    if (Math.ceil(o.requests / sessions) >= ID_STRIDE) throw bad(`at most ${ID_STRIDE - 1} requests per session`);
  }
  const defaultThreads = Math.max(1, Math.floor(availableParallelism() / 2));
  const threads = Math.min(sessions, positiveInt('threads', o.threads ?? defaultThreads, 256));
  return {
    url: url.href,
    sessions,
    concurrency,
    durationMs: o.durationMs,
    requests: o.requests,
    payload: positiveInt('payload', o.payload ?? 256, 64 * 1024 * 1024),
    transport: o.transport ?? 'streamable',
    out: o.out,
    pid: o.pid,
    allowRemote: o.allowRemote ?? false,
    threads,
    timeoutMs: positiveInt('timeout (ms)', o.timeoutMs ?? 10_000, 600_000),
    progress: o.progress ?? false,
  };
}

/** `10s`, `500ms`, `2m`, or a bare number of seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null) throw bad(`bad duration: ${text}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw bad(`--${name} must be an integer, got ${v}`);
  return n;
}

export const USAGE = `usage: npm run loadtest -- --url URL [options]
  --url URL              target: http://127.0.0.1:PORT/NAME/mcp (or /NAME/sse with --transport sse)
  --sessions N           downstream sessions (default 1)
  --concurrency C        in-flight requests per session (default 1)
  --duration 10s | --requests N   bound of the run (default --duration 10s)
  --payload BYTES        size of the echoed text (default 256)
  --transport streamable|sse|streamable-2026   (default streamable; streamable-2026 = session-less 2026-07-28 calls)
  --pid PID              the target's pid: CPU per request and RSS from /proc
  --threads T            generator threads (default: half the cores)
  --timeout 10s          a request without reply after this is lost
  --out DIR              report directory (default bench/results/<timestamp>/)
  --allow-remote         allow a non-loopback target`;

/** Parses the CLI arguments; `--duration 10s` is the default bound. */
export function parseCli(argv: string[]): LoadOptions & { help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      sessions: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      requests: { type: 'string' },
      payload: { type: 'string' },
      transport: { type: 'string' },
      pid: { type: 'string' },
      threads: { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      'allow-remote': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { url: '', help: true };
  if (values.url === undefined) throw bad('--url is required');
  const transport = values.transport ?? 'streamable';
  if (transport !== 'streamable' && transport !== 'sse' && transport !== 'streamable-2026') throw bad(`--transport must be streamable, sse or streamable-2026`);
  const requests = intArg('requests', values.requests);
  return {
    help: false,
    url: values.url,
    sessions: intArg('sessions', values.sessions),
    concurrency: intArg('concurrency', values.concurrency),
    requests,
    durationMs:
      values.duration !== undefined ? parseDuration(values.duration) : requests === undefined ? 10_000 : undefined,
    payload: intArg('payload', values.payload),
    transport,
    pid: intArg('pid', values.pid),
    threads: intArg('threads', values.threads),
    timeoutMs: values.timeout !== undefined ? parseDuration(values.timeout) : undefined,
    out: values.out,
    allowRemote: values['allow-remote'],
    progress: true,
  };
}
