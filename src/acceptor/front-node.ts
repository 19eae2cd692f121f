/**
 * The node:http front: serves the same route handlers as the uWS front where no native
 * uWebSockets.js binding loads (Node 22/24 with the truffle build, glibc < 2.38 with newer
 * builds). It adapts node's request/response objects to the acceptor seam (http-types.ts) and
 * keeps uWS's rules, so the handlers cannot tell the fronts apart:
 *  - `onAborted` fires once when the connection closes before the response ended;
 *  - `onData` delivers the body chunk by chunk with `isLast` on the final one (one chunk held back
 *    so a one-packet body arrives as a single `isLast` chunk, the handlers' fast path);
 *  - `write()` returns false once node's buffer is over its high-water mark; `onWritable` runs on
 *    'drain': the same backpressure signal the SSE streams use to stop crediting their producer;
 *  - `cork` only runs its callback (see there why).
 * Routing copies uWS's order: static segments before parameters before the wildcard, and a
 * method's own handler before `any` on the same pattern.
 *
 * What node adds for free, and uWS v20.30 lacks: 431 for oversized headers, 400 for malformed
 * requests, 408 for a request that does not arrive in time (slowloris), all answered at once.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Front, HttpApp, HttpRequest, HttpResponse, Listener, RouteHandler } from './http-types.js';

/** Bounds node enforces before a handler runs (node's own defaults are 16 KiB and 300 s). */
const MAX_HEADER_BYTES = 16 * 1024;
const HEADERS_TIMEOUT_MS = 10_000;
/** Whole request (headers and body) must arrive within this; responses (SSE) are not bounded by it. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How often node checks those two timeouts (its default, 30 s, would let a slowloris sit 30 s past them). */
const TIMEOUT_CHECK_MS = 1_000;
/** Idle keep-alive connections close after this, like uWS's ~10 s idle timeout. */
const KEEP_ALIVE_MS = 10_000;
const EMPTY = new ArrayBuffer(0);

type Method = 'POST' | 'GET' | 'DELETE' | 'OPTIONS' | '*';

interface Route {
  method: Method;
  /** Pattern segments after the leading '/'; ':x' is a parameter, '*' (last) the wildcard. */
  segments: string[];
  handler: RouteHandler;
  /** Sort key: higher first. */
  rank: number;
}

function rankOf(segments: string[], method: Method): number {
  // Per segment, in order: static 3, parameter 2, wildcard 1 (base-4 digits, first segment most
  // significant); the method-specific route wins a tie with `any`.
  let r = 0;
  for (let i = 0; i < 8; i++) {
    const s = segments[i];
    const d = s === undefined ? 0 : s === '*' ? 1 : s.startsWith(':') ? 2 : 3;
    r = r * 4 + d;
  }
  return r * 2 + (method === '*' ? 0 : 1);
}

class NodeRequest implements HttpRequest {
  constructor(
    private readonly raw: IncomingMessage,
    private readonly path: string,
    private readonly query: string,
    private readonly params: string[],
  ) {}
  getHeader(name: string): string {
    const v = this.raw.headers[name];
    if (v === undefined) return '';
    return Array.isArray(v) ? v.join(', ') : v;
  }
  forEach(cb: (name: string, value: string) => void): void {
    const raw = this.raw.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) cb(raw[i]!.toLowerCase(), raw[i + 1]!);
  }
  getMethod(): string {
    return (this.raw.method ?? '').toLowerCase();
  }
  getParameter(index: number): string {
    return this.params[index] ?? '';
  }
  getQuery(key: string): string | undefined {
    if (this.query === '') return undefined;
    return new URLSearchParams(this.query).get(key) ?? undefined;
  }
  getUrl(): string {
    return this.path;
  }
}

