/**
 * Opens many idle downstream sessions (initialize only, nothing after), to measure what one idle
 * session costs a target in memory. Bounded: a fixed count, a fixed number of connections, and a
 * timeout per request; close() ends every session that was opened (DELETE).
 */
import { Pool } from 'undici';
import { initializeBody } from './jsonrpc.js';
import { resolveOptions } from './options.js';
import { FailureNotes, errorText } from './session.js';

export interface IdleSessions {
  opened: number;
  failed: number;
  failures: string[];
  close(): Promise<void>;
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export async function openIdleSessions(
  target: string,
  count: number,
  opts: { connections?: number; timeoutMs?: number; allowRemote?: boolean } = {},
): Promise<IdleSessions> {
  // Same target checks as a load run (loopback only unless allowed).
  resolveOptions({ url: target, requests: 1, allowRemote: opts.allowRemote });
  const url = new URL(target);
  const path = url.pathname + url.search;
  const connections = Math.max(1, Math.min(count, opts.connections ?? 16));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const pool = new Pool(url.origin, { connections, pipelining: 1 });
  const notes = new FailureNotes();
  const sids: string[] = [];
  let failed = 0;
  let next = 0;

  async function lane(): Promise<void> {
    while (next < count) {
      const i = next++;
      try {
        const res = await pool.request({
          path,
          method: 'POST',
          headers: HEADERS,
          body: initializeBody(i),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const text = await res.body.text();
        const sid = res.headers['mcp-session-id'];
        if (res.statusCode !== 200 || typeof sid !== 'string') {
          failed++;
          notes.add(`initialize: HTTP ${res.statusCode} ${typeof sid === 'string' ? '' : '(no session id) '}${text.slice(0, 120)}`);
          continue;
        }
        sids.push(sid);
      } catch (err) {
        failed++;
        notes.add(`initialize: ${errorText(err)}`);
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, lane));

  return {
    opened: sids.length,
    failed,
    failures: notes.list(),
    async close(): Promise<void> {
      let k = 0;
      async function closer(): Promise<void> {
        while (k < sids.length) {
          const sid = sids[k++]!;
          try {
            const res = await pool.request({
              path,
              method: 'DELETE',
              headers: { ...HEADERS, 'mcp-session-id': sid },
              headersTimeout: timeoutMs,
              bodyTimeout: timeoutMs,
            });
            await res.body.dump();
          } catch {
            // Best effort: the target is stopped right after anyway.
          }
        }
      }
      await Promise.all(Array.from({ length: connections }, closer));
      await pool.close();
    },
  };
}
