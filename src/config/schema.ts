/**
 * The YAML shape of a config file (snake_case keys) as zod schemas, with every default in one place.
 * The output is still snake_case; `load.ts` maps it onto `ProxyConfig`. Work that depends on the
 * outside world (environment, secrets file, the config file's folder, the file system) is asked of a
 * `ResolveContext`, so its failures become issues at the exact YAML path in the same single pass.
 *
 * Messages never echo an input value: a header or env value may hold a credential.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { authCrossFieldIssues, authSchema } from './auth-schema.js';
import { INSTANCE_ID } from '../threads/session-id.js';
import { splitHost } from '../acceptor/host-check.js';
import { CLIENT_OWNED_HEADERS, isFieldName, isFieldValue } from '../upstream/h1/headers.js';

export const DESTINATION_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?$/;
/** CR/LF would split a header (request smuggling); NUL truncates argv/env strings in the kernel. */
const CONTROL_BREAKS = /[\r\n\0]/;
/**
 * Headers the proxy itself owns: framing, connection management, content negotiation that MCP
 * requires, and the session/version/resume state it keeps per upstream session. A configured value
 * would corrupt those.
 */
const RESERVED_HEADERS = new Set([
  ...CLIENT_OWNED_HEADERS,
  'trailer', 'accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id',
  // Per request, from the client's trace context (observability/trace.ts).
  'traceparent', 'tracestate',
]);
/** setTimeout fires at once for delays above 2^31-1 ms, so no deadline may exceed it. */
const MAX_MS = 2_147_483_647;
const MiB = 1024 * 1024;
export const TRANSPORTS = ['streamable_http', 'sse', 'stdio'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A value or the problem (message only; the caller knows the path) that prevented it. */
export type Resolved = { ok: true; value: string } | { ok: false; message: string };

export interface ResolveContext {
  /** Substitutes `${env:NAME}` and `${secret:NAME}` in a header or env value. */
  expand(value: string): Resolved;
  /** Makes a stdio `cwd` absolute and checks that it is a directory. */
  resolveCwd(dir: string): Resolved;
  /** Makes a path-like stdio `command` absolute (plain names stay for a PATH lookup). */
  resolveCommand(command: string): Resolved;
}

// ---- building blocks -------------------------------------------------------------------------

/** z.int() says "expected number" for a string; ours says integer. Range issues fall through. */
const intError = (iss: { code?: string; input?: unknown }) => {
  if (iss.code !== 'invalid_type') return undefined;
  return iss.input === undefined ? 'is required' : `must be an integer (got ${kindOf(iss.input)})`;
};
const int = (min: number, max: number) => z.int({ error: intError }).min(min).max(max);
const ms = int(1, MAX_MS);
/** YAML reads `3000` or `true` as non-strings; for argv/env/header values the intent is the text. */
const scalarText = z
  .union([z.string(), z.number(), z.boolean()], { error: 'must be a string' })
  .transform(String);

function fromContext(fn: (v: string) => Resolved) {
  return (v: string, ctx: z.core.$RefinementCtx<string>) => {
    const r = fn(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message });
    return z.NEVER;
  };
}

// ---- sections with defaults --------------------------------------------------------------------
// `.prefault({})` runs an omitted section through its schema, so nested defaults are filled from
// these same declarations (zod 4's `.default()` would return the value without parsing it).

const ListenSchema = z.strictObject({
  host: z
    .string()
    .refine((h) => isIP(h) !== 0 || HOSTNAME.test(h), { error: 'must be an IP address or a hostname' })
    .default('127.0.0.1'),
  port: int(0, 65_535).default(8080),
});

