/**
 * The child budget: every stdio session holds one child process (~60 MB for a Node server), and
 * clients rarely DELETE, so abandoned sessions would keep children until they idle out. Before a
 * new stdio session starts, the acceptor makes room under `limits.max_children` (all destinations)
 * and `destinations.NAME.stdio.max_children` by ending the least recently used idle sessions
 * (nothing in flight, no open stream: no client is cut off mid-exchange). When nothing is idle the
 * new session is refused (503 + Retry-After) instead.
 *
 * The acceptor's session store is the count: one stdio session = one child from initialize until
 * its end, which the caller awaits (the child has exited) before the new child is spawned. So the
 * budget needs no thread messages and no mirrored counters.
 */
import type { DownSession } from './sessions.js';

export type Room = { ok: true; victims: DownSession[] } | { ok: false };

/**
 * What must end for one more child of `dest`: `destCap` null = no per-destination cap. A budget
 * lowered by a reload may need more than one victim; sessions already over it are not touched
 * otherwise.
 */
export function roomForChild(sessions: Iterable<DownSession>, dest: string, destCap: number | null, totalCap: number): Room {
  let total = 0;
  let ofDest = 0;
  const idle: DownSession[] = [];
  for (const s of sessions) {
    if (!s.stdio) continue;
    total++;
    if (s.dest === dest) ofDest++;
    if (s.idle) idle.push(s);
  }
  const needDest = destCap === null ? 0 : Math.max(0, ofDest - destCap + 1);
  const needTotal = Math.max(0, total - totalCap + 1);
  if (needDest === 0 && needTotal === 0) return { ok: true, victims: [] };
  idle.sort((a, b) => a.lastSeen - b.lastSeen);
  const victims: DownSession[] = [];
  for (const s of idle) {
    if (victims.length >= needDest) break;
    if (s.dest === dest) victims.push(s);
  }
  if (victims.length < needDest) return { ok: false };
  for (const s of idle) {
    if (victims.length >= needTotal) break;
    if (!victims.includes(s)) victims.push(s);
  }
  if (victims.length < needTotal) return { ok: false };
  return { ok: true, victims };
}
