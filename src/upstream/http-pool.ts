/**
 * HTTP client plumbing shared by the upstream clients: connection pools (src/upstream/h1/), and
 * the one mapping from client/socket failures to ProxyError codes.
 *
 * Pools: one pair per (origin, connect timeout), created on first use and shared by every session
 * of this thread.
 *
 * Two pools, because the two kinds of traffic need different bounds:
 *  - exchanges (POST, DELETE, legacy message POSTs) are short: a bounded pool caps the connections
 *    one worker opens to an upstream; past the cap requests queue in the pool.
 *  - standalone streams (Streamable HTTP GET, legacy SSE GET) hold a connection for the life of a
 *    session. In a bounded pool the (cap+1)-th session's stream would queue forever, so this pool
 *    is bounded by the number of sessions instead (each session opens at most one).
 */
import type { HttpDestination, Timeouts } from '../config/types.js';
import { ErrorCode, ProxyError } from '../errors.js';
import { H1ErrorCode } from './h1/errors.js';
import type { HeaderBlock } from './h1/headers.js';
import { H1Pool, type PoolOptions } from './h1/pool.js';
import { request, type ResponseBody } from './h1/request.js';
import type { Dispatcher } from './h1/types.js';

/** Most concurrent exchange connections per upstream origin, per worker thread. */
export const MAX_EXCHANGE_CONNECTIONS = 64;
/**
 * Idle keep-alive kept by us when the server gives no `Keep-Alive: timeout=N` hint. Node's http
 * server (and so most SDK servers) closes idle sockets after 5 s and its SSE replies carry
 * `Connection: keep-alive` without a hint: a socket kept longer is reused just as the server
 * closes it (ECONNRESET, a spurious 502). 4 s retires it first.
 */
const KEEP_ALIVE_MS = 4_000;
/** A hint is trusted minus this margin (timeout=5 -> 4 s), and never beyond KEEP_ALIVE_MAX_MS. */
const KEEP_ALIVE_THRESHOLD_MS = 1_000;
const KEEP_ALIVE_MAX_MS = 60_000;
/** TCP keep-alive probes find a dead peer on a silent long-lived stream. */
const TCP_KEEP_ALIVE_DELAY_MS = 30_000;
/** closeAllPools: how long in-flight exchanges may finish before sockets are destroyed. */
const CLOSE_GRACE_MS = 1_000;


/**
 * A request that failed with a reset or a close this soon after it was written, before any byte
 * of a reply, met a connection the server was closing (its idle timer and our write crossed): the
 * server never worked on it, so it is sent once more. Anything later, or after a reply began, is
 * never retried: tools have side effects.
 */
export const STALE_CONNECTION_MS = 100;
const STALE_CODES = new Set<string>(['ECONNRESET', 'EPIPE', H1ErrorCode.Closed]);

/** True when `err` (before the reply head, `elapsedMs` after the write) is a stale connection. */
export function isStaleConnection(err: unknown, elapsedMs: number): boolean {
  const code = errorCode(err);
  return code !== undefined && STALE_CODES.has(code) && elapsedMs < STALE_CONNECTION_MS;
}

interface PoolPair {
  exchange: H1Pool;
  stream: H1Pool;
}

const pools = new Map<string, PoolPair>();

function pairFor(dest: HttpDestination): PoolPair {
  const origin = new URL(dest.url).origin;
  const key = `${origin} ${dest.timeouts.connectMs}`;
  let pair = pools.get(key);
  if (pair === undefined) {
    const common: Omit<PoolOptions, 'connections'> = {
      connectTimeoutMs: dest.timeouts.connectMs,
      tcpKeepAliveMs: TCP_KEEP_ALIVE_DELAY_MS,
      keepAliveMs: KEEP_ALIVE_MS,
      keepAliveMarginMs: KEEP_ALIVE_THRESHOLD_MS,
      keepAliveMaxMs: KEEP_ALIVE_MAX_MS,
    };
    pair = {
      exchange: new H1Pool(origin, { ...common, connections: MAX_EXCHANGE_CONNECTIONS }),
      stream: new H1Pool(origin, { ...common, connections: null }),
    };
    pools.set(key, pair);
  }
  return pair;
}

/** The pool for request/response exchanges with this destination. */
export function poolFor(dest: HttpDestination): Dispatcher {
  return pairFor(dest).exchange;
}