const LimitsSchema = z.strictObject({
  max_body_bytes: int(1, 1024 * MiB).default(4 * MiB),
  max_buffered_bytes: int(1, 1024 * MiB).default(8 * MiB),
  slow_reader_ms: ms.default(60_000),
  max_pending_pushes: int(1, 1_000_000).default(256),
  max_inflight_per_worker: int(1, 1_000_000).default(4096),
  // Recent standalone-stream events kept per Streamable HTTP session for Last-Event-ID replay.
  replay_buffer_bytes: int(0, 64 * MiB).default(128 * 1024),
  // stdio children alive at once, all destinations together (README "A budget for children":
  // ~60 MB per Node server child, 32 x 60 MB ~ 1.9 GB, half a 4 GB Pi).
  max_children: int(1, 100_000).default(32),
});

const TimeoutsSchema = z.strictObject({
  connect_ms: ms.default(5_000),
  first_byte_ms: ms.default(30_000),
  idle_ms: ms.default(300_000),
  endpoint_ms: ms.default(10_000),
  request_ms: ms.default(120_000),
  /** Activity (progress, server requests, the client's answers) extends request_ms up to this. */
  max_request_ms: ms.default(1_800_000),
});

export const StdioLimitsSchema = z.strictObject({
  max_line_bytes: int(1, 1024 * MiB).default(4 * MiB),
  /** 0 = never restart a child that exited. */
  max_restarts: int(0, 1_000).default(3),
  restart_window_ms: ms.default(60_000),
  restart_backoff_ms: int(0, MAX_MS).default(200),
  kill_grace_ms: ms.default(2_000),
  /** 0 = drop all stderr lines (they are still counted). */
  stderr_lines_per_sec: int(0, 1_000_000).default(20),
  /**
   * What an unexpected child exit does to its session: `end_session` (the default) ends it, and
   * the client re-initializes onto a fresh server; `restart` respawns the child under the same
   * session and tells the client with a warning log notification that the server's state is gone.
   */
  on_exit: z.enum(['end_session', 'restart']).default('end_session'),
  /** Children of this destination alive at once; unset: only limits.max_children applies. */
  max_children: int(1, 100_000).optional(),
  /** A stdio session (one child each) idle this long is closed; the shorter of this and session_idle_ms applies. */
  session_idle_ms: ms.default(600_000),
});

/** The stdio limits of a stdio destination that has no `stdio:` section. */
export const STDIO_DEFAULTS: z.output<typeof StdioLimitsSchema> = StdioLimitsSchema.parse({});

// ---- destinations ------------------------------------------------------------------------------

const HTTP_ONLY = ['url', 'headers'] as const;
const STDIO_ONLY = ['command', 'args', 'env', 'cwd', 'stdio'] as const;

function destinationSchema(ctx: ResolveContext) {
  const expanded = z
    .string()
    .transform(fromContext((v) => ctx.expand(v)))
    .refine((v) => !CONTROL_BREAKS.test(v), { error: 'must not contain CR, LF or NUL', abort: true });
  const textValue = scalarText.pipe(expanded);
  // The upstream HTTP client sends no other bytes in a header: refused here, not on every request.
  const headerValue = textValue.refine(isFieldValue, { error: 'must be visible ASCII, spaces or tabs (no other byte can be sent in a header)' });

  return z.strictObject({
    transport: z.enum(TRANSPORTS),
    url: z
      .string()
      .refine(isHttpUrl, { error: 'must be an http(s) URL', abort: true })
      .refine((u) => !hasCredentials(u), { error: 'must not contain credentials (use headers)' })
      .transform((u) => new URL(u).href)
      .optional(),
    headers: z
      .record(
        z
          .string()
          .refine(isFieldName, { error: 'is not a valid header name' })
          .refine((n) => !RESERVED_HEADERS.has(n.toLowerCase()), { error: 'is set by the proxy and cannot be configured' }),
        headerValue,
      )
      .optional(),
    command: z
      .string()
      .min(1)
      .refine((c) => !CONTROL_BREAKS.test(c), { error: 'must not contain CR, LF or NUL' })
      .transform(fromContext((c) => ctx.resolveCommand(c)))
      .optional(),
    args: z.array(scalarText.refine((a) => !a.includes('\0'), { error: 'must not contain NUL' })).optional(),
    env: z.record(z.string().regex(ENV_NAME, { error: 'is not a valid environment variable name' }), textValue).optional(),
    cwd: z
      .string()
      .min(1)
      .transform(fromContext((d) => ctx.resolveCwd(d)))
      .optional(),
    timeouts: TimeoutsSchema.prefault({}),
    stdio: StdioLimitsSchema.optional(),
    // The upstream's protocol era (README "MCP 2026-07-28"): 2025 = the session revisions (default),
    // 2026 = a session-less 2026-07-28 server that 2026 clients reach by pass-through.
    protocol: z.union([z.literal(2025), z.literal(2026), z.literal('2025'), z.literal('2026')])
      .transform((v) => String(v) as '2025' | '2026')
      .optional(),
  });
}

