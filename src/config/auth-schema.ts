/**
 * The `auth:` section (client authentication and per-client limits) as a zod schema, its rules
 * across fields, and its mapping onto `AuthConfig`. Kept apart from schema.ts so the security rules
 * are readable in one place. Messages never echo a token, resolved or not.
 */
import { z } from 'zod';
import { isLoopbackHost } from '../acceptor/loopback.js';
import { isSafeFetchUrl } from '../auth/loopback.js';
import type { AuthConfig, ClientLimitsConfig, JwtConfig, StaticClient } from './types.js';
import type { RawIssue, ResolveContext } from './schema.js';

export const CLIENT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** RFC 6750 b64token: what may follow `Bearer ` in an Authorization header. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MIN_TOKEN_CHARS = 16;
/** A static token must come from outside the config file, which is often world-readable or in git. */
const REFERENCE = /\$\{(?:secret|env):[A-Za-z0-9_.-]+\}/;
/** RFC 6749 scope-token characters. */
const SCOPE_CHARS = /^[\x21\x23-\x5b\x5d-\x7e]*$/;
/** Asymmetric algorithms only: a JWKS holds public keys, and HS* with a public key is a classic forgery. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
const DEFAULT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA', 'Ed25519'];
const MAX_MS = 2_147_483_647;
const MAX_LIMIT = 1_000_000_000;

const intError = (iss: { code?: string; input?: unknown }) =>
  iss.code === 'invalid_type' ? (iss.input === undefined ? 'is required' : 'must be an integer') : undefined;
const int = (min: number, max: number) => z.int({ error: intError }).min(min).max(max);

const destinationList = z.array(z.string().min(1)).min(1, { error: 'must name at least one destination or "*"' });
const limitFields = {
  max_sessions: int(1, MAX_LIMIT).optional(),
  requests_per_minute: int(1, MAX_LIMIT).optional(),
};

function tokenSchema(ctx: ResolveContext) {
  return z
    .string()
    .refine((v) => REFERENCE.test(v), {
      error: 'must be a ${secret:NAME} or ${env:NAME} reference (a token does not belong in the config file)',
      abort: true,
    })
    .transform((v, rctx) => {
      const r = ctx.expand(v);
      if (r.ok) return r.value;
      rctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    })
    .refine((v) => v.length >= MIN_TOKEN_CHARS, { error: `must resolve to at least ${MIN_TOKEN_CHARS} characters`, abort: true })
    .refine((v) => B64TOKEN.test(v), { error: 'must resolve to a bearer token (letters, digits and -._~+/, then optional =)' });
}

function clientSchema(ctx: ResolveContext) {
  return z.strictObject({ token: tokenSchema(ctx), destinations: destinationList, ...limitFields });
}

const JwtSchema = z.strictObject({
  issuer: z.string().refine(isSafeFetchUrl, { error: 'must be an https URL (http only on a loopback host)' }),
  audience: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'must be a string or a list of strings' })
    .transform((a) => (typeof a === 'string' ? [a] : a)),
  jwks_url: z.string().refine(isSafeFetchUrl, { error: 'must be an https URL (http only on a loopback host)' }),
  destinations: destinationList,
  /** Public base URL of this proxy, for RFC 9728 metadata; default: the origin of the first URL audience. */
  resource: z
    .string()
    .refine((u) => URL.canParse(u) && ['http:', 'https:'].includes(new URL(u).protocol), { error: 'must be an http(s) URL', abort: true })
    .refine((u) => { const p = new URL(u); return p.search === '' && p.hash === '' && p.username === '' && p.password === ''; },
      { error: 'must not have credentials, a query or a fragment' })
    .optional(),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(DEFAULT_ALGORITHMS as (typeof JWT_ALGORITHMS)[number][]),
  clock_skew_s: int(0, 300).default(30),
  scope_prefix: z.string().regex(SCOPE_CHARS, { error: 'must consist of scope characters (no spaces, quotes or backslashes)' }).default('mcp:'),
  require_scope: z.boolean().default(true),
  client_claim: z.string().min(1).default('sub'),
  /** e.g. `at+jwt` (RFC 9068 §4); unset = the header's typ is not checked (many issuers send `JWT`). */
  typ: z.string().min(1).optional(),
  jwks_cooldown_ms: int(0, MAX_MS).default(30_000),
  jwks_cache_max_age_ms: int(1_000, MAX_MS).default(600_000),
  jwks_timeout_ms: int(100, 60_000).default(5_000),
  ...limitFields,
});

export function authSchema(ctx: ResolveContext) {
  return z.strictObject({
    anonymous: z.boolean().default(false),
    anonymous_limits: z.strictObject({ destinations: destinationList.default(['*']), ...limitFields }).prefault({}),
    per_session_inflight: int(1, 1_000_000).default(64),
    clients: z
      .record(z.string(), clientSchema(ctx))
      .default({})
      .superRefine((clients, rctx) => {
        // Two clients with one token would be indistinguishable; say which, never what the token is.
        const owner = new Map<string, string>();
        for (const [name, c] of Object.entries(clients)) {
          const first = owner.get(c.token);
          if (first !== undefined) rctx.addIssue({ code: 'custom', path: [name, 'token'], message: `is the same token as auth.clients.${first}.token` });
          else owner.set(c.token, name);
        }
      }),
    jwt: JwtSchema.optional(),
  });
}

