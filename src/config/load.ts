/**
 * YAML text -> validated `ProxyConfig`, or every problem found, one line each, prefixed with the YAML
 * path it concerns. Loading is rare (start, reload, check-config), so clarity beats speed here; what
 * it produces is final, so request handling never re-derives anything.
 *
 * Secret values are substituted into the result but never into a problem line: messages name the
 * reference (`secret "x"`), never what it resolves to.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ErrorCode, ProxyError } from '../errors.js';
import type { Destination, ProxyConfig, Timeouts, VirtualServer } from './types.js';
import { toAuthConfig } from './auth-schema.js';
import {
  buildConfigSchema,
  crossFieldIssues,
  errorMap,
  STDIO_DEFAULTS,
  type ParsedConfig,
  type ParsedDestination,
  type ResolveContext,
  type Resolved,
} from './schema.js';

export type LoadResult = { ok: true; config: ProxyConfig } | { ok: false; problems: string[] };

export interface ParseOptions {
  /** Absolute path of the file the text came from; null when there is none (the demo). */
  source: string | null;
  /** Folder that relative paths (secrets_file, cwd, command) resolve against. */
  baseDir: string;
  /** Where `${env:NAME}` looks; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Anchors/aliases beyond this many are a resource-exhaustion attempt ("billion laughs"). */
const MAX_ALIASES = 100;

export function parseConfigText(text: string, opts: ParseOptions): LoadResult {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map(yamlErrorLine) };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    return { ok: false, problems: [`(root): YAML error: ${firstLine(err instanceof Error ? err.message : String(err))}`] };
  }
  if (raw === null || raw === undefined) return { ok: false, problems: ['(root): the config is empty'] };
  return resolveConfigObject(raw, opts);
}

export async function loadConfigFile(path: string, env?: NodeJS.ProcessEnv): Promise<LoadResult> {
  const source = resolve(path);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (err) {
    return { ok: false, problems: [`${source}: cannot read config file (${errText(err)})`] };
  }
  return parseConfigText(text, { source, baseDir: dirname(source), env });
}

export function formatProblems(problems: string[]): string {
  return problems.join('\n');
}

/**
 * Validates an already-parsed YAML value and builds the config. Exported so the built-in demo goes
 * through exactly the same rules and defaults as a file.
 */
export function resolveConfigObject(raw: unknown, opts: ParseOptions): LoadResult {
  const baseDir = resolve(opts.baseDir);
  const problems: string[] = [];
  const secrets = loadSecrets(raw, baseDir, problems);
  const ctx = resolveContext(baseDir, opts.env ?? process.env, secrets);
  const parsed = buildConfigSchema(ctx).safeParse(raw, { error: errorMap });
  for (const iss of crossFieldIssues(raw)) problems.push(`${pathText(iss.path)}: ${iss.message}`);
  if (!parsed.success) problems.push(...issueLines(parsed.error.issues));
  if (problems.length > 0) return { ok: false, problems: [...new Set(problems)].sort() };
  if (!parsed.success) throw new ProxyError(ErrorCode.Internal, 'config validation failed without problems');
  return { ok: true, config: toProxyConfig(parsed.data, opts.source) };
}

// ---- references and paths ----------------------------------------------------------------------

/** `none`: no secrets_file configured; `failed`: configured but unusable (already reported). */
type Secrets = { kind: 'none' } | { kind: 'failed' } | { kind: 'loaded'; values: Map<string, string> };