/** The pool for long-lived GET streams to this destination. */
export function streamPoolFor(dest: HttpDestination): Dispatcher {
  return pairFor(dest).stream;
}

async function closePool(pool: H1Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = pool.close().then(() => true, () => false);
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS, false);
  });
  const closed = await Promise.race([graceful, expired]);
  clearTimeout(timer);
  if (!closed) await pool.destroy().catch(() => undefined);
}

/** Close every pool: exchanges get a short grace period, streams are cut at once. */
export async function closeAllPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.flatMap((p) => [closePool(p.exchange), p.stream.destroy().catch(() => undefined)]));
}

/** Where a failure happened: before the response head arrived, or while reading its body. */
export type FailurePhase = 'head' | 'body';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy-eyeballs connects fail with an AggregateError whose parts carry the code.
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) ? errorCode(inner[0]) : undefined;
}

/**
 * Map a failure of the HTTP client (or a socket) to a ProxyError. A reset before the response head is
 * a connect failure (nothing reached the client yet); after it, the upstream cut its reply.
 */
export function upstreamError(err: unknown, phase: FailurePhase, what: string): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = errorCode(err);
  const cause = err instanceof Error ? err.message : String(err);
  switch (code) {
    case H1ErrorCode.ConnectTimeout:
      return new ProxyError(ErrorCode.UpstreamTimeout, `${what}: connect timed out`, { cause: code });
    case H1ErrorCode.HeadersTimeout:
      return new ProxyError(ErrorCode.UpstreamTimeout, `${what}: no response within the first-byte deadline`, { cause: code });
    case H1ErrorCode.BodyTimeout:
      return new ProxyError(ErrorCode.UpstreamTimeout, `${what}: upstream went silent inside a reply`, { cause: code });
    case H1ErrorCode.InvalidHeader:
      // Only a client's own header (2026 Mcp-* values) can be unsendable: configured ones are
      // checked when the config loads, and what the upstream taught us is checked when learnt.
      return new ProxyError(ErrorCode.InvalidRequest, `${what}: ${cause}`, { cause: code });
    default:
      break;
  }
  if (code !== undefined && CONNECT_CODES.has(code)) {
    return new ProxyError(ErrorCode.UpstreamConnect, `${what}: cannot connect (${code})`, { cause: code });
  }
  if (phase === 'head') {
    return new ProxyError(ErrorCode.UpstreamConnect, `${what}: connection failed: ${cause}`, { cause: code });
  }
  return new ProxyError(ErrorCode.UpstreamClosed, `${what}: upstream cut the reply: ${cause}`, { cause: code });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return '';
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** The configured headers with lower-cased names, so ours can override them without duplicates. */
export function configuredHeaders(dest: HttpDestination): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(dest.headers)) out[name.toLowerCase()] = value;
  return out;
}

/** Read and discard a body we do not forward, so the connection can be reused. */
export function discard(body: ResponseBody): void {
  void body.dump({ limit: 64 * 1024 });
}

/**
 * POST one frame that expects no reply body (a notification, a response to a server request, a
 * legacy message) and return the status. Network failures throw the mapped ProxyError; what a
 * status means is the caller's (a 404 is "session gone" only for Streamable HTTP). `inflight`
 * holds the request's AbortController while it runs, so the owner can abort it on close.
 */
export async function postFrame(
  path: string, pool: Dispatcher, headers: HeaderBlock | Record<string, string>, json: string,
  timeouts: Timeouts, inflight: Set<AbortController>, what: string,
): Promise<number> {
  const ac = new AbortController();
  inflight.add(ac);
  try {
    const send = (): ReturnType<typeof request> => request(pool, {
      path, method: 'POST', headers, body: json, signal: ac.signal,
      headersTimeout: timeouts.firstByteMs, bodyTimeout: timeouts.idleMs,
    });
    let res: Awaited<ReturnType<typeof request>>;
    const started = Date.now();
    try {
      res = await send().catch((err: unknown) => {
        // Measured from dispatch (which includes queueing): stricter than from the write.
        if (ac.signal.aborted || !isStaleConnection(err, Date.now() - started)) throw err;
        return send();
      });
    } catch (err) {
      throw upstreamError(err, 'head', what);
    }
    discard(res.body);
    return res.statusCode;
  } finally {
    inflight.delete(ac);
  }
}