export type ParsedAuth = z.output<ReturnType<typeof authSchema>>;

// ---- rules across fields (on the raw value, reported with every other problem) ------------------

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function isUrlAudience(a: unknown): boolean {
  return typeof a === 'string' && URL.canParse(a) && ['http:', 'https:'].includes(new URL(a).protocol);
}

export function authCrossFieldIssues(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  const root = asRecord(raw);
  if (root === undefined) return issues;
  const auth = asRecord(root.auth);
  // Destinations lists may name destinations and (when configured) virtual servers.
  const known = new Set([...Object.keys(asRecord(root.destinations) ?? {}), ...Object.keys(asRecord(root.virtual_servers) ?? {})]);
  const checkList = (list: unknown, path: PropertyKey[]) => {
    if (!Array.isArray(list)) return;
    list.forEach((entry, i) => {
      if (typeof entry === 'string' && entry !== '*' && !known.has(entry)) {
        issues.push({ path: [...path, i], message: `names no configured destination or virtual server ("${entry}")` });
      }
    });
  };
  const clients = asRecord(auth?.clients);
  for (const [name, c] of Object.entries(clients ?? {})) {
    if (!CLIENT_NAME.test(name)) issues.push({ path: ['auth', 'clients', name], message: `is not a valid client name (must match ${CLIENT_NAME.source})` });
    checkList(asRecord(c)?.destinations, ['auth', 'clients', name, 'destinations']);
  }
  const jwt = asRecord(auth?.jwt);
  if (jwt !== undefined) {
    checkList(jwt.destinations, ['auth', 'jwt', 'destinations']);
    const auds = Array.isArray(jwt.audience) ? jwt.audience : [jwt.audience];
    if (jwt.resource === undefined && !auds.some(isUrlAudience)) {
      issues.push({ path: ['auth', 'jwt', 'resource'], message: 'is required when no audience is an http(s) URL (it is the public URL clients reach the proxy at)' });
    }
  }
  checkList(asRecord(auth?.anonymous_limits)?.destinations, ['auth', 'anonymous_limits', 'destinations']);

  const host = asRecord(root.listen)?.host ?? '127.0.0.1';
  if (typeof host === 'string') {
    const problem = offLoopbackProblem(host, { clients: Object.keys(clients ?? {}).length, jwt: jwt !== undefined, anonymous: auth?.anonymous === true });
    if (problem !== null) issues.push({ path: ['listen', 'host'], message: problem });
  }
  return issues;
}

/**
 * The start rule: serving beyond loopback needs credentials, or an explicit `auth.anonymous: true`.
 * Exported so that a `--host` given on the command line is held to the same rule.
 */
export function offLoopbackProblem(host: string, auth: { clients: number; jwt: boolean; anonymous: boolean }): string | null {
  if (isLoopbackHost(host) || auth.clients > 0 || auth.jwt || auth.anonymous) return null;
  return `${host} is not a loopback address and auth has no clients or jwt: anyone who can reach the port could use every destination (configure auth.clients or auth.jwt, or set auth.anonymous: true to serve without credentials)`;
}

/**
 * A reload keeps the running listen address, which may differ from the file's (a `--host`
 * override): the incoming auth section must still be enough for the address actually bound.
 */
export function reloadAuthProblem(runningHost: string, incoming: AuthConfig): string | null {
  return offLoopbackProblem(runningHost, { clients: Object.keys(incoming.clients).length, jwt: incoming.jwt !== null, anonymous: incoming.anonymous });
}

// ---- the resolved section ------------------------------------------------------------------------

function limitsOf(p: { max_sessions?: number | undefined; requests_per_minute?: number | undefined }): ClientLimitsConfig {
  return { maxSessions: p.max_sessions ?? null, requestsPerMinute: p.requests_per_minute ?? null };
}

export function toAuthConfig(p: ParsedAuth): AuthConfig {
  const clients = Object.create(null) as Record<string, StaticClient>;
  for (const [name, c] of Object.entries(p.clients)) clients[name] = { name, token: c.token, destinations: c.destinations, limits: limitsOf(c) };
  let jwt: JwtConfig | null = null;
  if (p.jwt !== undefined) {
    const j = p.jwt;
    // href percent-encodes what a quoted header parameter could not carry (quotes, spaces).
    const base = j.resource !== undefined ? new URL(j.resource).href : new URL(j.audience.find(isUrlAudience) ?? '').origin;
    jwt = {
      issuer: j.issuer,
      audience: j.audience,
      jwksUrl: j.jwks_url,
      destinations: j.destinations,
      resource: base.replace(/\/+$/, ''),
      algorithms: [...j.algorithms],
      clockSkewS: j.clock_skew_s,
      scopePrefix: j.scope_prefix,
      requireScope: j.require_scope,
      clientClaim: j.client_claim,
      typ: j.typ ?? null,
      jwksCooldownMs: j.jwks_cooldown_ms,
      jwksCacheMaxAgeMs: j.jwks_cache_max_age_ms,
      jwksTimeoutMs: j.jwks_timeout_ms,
      limits: limitsOf(j),
    };
  }
  return {
    anonymous: p.anonymous,
    anonymousAccess: { destinations: p.anonymous_limits.destinations, limits: limitsOf(p.anonymous_limits) },
    perSessionInflight: p.per_session_inflight,
    clients,
    jwt,
  };
}