/** `$${` is a literal `${`; `${env:N}` / `${secret:N}` are references; any other `${` is a mistake. */
const REFERENCE = /\$\$\{|\$\{(?:(env|secret):([A-Za-z0-9_.-]+)\})?/g;
const MALFORMED = 'contains a malformed reference (use ${env:NAME} or ${secret:NAME}; $${ for a literal ${)';

function resolveContext(baseDir: string, env: NodeJS.ProcessEnv, secrets: Secrets): ResolveContext {
  function lookup(kind: string, name: string): Resolved {
    if (kind === 'env') {
      const v = Object.hasOwn(env, name) ? env[name] : undefined;
      return v === undefined ? { ok: false, message: `environment variable "${name}" is not set` } : { ok: true, value: v };
    }
    switch (secrets.kind) {
      case 'none':
        return { ok: false, message: `secret "${name}" is referenced but no secrets_file is set` };
      case 'failed':
        // The secrets_file problem is already reported; one line per missing secret would be noise.
        return { ok: true, value: '' };
      case 'loaded': {
        const v = secrets.values.get(name);
        return v === undefined ? { ok: false, message: `secret "${name}" is not defined in secrets_file` } : { ok: true, value: v };
      }
    }
  }

  return {
    expand(value) {
      if (!value.includes('${')) return { ok: true, value };
      const messages: string[] = [];
      const out = value.replace(REFERENCE, (match, kind: string | undefined, name: string | undefined) => {
        if (match === '$${') return '${';
        if (kind === undefined || name === undefined) {
          messages.push(MALFORMED);
          return match;
        }
        const r = lookup(kind, name);
        if (r.ok) return r.value;
        messages.push(r.message);
        return match;
      });
      return messages.length === 0 ? { ok: true, value: out } : { ok: false, message: [...new Set(messages)].join('; ') };
    },
    resolveCwd(dir) {
      const abs = resolve(baseDir, dir);
      const st = statSync(abs, { throwIfNoEntry: false });
      if (st === undefined) return { ok: false, message: `does not exist: ${abs}` };
      return st.isDirectory() ? { ok: true, value: abs } : { ok: false, message: `is not a directory: ${abs}` };
    },
    resolveCommand(command) {
      // A bare name is looked up on PATH by spawn; anything with a slash is a path, and a relative
      // one must not depend on the directory the proxy happened to be started from.
      if (!command.includes('/')) return { ok: true, value: command };
      const abs = isAbsolute(command) ? command : resolve(baseDir, command);
      const st = statSync(abs, { throwIfNoEntry: false });
      if (st === undefined) return { ok: false, message: `does not exist: ${abs}` };
      try {
        if (!st.isFile()) throw new Error('not a file');
        accessSync(abs, fsConstants.X_OK);
      } catch {
        return { ok: false, message: `is not an executable file: ${abs}` };
      }
      return { ok: true, value: abs };
    },
  };
}

/**
 * Reads `secrets_file` (if the raw config names one) before validation, because the header and env
 * transforms need the values. Problems are worded without any value from the file.
 */
function loadSecrets(raw: unknown, baseDir: string, problems: string[]): Secrets {
  if (typeof raw !== 'object' || raw === null) return { kind: 'none' };
  const file = (raw as Record<string, unknown>).secrets_file;
  if (typeof file !== 'string' || file === '') return { kind: 'none' }; // the schema reports the type
  const abs = resolve(baseDir, file);
  const fail = (message: string): Secrets => {
    problems.push(`secrets_file: ${message}`);
    return { kind: 'failed' };
  };
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    return fail(`cannot read ${abs} (${errText(err)})`);
  }
  const doc = parseDocument(text);
  const yamlError = doc.errors[0];
  // Only the position and code: yaml's messages can quote the offending line, i.e. a secret.
  if (yamlError !== undefined) {
    const pos = yamlError.linePos?.[0];
    const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    return fail(`YAML syntax error${at} (${yamlError.code}) in ${abs}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch {
    return fail(`YAML error (unresolvable alias) in ${abs}`);
  }
  if (data === null || data === undefined) return { kind: 'loaded', values: new Map() };
  if (typeof data !== 'object' || Array.isArray(data)) return fail(`must be a flat mapping of name: value (${abs})`);
  const values = new Map<string, string>();
  let bad = false;
  for (const [name, value] of Object.entries(data)) {
    if (typeof value === 'string') values.set(name, value);
    else {
      problems.push(`secrets_file: the value of "${name}" must be a string (quote it in YAML)`);
      bad = true;
    }
  }
  return bad ? { kind: 'failed' } : { kind: 'loaded', values };
}

// ---- problem lines -----------------------------------------------------------------------------

function pathText(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `${s === '' ? '' : '.'}${String(p)}`;
  return s === '' ? '(root)' : s;
}

function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) lines.push(`${pathText([...iss.path, key])}: unknown key`);
    } else if (iss.code === 'invalid_key') {
      // A map key failed its own schema (header or env name); zod nests the reason.
      for (const inner of iss.issues) lines.push(`${pathText(iss.path)}: ${inner.message}`);
    } else {
      lines.push(`${pathText(iss.path)}: ${iss.message}`);
    }
  }
  return lines;
}

function yamlErrorLine(err: { message: string; linePos?: [{ line: number; col: number }, ...unknown[]] | undefined }): string {
  const pos = err.linePos?.[0];
  // The pretty message appends the source excerpt after the first line; keep only the sentence.
  const sentence = firstLine(err.message).replace(/ at line \d+, column \d+:?$/, '');
  return pos ? `line ${pos.line}, column ${pos.col}: YAML syntax error: ${sentence}` : `(root): YAML syntax error: ${sentence}`;
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i === -1 ? s : s.slice(0, i);
}

function errText(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}

// ---- the resolved config -----------------------------------------------------------------------

function toProxyConfig(p: ParsedConfig, source: string | null): ProxyConfig {
  // Null prototype: a lookup of an unconfigured name such as "constructor" must find nothing.
  const destinations = Object.create(null) as Record<string, Destination>;
  for (const [name, d] of Object.entries(p.destinations)) destinations[name] = toDestination(name, d);
  const virtualServers = Object.create(null) as Record<string, VirtualServer>;
  for (const [name, v] of Object.entries(p.virtual_servers ?? {})) {
    virtualServers[name] = { name, members: v.destinations, toolsAllow: v.tools?.allow ?? [], toolsDeny: v.tools?.deny ?? [] };
  }
  return {
    listen: { host: p.listen.host, port: p.listen.port },
    workers: p.workers,
    maxSessions: p.max_sessions,
    sessionIdleMs: p.session_idle_ms,
    healthProbeAfterMs: p.health_probe_after_ms,
    sseKeepaliveMs: p.sse_keepalive_ms,
    allowedOrigins: p.allowed_origins.map((o) => o.replace(/\/$/, '')),
    allowedHosts: p.allowed_hosts,
    logLevel: p.log_level,
    limits: {
      maxBodyBytes: p.limits.max_body_bytes,
      maxBufferedBytes: p.limits.max_buffered_bytes,
      slowReaderMs: p.limits.slow_reader_ms,
      maxPendingPushes: p.limits.max_pending_pushes,
      maxInflightPerWorker: p.limits.max_inflight_per_worker,
      replayBufferBytes: p.limits.replay_buffer_bytes,
      maxChildren: p.limits.max_children,
    },
    auth: toAuthConfig(p.auth),
    admin: { token: p.admin?.token, exposeMetrics: p.admin?.expose_metrics },
    destinations,
    instance: p.instance ? { id: p.instance.id, key: p.instance.key ?? null } : null,
    requestStateSecret: p.request_state_secret ?? null,
    requestStateTtlMs: p.request_state_ttl_ms,
    virtualServers,
    source,
  };
}

function toDestination(name: string, d: ParsedDestination): Destination {
  const t = d.timeouts;
  const timeouts: Timeouts = {
    connectMs: t.connect_ms,
    firstByteMs: t.first_byte_ms,
    idleMs: t.idle_ms,
    endpointMs: t.endpoint_ms,
    requestMs: t.request_ms,
    maxRequestMs: t.max_request_ms,
  };
  if (d.transport === 'stdio') {
    // The schema's transport rules guarantee a command; this only narrows the type.
    if (d.command === undefined) throw new ProxyError(ErrorCode.Internal, `destination ${name}: stdio without command`);
    const s = d.stdio ?? STDIO_DEFAULTS;
    const conn = { transport: d.transport, command: d.command, args: d.args ?? [], env: { ...d.env }, cwd: d.cwd };
    return {
      name,
      timeouts,
      protocol: '2025',
      ...conn,
      stdio: {
        maxLineBytes: s.max_line_bytes,
        maxRestarts: s.max_restarts,
        restartWindowMs: s.restart_window_ms,
        restartBackoffMs: s.restart_backoff_ms,
        killGraceMs: s.kill_grace_ms,
        stderrLinesPerSec: s.stderr_lines_per_sec,
        onExit: s.on_exit,
        maxChildren: s.max_children ?? null,
        sessionIdleMs: s.session_idle_ms,
      },
      connectKey: connectKey(conn),
    };
  }
  if (d.url === undefined) throw new ProxyError(ErrorCode.Internal, `destination ${name}: ${d.transport} without url`);
  // Lower-case names: HTTP ignores case, and the logger's redaction paths are lower-case.
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.headers ?? {})) headers[k.toLowerCase()] = v;
  const protocol = d.protocol ?? '2025';
  // The era is part of how to connect only when it is not the default (existing keys stay as they were).
  const conn = { transport: d.transport, url: d.url, headers, ...(protocol === '2026' ? { protocol } : {}) };
  return { name, timeouts, ...conn, protocol, connectKey: connectKey(conn) };
}

export interface ConnectFields {
  transport: string;
  url?: string;
  headers?: Record<string, string>;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string | undefined;
  /** Only when '2026' (the default era adds nothing, so existing keys are unchanged). */
  protocol?: '2026';
}

/**
 * sha256 over a canonical JSON of what defines a connection (maps with sorted keys, absent = null).
 * It covers resolved secrets so that rotating one evicts the sessions that use it; being a hash, it
 * does not reveal them, but treat it as opaque and do not log it next to guessable inputs.
 */
export function connectKey(f: ConnectFields): string {
  const sorted = (m: Record<string, string> | undefined) =>
    m === undefined ? null : Object.keys(m).sort().map((k) => [k, m[k]]);
  const canonical = JSON.stringify([
    'mithril-connect-v1',
    f.transport,
    f.url ?? null,
    sorted(f.headers),
    f.command ?? null,
    f.args ?? null,
    sorted(f.env),
    f.cwd ?? null,
    ...(f.protocol !== undefined ? [f.protocol] : []),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
