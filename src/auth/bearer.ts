/**
 * The credential in an `Authorization` header (RFC 6750 §2.1: `Bearer <b64token>`; the scheme is
 * case-insensitive). Tokens in the query string are never read (the MCP spec forbids them).
 */
import { B64TOKEN } from '../config/auth-schema.js';

/** Longer than any real access token; refusing early keeps hashing and JWT parsing bounded. */
export const MAX_TOKEN_CHARS = 16_384;

export type Credential =
  | { kind: 'none' }
  | { kind: 'malformed'; reason: string }
  | { kind: 'bearer'; token: string };

export function parseAuthorization(header: string): Credential {
  if (header === '') return { kind: 'none' };
  const sp = header.indexOf(' ');
  if (sp < 0 || header.slice(0, sp).toLowerCase() !== 'bearer') return { kind: 'malformed', reason: 'not a Bearer credential' };
  const token = header.slice(sp + 1).trim();
  if (token.length === 0) return { kind: 'malformed', reason: 'empty bearer token' };
  if (token.length > MAX_TOKEN_CHARS) return { kind: 'malformed', reason: 'bearer token too long' };
  if (!B64TOKEN.test(token)) return { kind: 'malformed', reason: 'bearer token has characters outside RFC 6750 b64token' };
  return { kind: 'bearer', token };
}

/** A JWS in compact form: three base64url parts (the middle one non-empty). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
