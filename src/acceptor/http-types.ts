/**
 * The acceptor seam: the HTTP request/response surface every route handler is written against.
 *
 * It is the subset of uWebSockets.js's `HttpRequest` / `HttpResponse` the acceptor uses, declared
 * here so that two fronts can serve the same handlers: the native uWS binding (its objects satisfy
 * these interfaces as they are, at no cost) and the node:http front (front-node.ts), which adapts
 * node's request/response objects to the same rules. The rules are uWS's, kept on both fronts:
 *  - `req` is valid only synchronously inside the handler: copy what you need before any await;
 *  - attach `onAborted` before returning; after abort, `res` must not be touched;
 *  - every write outside the synchronous handler goes inside `res.cork(...)`;
 *  - `write()` returning false means the bytes were buffered: resume from `onWritable`.
 */

export interface HttpRequest {
  /** Lower-case header name; '' when absent. */
  getHeader(lowerCaseName: string): string;
  /**
   * Every header, lower-case name, one call per occurrence (uWS's own; node:http over rawHeaders),
   * for the 2026 pass-through, which must forward Mcp-* headers it does not know by name.
   */
  forEach(cb: (lowerCaseName: string, value: string) => void): void;
  /** Upper- or lower-case as the front reports it; compare case-insensitively. */
  getMethod(): string;
  getParameter(index: number): string;
  getQuery(key: string): string | undefined;
  getUrl(): string;
}

export interface HttpResponse {
  writeStatus(status: string): HttpResponse;
  writeHeader(key: string, value: string): HttpResponse;
  /** False: buffered, wait for onWritable before writing more. */
  write(chunk: string): boolean;
  /** `closeConnection`: no keep-alive after this response (the client must reconnect). */
  end(body?: string, closeConnection?: boolean): HttpResponse;
  endWithoutBody(reportedContentLength?: number): HttpResponse;
  cork(cb: () => void): HttpResponse;
  onAborted(cb: () => void): HttpResponse;
  /** The chunk is only valid inside the callback (uWS detaches it): copy what you keep. */
  onData(cb: (chunk: ArrayBuffer, isLast: boolean) => void): HttpResponse;
  onWritable(cb: (offset: number) => boolean): HttpResponse;
  /** Cut the connection at once (no orderly end). */
  close(): HttpResponse;
  /** The peer's IP address as text (IPv4 dotted, or IPv6), e.g. for loopback-only endpoints. */
  getRemoteAddressAsText(): ArrayBuffer;
}

export type RouteHandler = (res: HttpResponse, req: HttpRequest) => void;

/** Route registration with uWS's pattern syntax (`/:name/mcp`, `/*`), first match wins in order of specificity. */
export interface HttpApp {
  post(pattern: string, handler: RouteHandler): HttpApp;
  get(pattern: string, handler: RouteHandler): HttpApp;
  del(pattern: string, handler: RouteHandler): HttpApp;
  options(pattern: string, handler: RouteHandler): HttpApp;
  any(pattern: string, handler: RouteHandler): HttpApp;
}

export interface Listener {
  readonly port: number;
  /** Stop accepting connections; open ones keep being served (the graceful drain). */
  stopAccepting(): void;
  /** After the drain: cut whatever connections are still open (idle keep-alive ones). */
  closeAll(): void;
}

/** One HTTP front: which implementation serves, and how to build and bind its app. */
export interface Front {
  /** 'uws' (native uWebSockets.js) or 'node' (node:http). */
  readonly kind: 'uws' | 'node';
  /** Package (or module) name and version, for logs and /healthz. */
  readonly name: string;
  readonly version: string;
  createApp(): HttpApp;
  listen(app: HttpApp, host: string, port: number): Promise<Listener>;
}