function isHttpUrl(u: string): boolean {
  if (!URL.canParse(u)) return false;
  const p = new URL(u).protocol;
  return p === 'http:' || p === 'https:';
}

function isOrigin(o: string): boolean {
  if (!isHttpUrl(o)) return false;
  const u = new URL(o);
  return u.origin === o.replace(/\/$/, '');
}

function hasCredentials(u: string): boolean {
  const parsed = new URL(u);
  return parsed.username !== '' || parsed.password !== '';
}

// ---- admin --------------------------------------------------------------------------------------

/** Who may read /metrics and the detailed /healthz fields (admin.ts detailsAllowed). */
export const EXPOSE_METRICS = ['loopback', 'token', 'public'] as const;
/** An admin token shorter than this is guessable; `openssl rand -hex 32` gives 64. */
const MIN_ADMIN_TOKEN = 16;

function adminSchema(ctx: ResolveContext) {
  return z.strictObject({
    // ${secret:NAME} / ${env:NAME} allowed; never logged (it is only ever hashed, admin.ts).
    token: z
      .string()
      .transform(fromContext((v) => ctx.expand(v)))
      .refine((v) => v.length >= MIN_ADMIN_TOKEN, { error: `must be at least ${MIN_ADMIN_TOKEN} characters` })
      .refine((v) => !CONTROL_BREAKS.test(v) && !/\s/.test(v), { error: 'must not contain whitespace, CR, LF or NUL' })
      .optional(),
    expose_metrics: z.enum(EXPOSE_METRICS).optional(),
  });
}

// ---- instance (several instances behind one balancer) -----------------------------------------

/** A shorter key is too easy to guess; 32 characters of a random secret carry >= 128 bits. */
const MIN_INSTANCE_KEY = 32;

function instanceSchema(ctx: ResolveContext) {
  return z.strictObject({
    id: z.string().regex(INSTANCE_ID, { error: `must match ${INSTANCE_ID.source} (it is also the HAProxy server name)` }),
    key: z
      .string()
      .transform(fromContext((v) => ctx.expand(v)))
      .refine((v) => v.length >= MIN_INSTANCE_KEY, { error: `must be at least ${MIN_INSTANCE_KEY} characters (use \${secret:NAME})` })
      .optional(),
  });
}

// ---- virtual servers ----------------------------------------------------------------------------

/**
 * A tool-name glob: `*` (any run) and `?` (one character) over the prefixed names. Names are
 * ^[a-zA-Z0-9_-]+ plus the separator, so anything else in a glob could never match: refused.
 */
export const TOOL_GLOB = /^[A-Za-z0-9_*?-]{1,200}$/;

const VirtualServerSchema = z.strictObject({
  destinations: z.array(z.string()).min(1, { error: 'must name at least one destination' }),
  tools: z
    .strictObject({
      allow: z.array(z.string().regex(TOOL_GLOB, { error: 'must be a glob of letters, digits, _ - * ?' })).optional(),
      deny: z.array(z.string().regex(TOOL_GLOB, { error: 'must be a glob of letters, digits, _ - * ?' })).optional(),
    })
    .optional(),
});

