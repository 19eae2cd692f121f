/**
 * The seams between the worker's session layer and the three upstream transports.
 *
 * Two shapes exist because the transports differ in how replies come back:
 *  - `MessageChannel` (stdio child, legacy SSE): one duplex stream of JSON-RPC messages; the
 *    session layer matches responses to requests by id.
 *  - `ExchangeClient` (Streamable HTTP): each request is its own HTTP exchange whose reply (a JSON
 *    body or an SSE stream of messages) belongs to that request.
 * Frames travel as strings exactly as received; only the envelope is ever parsed.
 */
import type { ProxyError } from '../errors.js';
import type { JsonRpcId } from './jsonrpc-envelope.js';

/** Where one downstream request's reply goes. The worker implements it by posting thread messages. */
export interface ReplySink {
  /** The whole reply is one JSON body (HTTP 200, application/json). Ends the reply. */
  json(body: string): void;
  /** The reply is an SSE stream; `event` may be called any number of times, then `end`. */
  startStream(): void;
  /**
   * One JSON-RPC message on the stream. Returns false when the downstream consumer is saturated:
   * the producer should stop reading its source until the function passed to `onResume` runs.
   * `id` is the upstream SSE event's `id:` field when it had one (the acceptor may use it to
   * give downstream events resumable ids; the upstream's own ids are per upstream stream).
   */
  event(json: string, id?: string): boolean;
  onResume(fn: () => void): void;
  end(): void;
  /** 202 Accepted with no body (notifications and responses). Ends the reply. */
  accepted(): void;
  /**
   * The upstream answered with an error status and a JSON-RPC error body: relay `body` as it is
   * with `status` (already mapped: see streamable-http-exchange.ts relayStatus). Ends the reply.
   * Optional: sinks without it get `fail(E_UPSTREAM_STATUS)`.
   */
  errorBody?(status: number, body: string): void;
  /** The reply failed; the acceptor answers with the mapped status or an SSE error event. */
  fail(err: ProxyError): void;
  /** True once the downstream client went away; producers should abandon the reply. */
  readonly closed: boolean;
  /**
   * Register a function to run once when the reply ends from the proxy's side (the client left,
   * or the request outlived its deadline), so a producer waiting on a silent upstream can abort
   * at once instead of noticing at its next event or timeout.
   */
  onClose?(fn: () => void): void;
}

export interface ChannelHandlers {
  /** One JSON-RPC message (a complete JSON text) from the server. */
  onMessage(json: string): void;
  /**
   * The server process/stream was interrupted: requests in flight must fail (never retried: tools
   * may have side effects). `willRecover` is true when the channel is restarting on its own.
   */
  onInterrupted(err: ProxyError, willRecover: boolean): void;
  /** The channel is gone for good (closed by us, or it gave up). */
  onClosed(err: ProxyError | null): void;
  /**
   * A child process started (first start and every restart). The acceptor tracks live pids so a
   * crashed worker thread's children can still be reaped.
   */
  onSpawn?(pid: number): void;
  /**
   * A message too large to forward was dropped; `id` is its top-level JSON-RPC id when it could
   * be read from the message's ends. The request it answers must fail now, not at its deadline.
   */
  onOversized?(id: JsonRpcId | undefined, bytes: number): void;
  /** A restarted child is ready under the same session (its predecessor's state is gone). */
  onRestarted?(): void;
}

export interface MessageChannel {
  /**
   * Connect (spawn the child / open the stream and wait for `endpoint`). Rejects with a
   * ProxyError (E_UPSTREAM_CONNECT, E_UPSTREAM_TIMEOUT, E_CHILD_EXITED) on failure.
   */
  start(): Promise<void>;
  /**
   * Write one message. Resolves once handed to the OS / accepted upstream. Rejects with a
   * ProxyError if the channel is closed or the write fails. Respects backpressure (stdin drain).
   * `trace` (observability/trace.ts): sent as traceparent/tracestate where the transport has
   * headers (legacy SSE POSTs); stdio ignores it and forwards the body as is.
   */
  send(json: string, trace?: string): Promise<void>;
  /**
   * Remember the client's initialize request (and its `notifications/initialized`) so that a
   * restarted child can be re-initialized before new traffic flows. The replies to those replays
   * are consumed by the channel, never surfaced through onMessage.
   */
  setReplayOnRestart?(initializeFrame: string): void;
  /** Stop reading from the server (downstream is slow); `resume` starts again. */
  pause(): void;
  resume(): void;
  /** End the session: bounded in time even if the server ignores us. Idempotent. */
  close(): Promise<void>;
  /** Process id for stdio children (tests and logs); undefined otherwise. */
  readonly pid?: number | undefined;
}

export interface ExchangeHandlers {
  /** A message arriving on the upstream's standalone GET stream (server-initiated traffic). */
  onServerMessage(json: string, id?: string): void;
  /**
   * A message other than the answer arrived on a call's reply stream (progress, a server request
   * tied to the call): the session uses it to extend deadlines (timeouts.max_request_ms).
   */
  onActivity?(json: string): void;
  /** The upstream session ended (404 from upstream, stream failure after retries, or close()). */
  onClosed(err: ProxyError | null): void;
}

export interface ExchangeClient {
  /**
   * POST a JSON-RPC request. The upstream's answer is written to `sink`: a JSON body via
   * `sink.json`, an SSE reply via `startStream`/`event`/`end`, failures via `sink.fail`
   * (E_UPSTREAM_CONNECT / E_UPSTREAM_TIMEOUT / E_UPSTREAM_STATUS / E_UPSTREAM_PROTOCOL).
   * The first request of a session must be `initialize`: the client captures `Mcp-Session-Id`
   * and the negotiated protocol version from it and sends both on every later request.
   * `trace` (observability/trace.ts) goes out as the POST's traceparent/tracestate headers.
   */
  request(json: string, sink: ReplySink, trace?: string): void;
  /** POST a notification or a response; resolves on 2xx, rejects with a ProxyError otherwise. */
  post(json: string, trace?: string): Promise<void>;
  /** Open the standalone GET stream if the upstream offers one (405 -> none, silently). */
  openServerStream(): Promise<void>;
  pauseServerStream(): void;
  resumeServerStream(): void;
  /** DELETE the upstream session (if it had an id) and abort everything; bounded in time. Idempotent. */
  close(): Promise<void>;
}