function asArrayBuffer(b: Buffer): ArrayBuffer {
  const ab = b.buffer as ArrayBuffer;
  return b.byteOffset === 0 && b.byteLength === ab.byteLength ? ab : ab.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

class NodeResponse implements HttpResponse {
  private status = 200;
  private statusText: string | undefined;
  private readonly headers: Array<[string, string]> = [];
  private headSent = false;
  /** The response ended (or was cut by us): a later 'close' is not an abort. */
  private ended = false;
  private abortCb: (() => void) | undefined;

  constructor(private readonly raw: ServerResponse, private readonly req: IncomingMessage) {
    raw.on('close', () => {
      if (this.ended) return;
      this.ended = true;
      this.abortCb?.();
    });
  }

  writeStatus(status: string): HttpResponse {
    this.status = Number(status.slice(0, 3));
    this.statusText = status.length > 4 ? status.slice(4) : undefined;
    return this;
  }

  writeHeader(key: string, value: string): HttpResponse {
    this.headers.push([key, value]);
    return this;
  }

  private head(): void {
    if (this.headSent) return;
    this.headSent = true;
    const raw = this.raw;
    raw.statusCode = this.status;
    if (this.statusText !== undefined) raw.statusMessage = this.statusText;
    for (const [k, v] of this.headers) raw.appendHeader(k, v);
  }

  write(chunk: string): boolean {
    if (this.ended) return false;
    this.head();
    return this.raw.write(chunk);
  }

  end(body?: string, closeConnection?: boolean): HttpResponse {
    if (this.ended) return this;
    if (closeConnection) {
      this.headers.push(['connection', 'close']);
      this.raw.shouldKeepAlive = false;
    }
    this.head();
    this.ended = true;
    this.raw.end(body);
    return this;
  }

  endWithoutBody(): HttpResponse {
    return this.end();
  }

  /**
   * uWS needs cork for writes outside the handler; node does not, and node's own cork() would be
   * wrong here: on Node 22/24 a write() made while the response is corked returns true however
   * much is buffered, which hides the backpressure signal the SSE streams depend on (measured:
   * 60 MB buffered for a client that stopped reading). node already sends a head and a body
   * written together (end(body)) in one write.
   */
  cork(cb: () => void): HttpResponse {
    cb();
    return this;
  }

  onAborted(cb: () => void): HttpResponse {
    this.abortCb = cb;
    return this;
  }

  onData(cb: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse {
    let held: Buffer | undefined;
    this.req.on('data', (c: Buffer) => {
      if (held !== undefined) cb(asArrayBuffer(held), false);
      held = c;
    });
    this.req.on('end', () => {
      const last = held;
      held = undefined;
      cb(last === undefined ? EMPTY : asArrayBuffer(last), true);
    });
    return this;
  }

  onWritable(cb: (offset: number) => boolean): HttpResponse {
    this.raw.once('drain', () => cb(0));
    return this;
  }

  getRemoteAddressAsText(): ArrayBuffer {
    const b = Buffer.from(this.req.socket.remoteAddress ?? '');
    return asArrayBuffer(b);
  }

  close(): HttpResponse {
    // A cut is ours, not the client's: no abort callback (uWS's close() is the same to us,
    // every abort path is idempotent).
    this.ended = true;
    this.raw.destroy();
    return this;
  }
}

class NodeApp implements HttpApp {
  private readonly routes: Route[] = [];
  private sorted = false;

  private add(method: Method, pattern: string, handler: RouteHandler): HttpApp {
    const segments = pattern.split('/').slice(1);
    this.routes.push({ method, segments, handler, rank: rankOf(segments, method) });
    this.sorted = false;
    return this;
  }

  post(p: string, h: RouteHandler): HttpApp { return this.add('POST', p, h); }
  get(p: string, h: RouteHandler): HttpApp { return this.add('GET', p, h); }
  del(p: string, h: RouteHandler): HttpApp { return this.add('DELETE', p, h); }
  options(p: string, h: RouteHandler): HttpApp { return this.add('OPTIONS', p, h); }
  any(p: string, h: RouteHandler): HttpApp { return this.add('*', p, h); }

  handle(raw: IncomingMessage, out: ServerResponse): void {
    if (!this.sorted) {
      // Stable sort: equal ranks keep registration order, as uWS does.
      this.routes.sort((a, b) => b.rank - a.rank);
      this.sorted = true;
    }
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const parts = path.split('/').slice(1);
    const method = raw.method ?? '';
    for (const r of this.routes) {
      if (r.method !== '*' && r.method !== method) continue;
      const params = match(r.segments, parts);
      if (params === undefined) continue;
      r.handler(new NodeResponse(out, raw), new NodeRequest(raw, path, query, params));
      return;
    }
    out.statusCode = 404;
    out.end();
  }
}

/** The parameters of `parts` under `segments`, or undefined when the path does not match. */
function match(segments: string[], parts: string[]): string[] | undefined {
  const params: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '*') return params;
    const p = parts[i];
    if (p === undefined) return undefined;
    if (s.startsWith(':')) {
      if (p === '') return undefined;
      params.push(p);
    } else if (s !== p) {
      return undefined;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

class NodeListener implements Listener {
  constructor(private readonly server: Server, readonly port: number) {}
  /**
   * Stop listening but keep kept-alive connections open through the drain, as uWS does: since
   * Node 19, server.close() also closes idle keep-alive connections, and a client whose request
   * was already on its way on one would meet a reset instead of the drain's 503 (which carries
   * Connection: close, so the client then leaves on its own).
   */
  stopAccepting(): void {
    const server = this.server;
    const closeIdle = server.closeIdleConnections;
    server.closeIdleConnections = () => undefined;
    try {
      server.close();
    } finally {
      server.closeIdleConnections = closeIdle;
    }
  }
  closeAll(): void {
    this.server.closeAllConnections();
  }
}

export const nodeFront: Front = {
  kind: 'node',
  name: 'node:http',
  version: process.versions.node,
  createApp: () => new NodeApp(),
  listen(app: HttpApp, host: string, port: number): Promise<Listener> {
    const nodeApp = app as NodeApp;
    const server = createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      keepAliveTimeout: KEEP_ALIVE_MS,
      noDelay: true,
    }, (req, res) => nodeApp.handle(req, res));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? err.message})`));
      server.once('error', onError);
      // exclusive: a second instance on the same port must fail loudly, not share the port.
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        resolve(new NodeListener(server, (server.address() as AddressInfo).port));
      });
    });
  },
};