// ---- the whole file ----------------------------------------------------------------------------

export function buildConfigSchema(ctx: ResolveContext) {
  return z.strictObject({
    listen: ListenSchema.prefault({}),
    workers: int(1, 1024).default(() => availableParallelism()),
    max_sessions: int(1, 1_000_000).default(10_000),
    session_idle_ms: ms.default(1_800_000),
    health_probe_after_ms: ms.default(60_000),
    sse_keepalive_ms: ms.default(15_000),
    log_level: z.enum(LOG_LEVELS).default('info'),
    // Browser origins allowed besides loopback ones; '*' allows any (DNS-rebinding protection off).
    allowed_origins: z.array(z.string().refine((o) => o === '*' || isOrigin(o), { message: "must be an origin like 'https://host:port' or '*'" })).default([]),
    // Host header names accepted besides IP literals, localhost, this machine's hostname and
    // listen.host (DNS-rebinding protection, src/acceptor/host-check.ts); 'name' or 'name:port'; '*' = any.
    allowed_hosts: z.array(z.string().refine((h) => h === '*' || splitHost(h.toLowerCase()) !== undefined, { message: "must be a host name like 'mcp.example.com' or 'mcp.example.com:8443', or '*'" })).default([]),
    // Read before validation by load.ts (the secrets feed the header/env transforms); kept here so
    // that its type is checked and it is not an unknown key.
    secrets_file: z.string().min(1).optional(),
    limits: LimitsSchema.prefault({}),
    auth: authSchema(ctx).prefault({}),
    admin: adminSchema(ctx).optional(),
    instance: instanceSchema(ctx).optional(),
    // B1 MRTR: the HMAC secret of requestState tokens (src/era/request-state.ts); without one a
    // random key is made at start (tokens then die with the process, as their parked calls do).
    request_state_secret: z
      .string()
      .transform(fromContext((v) => ctx.expand(v)))
      .refine((v) => v.length >= 32, { error: 'must be at least 32 characters (use ${secret:NAME})' })
      .optional(),
    // How long a parked MRTR round (and its requestState) lives before the client's retry.
    request_state_ttl_ms: ms.default(300_000),
    destinations: z.record(z.string(), destinationSchema(ctx)),
    virtual_servers: z.record(z.string(), VirtualServerSchema).optional(),
  });
}

export type ConfigSchema = ReturnType<typeof buildConfigSchema>;
export type ParsedConfig = z.output<ConfigSchema>;
export type ParsedDestination = ParsedConfig['destinations'][string];
export type ParsedVirtualServer = NonNullable<ParsedConfig['virtual_servers']>[string];

// ---- rules across fields ----------------------------------------------------------------------
// Checked on the raw value, not as zod refinements: zod skips refinements once a nested field has
// failed (even with `when`), and these must be reported alongside every other problem.

export interface RawIssue {
  path: PropertyKey[];
  message: string;
}

/**
 * Destination names, at least one destination, which keys each transport needs or forbids, and
 * header names that differ only in case.
 */
