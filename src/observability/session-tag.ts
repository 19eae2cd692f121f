/**
 * A session's short tag for logs and the admin snapshot: the first 12 hex digits of
 * sha256(session id). An operator can match a tag across log lines and /admin/sessions, and
 * compute it from an id they hold (`printf %s ID | sha256sum | cut -c1-12`), but a tag cannot be
 * turned back into the id, so neither a log reader nor an admin page can take over a session.
 * 48 bits: collisions among a few thousand live sessions are improbable (~1e-8 at 2,000).
 */
import { createHash } from 'node:crypto';

export const SESSION_TAG_HEX = 12;

export function sessionTag(sid: string): string {
  return createHash('sha256').update(sid).digest('hex').slice(0, SESSION_TAG_HEX);
}
