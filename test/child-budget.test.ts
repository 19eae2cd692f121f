/**
 * roomForChild: which idle stdio sessions end so one more child fits, least recently used first;
 * per-destination cap before the total; busy sessions (in flight, open stream, still starting)
 * are never chosen; a budget lowered by a reload may take more than one victim.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roomForChild } from '../src/acceptor/child-budget.js';
import { DownSession } from '../src/acceptor/sessions.js';
import { InflightCounter } from '../src/auth/inflight.js';

let n = 0;
function session(dest: string, lastSeen: number, opts: { stdio?: boolean; busy?: boolean; established?: boolean } = {}): DownSession {
  const sid = `sid-${n++}`;
  const s = new DownSession(sid, sid, dest, 0, false, { client: 'c', inflight: new InflightCounter(4), stdio: opts.stdio ?? true }, () => 0);
  s.lastSeen = lastSeen;
  s.established = opts.established ?? true;
  if (opts.busy === true) s.inflight.tryAcquire();
  return s;
}

test('under both caps nothing ends', () => {
  const all = [session('a', 1), session('b', 2)];
  assert.deepEqual(roomForChild(all, 'a', 2, 3), { ok: true, victims: [] });
});

test('the destination cap takes the least recently used idle session of that destination', () => {
  const a1 = session('a', 30);
  const a2 = session('a', 10);
  const b1 = session('b', 1); // older, but another destination
  const r = roomForChild([a1, a2, b1], 'a', 2, 10);
  assert.deepEqual(r, { ok: true, victims: [a2] });
});

test('the total cap takes the least recently used idle session of any stdio destination; HTTP sessions do not count', () => {
  const a1 = session('a', 30);
  const b1 = session('b', 5);
  const web = session('web', 1, { stdio: false });
  assert.deepEqual(roomForChild([a1, b1, web], 'a', null, 2), { ok: true, victims: [b1] });
});

test('busy and still-starting sessions are never ended; nothing idle means no room', () => {
  const busy = session('a', 1, { busy: true });
  const starting = session('a', 2, { established: false });
  assert.deepEqual(roomForChild([busy, starting], 'a', null, 2), { ok: false });
  assert.deepEqual(roomForChild([busy, starting], 'a', 2, 10), { ok: false });
});

test('a budget lowered below the live count takes as many idle sessions as it needs', () => {
  const s = [session('a', 4), session('a', 1), session('b', 3), session('b', 2)];
  const r = roomForChild(s, 'a', null, 2);
  assert.ok(r.ok);
  assert.deepEqual(r.victims.map((v) => v.lastSeen), [1, 2, 3]);
});
