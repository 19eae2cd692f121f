/**
 * The validated, resolved configuration: what `load.ts` produces and every other module reads.
 * Names are camelCase here; the YAML keys (snake_case) live only in the schema.
 * Everything here is computed once at load time so that request handling never re-derives it.
 */

export type TransportKind = 'streamable_http' | 'sse' | 'stdio';

/** Deadlines for one destination, in milliseconds. */
export interface Timeouts {
  /** TCP connect (http) or spawn-to-first-reply (stdio initialize). Default 5000. */
  connectMs: number;
  /** From sending a request upstream to the first byte of its reply. Default 30000. */
  firstByteMs: number;
  /** Longest silence inside a reply stream before it is cut. Default 300000. */
  idleMs: number;
  /** Legacy SSE upstream: how long to wait for the `endpoint` event. Default 10000. */
  endpointMs: number;
  /** A request with no reply at all after this long fails with 504. Default 120000. */
  requestMs: number;
  /**
   * Activity in the session (server messages, progress, server requests waiting for the client,
   * the client's answers) extends `requestMs`, never past this from the request's start.
   * Default 1800000 (30 min).
   */
  maxRequestMs: number;
}

export interface StdioLimits {
  /** A stdout line longer than this is dropped with a log line. Default 4 MiB. */
  maxLineBytes: number;
  /** Restarts allowed inside `restartWindowMs` before the session is ended. Default 3. */
  maxRestarts: number;
  restartWindowMs: number;
  /** First restart delay; doubles each try. Default 200. */
  restartBackoffMs: number;
  /** stdin closed -> SIGTERM after this -> SIGKILL after this again. Default 2000. */
  killGraceMs: number;
  /** stderr lines logged per second per child before dropping (counted, summarised). Default 20. */
  stderrLinesPerSec: number;
  /**
   * An unexpected exit: 'end_session' (default) ends the downstream session (404, re-initialize);
   * 'restart' respawns under the same session (the server's state is lost; the client gets a
   * warning `notifications/message`).
   */
  onExit: 'end_session' | 'restart';
}

interface DestinationCommon {
  name: string;
  timeouts: Timeouts;
  /**
   * A stable fingerprint of the fields that define how to connect (transport, url, headers,
   * command, args, env, cwd). A reload that changes it must close this destination's upstream sessions.
   */
  connectKey: string;
}

export interface HttpDestination extends DestinationCommon {
  transport: 'streamable_http' | 'sse';
  url: string;
  /** Header values with ${env:} and ${secret:} already substituted. Never logged. */
  headers: Record<string, string>;
}

export interface StdioDestination extends DestinationCommon {
  transport: 'stdio';
  command: string;
  args: string[];
  /** Only the configured extras; the child gets PATH, HOME, LANG from the proxy plus these. */
  env: Record<string, string>;
  /** Absolute (resolved against the config file's folder), or undefined for the proxy's cwd. */
  cwd: string | undefined;
  stdio: StdioLimits;
}

export type Destination = HttpDestination | StdioDestination;

export interface Limits {
  /** Largest accepted request body. Default 4 MiB -> 413. */
  maxBodyBytes: number;
  /** Bytes held in the acceptor for one slow response stream before the client is cut. Default 8 MiB. */
  maxBufferedBytes: number;
  /** A stream whose reader has not drained for this long is disconnected (logged). Default 60 s. */
  slowReaderMs: number;
  /** Server messages queued for a session whose GET stream is not open. Default 256. */
  maxPendingPushes: number;
  /** Requests in flight per worker before 503. Default 4096. */
  maxInflightPerWorker: number;
}

export interface ProxyConfig {
  listen: { host: string; port: number };
  workers: number;
  maxSessions: number;
  /** Close a downstream session with no traffic for this long. Default 30 min. */
  sessionIdleMs: number;
  /** Probe an upstream session with `ping` before reuse after this much silence. Default 60 s. */
  healthProbeAfterMs: number;
  /** SSE keep-alive comment interval. Default 15000. */
  sseKeepaliveMs: number;
  /**
   * Browser origins accepted besides loopback ones ('*' = any). A request whose Origin is not
   * accepted answers 403: it is how a local proxy resists DNS rebinding (MCP transport spec).
   */
  allowedOrigins: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: Limits;
  destinations: Record<string, Destination>;
  /** Absolute path of the file this came from; null for the built-in demo. */
  source: string | null;
}
