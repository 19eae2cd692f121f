/**
 * The first step of every destination route after `onAborted`: who is the client, and may it use
 * this destination. Authentication comes before the unknown-destination 404, so a caller without
 * valid credentials learns nothing about which names exist (every name answers 401 alike).
 *
 * A static token, an already verified JWT and anonymous access decide synchronously (no promise on
 * the hot path); only a JWT seen for the first time is a promise, and the route goes on inside
 * `res.cork` once it settles (a POST reads its body meanwhile, see `bufferBody`).
 */
import { isServedName } from '../config/served.js';
import { authFailHeaders, isPending, type AuthFail, type AuthOk, type AuthResult } from '../auth/authenticator.js';
import { ErrorCode } from '../errors.js';
import type { JsonRpcId } from '../upstream/jsonrpc-envelope.js';
import type { Core } from './core.js';
import type { HttpResponse } from './http-types.js';
import { type Abortable, readBody, writeError, writeResponse } from './http-util.js';

export function writeUnknownDestination(res: HttpResponse, name: string): number {
  writeResponse(res, 404, 'application/json', JSON.stringify({ error: 'unknown destination', destination: name }));
  return 404;
}

/** The metrics label of a refusal: bounded, fixed words. */
function countRefusal(core: Core, f: AuthFail): void {
  switch (f.code) {
    case ErrorCode.RateLimited:
      return core.metrics.rateLimited('requests_per_minute');
    case ErrorCode.TooManySessions:
      return core.metrics.rateLimited('max_sessions');
    case ErrorCode.SessionInflight:
      return core.metrics.rateLimited('per_session_inflight');
    case ErrorCode.ForbiddenDestination:
      return core.metrics.authFailure('forbidden');
    case ErrorCode.AuthUnavailable:
      return core.metrics.authFailure('unavailable');
    default:
      // 401: a challenge with an error code means a token was sent and is not valid.
      return core.metrics.authFailure(f.wwwAuthenticate?.includes('invalid_token') === true ? 'invalid' : 'missing');
  }
}

/** Answer an auth or limit refusal with its status, WWW-Authenticate and Retry-After; counted. */
export function writeAuthFail(core: Core, res: HttpResponse, f: AuthFail, id: JsonRpcId = null): number {
  countRefusal(core, f);
  return writeError(res, f.code, f.message, id, authFailHeaders(f));
}

/** Same, after the synchronous handler returned. */
export function writeAuthFailCorked(core: Core, res: HttpResponse, a: Abortable, f: AuthFail, id: JsonRpcId = null): number {
  if (a.aborted) return f.status;
  let status = 0;
  res.cork(() => {
    status = writeAuthFail(core, res, f, id);
  });
  return status;
}

/**
 * Run `next` for an authenticated client of a configured destination; answer (and `logRefusal`)
 * anything else. `next` runs synchronously when `auth` is a result, else inside `res.cork` after
 * the promise settled (never after the client left).
 */
export function gate(core: Core, res: HttpResponse, st: Abortable, dest: string, auth: AuthResult | Promise<AuthResult>,
  logRefusal: (status: number, note: string) => void, next: (ok: AuthOk) => void): void {
  const decide = (r: AuthResult): void => {
    if (!r.ok) return logRefusal(writeAuthFail(core, res, r), r.code);
    if (!isServedName(core.config, dest)) return logRefusal(writeUnknownDestination(res, dest), ErrorCode.UnknownDestination);
    next(r);
  };
  if (!isPending(auth)) return decide(auth);
  auth.then((r) => {
    if (!st.aborted) res.cork(() => decide(r));
  }, (err: unknown) => {
    // The verifier reports its failures as results; a rejection is a bug, answered as one.
    core.log.error({ err }, 'authentication failed unexpectedly');
    if (!st.aborted) res.cork(() => logRefusal(writeError(res, ErrorCode.Internal, 'internal error'), ErrorCode.Internal));
  });
}

/**
 * Start reading the body now and hand it over when asked: a POST whose JWT is still being
 * verified must not stall its upload (uWS delivers body chunks only to a reader attached in the
 * handler). The callback runs at once if the body is already in, else when it arrives.
 */
export function bufferBody(res: HttpResponse, limit: number): (cb: (body: string | null) => void) => void {
  let got: { body: string | null } | undefined;
  let waiting: ((body: string | null) => void) | undefined;
  readBody(res, limit, (body) => {
    if (waiting) waiting(body);
    else got = { body };
  });
  return (cb) => {
    if (got) cb(got.body);
    else waiting = cb;
  };
}