export function crossFieldIssues(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = authCrossFieldIssues(raw);
  const dests = asRecord(asRecord(raw)?.destinations);
  if (dests === undefined) return issues; // missing or not a mapping: the schema reports it
  const names = Object.keys(dests);
  if (names.length === 0) issues.push({ path: ['destinations'], message: 'must define at least one destination' });
  for (const name of names) {
    const at = (...rest: string[]) => ['destinations', name, ...rest];
    if (!DESTINATION_NAME.test(name)) {
      issues.push({ path: at(), message: `is not a valid destination name (must match ${DESTINATION_NAME.source})` });
    }
    const d = asRecord(dests[name]);
    if (d === undefined) continue;
    const t = d.transport;
    const has = (k: string) => d[k] !== undefined;
    if (t === 'stdio') {
      if (!has('command')) issues.push({ path: at('command'), message: 'is required for transport stdio' });
      for (const k of HTTP_ONLY) if (has(k)) issues.push({ path: at(k), message: 'is not allowed for transport stdio' });
    } else if (t === 'streamable_http' || t === 'sse') {
      if (!has('url')) issues.push({ path: at('url'), message: `is required for transport ${t}` });
      for (const k of STDIO_ONLY) if (has(k)) issues.push({ path: at(k), message: `is not allowed for transport ${t}` });
    }
    // Only Streamable HTTP has a session-less 2026-07-28 form (stdio and legacy SSE are session-era).
    if ((d.protocol === 2026 || d.protocol === '2026') && t !== 'streamable_http') {
      issues.push({ path: at('protocol'), message: 'protocol 2026 needs transport streamable_http' });
    }
    const headers = asRecord(d.headers);
    if (headers === undefined) continue;
    const seen = new Set<string>();
    for (const h of Object.keys(headers)) {
      const lower = h.toLowerCase();
      if (seen.has(lower)) issues.push({ path: at('headers', h), message: 'is a duplicate (header names ignore case)' });
      seen.add(lower);
    }
  }
  issues.push(...virtualServerIssues(dests, asRecord(asRecord(raw)?.virtual_servers)));
  return issues;
}

/** The member separator in prefixed names (src/virtual/names.ts); a member name may not contain it. */
export const MEMBER_SEPARATOR = '__';

/**
 * Virtual server names share the destination namespace (one URL space); members are existing
 * destinations, listed once, and never contain the separator (so a prefixed name splits one way).
 */
function virtualServerIssues(dests: Record<string, unknown>, virtuals: Record<string, unknown> | undefined): RawIssue[] {
  const issues: RawIssue[] = [];
  if (virtuals === undefined) return issues;
  for (const name of Object.keys(virtuals)) {
    const at = (...rest: PropertyKey[]) => ['virtual_servers', name, ...rest];
    if (!DESTINATION_NAME.test(name)) {
      issues.push({ path: at(), message: `is not a valid virtual server name (must match ${DESTINATION_NAME.source})` });
    }
    if (Object.hasOwn(dests, name)) issues.push({ path: at(), message: 'is also a destination name (they share one namespace)' });
    const members = asRecord(virtuals[name])?.destinations;
    if (!Array.isArray(members)) continue;
    const seen = new Set<unknown>();
    members.forEach((m: unknown, i) => {
      if (typeof m !== 'string') return; // the schema reports the type
      if (seen.has(m)) issues.push({ path: at('destinations', i), message: `names "${m}" twice` });
      seen.add(m);
      if (Object.hasOwn(virtuals, m) && !Object.hasOwn(dests, m)) {
        issues.push({ path: at('destinations', i), message: `names a virtual server ("${m}"); members must be destinations` });
      } else if (!Object.hasOwn(dests, m)) {
        issues.push({ path: at('destinations', i), message: `names no configured destination ("${m}")` });
      } else if (m.includes(MEMBER_SEPARATOR)) {
        issues.push({ path: at('destinations', i), message: `contains "${MEMBER_SEPARATOR}", the member separator of prefixed names` });
      }
    });
  }
  return issues;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

// ---- messages ----------------------------------------------------------------------------------

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** What kind of thing the input was, never the input itself. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

/**
 * Our wording for zod's issues (per-parse map; messages set on a schema win over it). Unknown keys
 * are worded by load.ts, one line per key.
 */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${EXPECTED[iss.expected] ?? iss.expected} (got ${kindOf(iss.input)})`;
    case 'too_small':
      if (iss.origin === 'string') return 'must not be empty';
      return `must be >= ${String(iss.minimum)}`;
    case 'too_big':
      return `must be <= ${String(iss.maximum)}`;
    case 'invalid_value':
      return `must be one of: ${iss.values.map(String).join(', ')}`;
    default:
      return undefined;
  }
};
