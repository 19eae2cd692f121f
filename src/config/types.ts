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
  /** Children of this destination alive at once, or null: only `limits.maxChildren` applies. */
  maxChildren: number | null;
  /** Idle time after which a session of this destination is closed (with its child). Default 10 min. */
  sessionIdleMs: number;
}

interface DestinationCommon {
  name: string;
  timeouts: Timeouts;
  /**
   * A stable fingerprint of the fields that define how to connect (transport, url, headers,
   * command, args, env, cwd). A reload that changes it must close this destination's upstream sessions.
   */
  connectKey: string;
  /**
   * The upstream's protocol era (`protocol:`): '2025' = session revisions 2024-11-05..2025-11-25
   * (default, every destination before 2026), '2026' = a session-less 2026-07-28 Streamable HTTP
   * server, reached by 2026 clients through pass-through (acceptor/streamable-http-2026.ts).
   * Absent means '2025' (destinations built in code before the key existed).
   */
  protocol?: '2025' | '2026';
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

/** One endpoint for many destinations (src/virtual/): members' names prefix what they offer. */
export interface VirtualServer {
  name: string;
  /** Member destination names, in the configured order (lists are merged in this order). */
  members: string[];
  /** Globs (`*`, `?`) on prefixed tool names; empty allow = every tool. Deny wins. */
  toolsAllow: string[];
  toolsDeny: string[];
}

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
  /** Recent standalone-stream events kept per session for Last-Event-ID resumption. Default 128 KiB. */
  replayBufferBytes: number;
  /** stdio children alive at once over all destinations (the child budget). Default 32. */
  maxChildren: number;
}

/** Operator access: `admin:` in the file. */
export interface AdminConfig {
  /** Bearer token for /admin/* (and /metrics, detailed /healthz when exposure needs it). Never logged. */
  token: string | undefined;
  /**
   * Who may read /metrics and the detailed /healthz: `loopback` (clients on 127.0.0.0/8 and ::1,
   * or with the admin token), `token` (only with the admin token), `public` (anyone). Unset: the
   * acceptor decides (admin.ts detailsPolicy: `loopback` when client auth is on, else `public`).
   */
  exposeMetrics: 'loopback' | 'token' | 'public' | undefined;
}

/** This instance's identity when several run behind one balancer (see README, Beyond one machine). */
export interface InstanceConfig {
  /** Carried in every session id; the balancer's server name for this instance. */
  id: string;
  /** HMAC key for session ids (resolved secret, never logged); null = a random key made at start. */
  key: string | null;
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
  /**
   * Host header names accepted besides IP literals, localhost, this machine's hostname and
   * listen.host; `name` (any port) or `name:port`; '*' = any. Others answer 421 (host-check.ts).
   */
  allowedHosts: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: Limits;
  /** Downstream client authentication and per-client limits (`auth:`). */
  auth: AuthConfig;
  admin: AdminConfig;
  destinations: Record<string, Destination>;
  /** null: plain session ids (one instance, or no balancer routing on them). */
  instance: InstanceConfig | null;
  /**
   * B1 MRTR: secret (resolved, never logged) the requestState HMAC key is derived from; null = a
   * random key made at start. Read once at start (a reload does not change it).
   */
  requestStateSecret: string | null;
  /** B1 MRTR: lifetime of a parked round and its requestState token. Default 5 min. */
  requestStateTtlMs: number;
  /** `virtual_servers:`; names never collide with destination names. Null prototype. */
  virtualServers: Record<string, VirtualServer>;
  /** Absolute path of the file this came from; null for the built-in demo. */
  source: string | null;
}

// ---- client authentication (auth:) -------------------------------------------------------------

/** null = no limit. */
export interface ClientLimitsConfig {
  /** Live sessions one client may hold; more -> 429 + Retry-After. */
  maxSessions: number | null;
  /** HTTP requests per minute (token bucket, a minute's worth of burst); more -> 429 + Retry-After. */
  requestsPerMinute: number | null;
}

export interface StaticClient {
  name: string;
  /** Resolved from ${secret:} / ${env:}. Never logged. */
  token: string;
  /** Destination or virtual server names, or "*". */
  destinations: string[];
  limits: ClientLimitsConfig;
}

export interface JwtConfig {
  /** Compared exactly with `iss` (no URL normalisation: issuers differ by a trailing slash). */
  issuer: string;
  /** A token's `aud` must contain one of these. */
  audience: string[];
  jwksUrl: string;
  /** What any valid token may use, before scopes narrow it. */
  destinations: string[];
  /** Public base URL of the proxy (no trailing slash): RFC 9728 resource identifiers derive from it. */
  resource: string;
  algorithms: string[];
  clockSkewS: number;
  /** Scope `<prefix><dest>` grants dest, `<prefix>*` grants every destination in `destinations`. */
  scopePrefix: string;
  /** false: scopes are not consulted, `destinations` alone decides. */
  requireScope: boolean;
  /** The claim that names the client (`jwt:<value>`). */
  clientClaim: string;
  /** Required JOSE header `typ` (e.g. `at+jwt`), or null: not checked. */
  typ: string | null;
  /** Least time between two JWKS fetches (an unknown `kid` refetches at most this often). */
  jwksCooldownMs: number;
  jwksCacheMaxAgeMs: number;
  jwksTimeoutMs: number;
  /** Applied per token subject. */
  limits: ClientLimitsConfig;
}

export interface AuthConfig {
  /** Serve requests that carry no credentials (as `anon:<address>`). */
  anonymous: boolean;
  /** What an anonymous client may use, limits keyed by its remote address. */
  anonymousAccess: { destinations: string[]; limits: ClientLimitsConfig };
  /** Requests one session may have in flight; more -> 429 for that session only. */
  perSessionInflight: number;
  clients: Record<string, StaticClient>;
  jwt: JwtConfig | null;
}
