/**
 * Starting a downstream session (POST initialize, legacy GET /sse), in the order the limits apply:
 * a live session of the same client under the presented id ends first ('replaced': one client
 * re-initializing never holds two sessions, two children), then the client's max_sessions, the
 * worker's in-flight budget, the child budget for stdio destinations (idle sessions end to make
 * room), and the session table. The caller forwards initialize once `ready` settles, i.e. once the
 * sessions ended here have closed their upstream side (a child has exited before its successor
 * is spawned).
 */
import type { AuthFail, AuthOk } from '../auth/authenticator.js';
import { ErrorCode } from '../errors.js';
import { roomForChild } from './child-budget.js';
import type { Core } from './core.js';
import type { DownSession } from './sessions.js';

export type SessionStart =
  | { ok: true; session: DownSession; ready: Promise<void> | null }
  | { ok: false; auth: AuthFail }
  | { ok: false; auth: null; code: ErrorCode; message: string };

export function startSession(core: Core, ok: AuthOk, dest: string, remote: string, legacy: boolean, replacing: DownSession | undefined): SessionStart {
  const ends: Array<Promise<void>> = [];
  if (replacing) ends.push(core.endSession(replacing, 'replaced'));
  const over = core.auth.admitSession(ok, dest, remote);
  if (over) return { ok: false, auth: over };
  const worker = core.supervisor.pick();
  if (worker < 0 || !core.hasRoom(worker)) return { ok: false, auth: null, code: ErrorCode.Overloaded, message: 'proxy is at capacity, retry shortly' };
  // A virtual server's members are started by the worker's aggregator; they are not in the child
  // budget yet (README, "A budget for children").
  const d = Object.hasOwn(core.config.destinations, dest) ? core.config.destinations[dest] : undefined;
  const stdio = d?.transport === 'stdio';
  if (d?.transport === 'stdio') {
    const room = roomForChild(core.store.all(), dest, d.stdio.maxChildren, core.config.limits.maxChildren);
    if (!room.ok) {
      core.metrics.reject('child-budget');
      return { ok: false, auth: null, code: ErrorCode.ChildBudget, message: 'every stdio child of the budget serves a session in use; retry shortly' };
    }
    for (const v of room.victims) {
      core.log.info({ session: v.tag, dest: v.dest, idleMs: Date.now() - v.lastSeen }, 'child budget: ending the least recently used idle session');
      ends.push(core.endSession(v, 'child-budget'));
    }
  }
  const session = core.store.create(dest, worker, legacy, { client: ok.client, inflight: core.auth.newInflightCounter(), stdio });
  if (!session) return { ok: false, auth: null, code: ErrorCode.SessionTableFull, message: 'session table is full, retry later' };
  return { ok: true, session, ready: ends.length === 0 ? null : Promise.all(ends).then(() => {}) };
}

/** Why a session that was waiting for `ready` is gone from the store: shutdown, else its worker died. */
export function sessionLostCode(core: Core): ErrorCode {
  return core.draining ? ErrorCode.ShuttingDown : ErrorCode.WorkerLost;
}
