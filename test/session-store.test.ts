/**
 * The acceptor's per-session queue of server messages that arrive while no stream is open: it
 * is bounded by count and by bytes, keeps the newest, and pays the producer's credit at once
 * (holding credit for a queued message would stall the upstream for no reason).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionStore } from '../src/acceptor/sessions.js';
import { InflightCounter } from '../src/auth/inflight.js';
import { createLogger } from '../src/observability/log.js';
import { SessionTable } from '../src/threads/session-table.js';

const OWNER = () => ({ client: 'c', inflight: new InflightCounter(8), stdio: false });

function store(maxMessages: number, maxBytes: number) {
  const credits: Array<[number, number]> = [];
  const ended: string[] = [];
  const s = new SessionStore(SessionTable.create(16, 2), () => ({ maxPendingPushes: maxMessages, maxBufferedBytes: maxBytes, replayBufferBytes: 0 }), createLogger('silent'), {
    credit: (_s, rid, bytes) => credits.push([rid, bytes]),
    opened: () => {},
    ended: (_s, reason) => ended.push(reason),
  });
  return { s, credits, ended };
}

test('the queue keeps at most maxPendingPushes messages, newest last', () => {
  const { s, credits } = store(5, 1 << 20);
  const sess = s.create('d', 0, false, OWNER())!;
  for (let i = 0; i < 20; i++) s.push(sess.sid, `{"n":${i}}`, -1);
  assert.deepEqual(sess.queue, [15, 16, 17, 18, 19].map((i) => `{"n":${i}}`));
  assert.equal(sess.dropped, 15);
  assert.equal(credits.length, 20, 'every queued message is credited back at once');
  assert.ok(credits.every(([rid]) => rid === -1));
});

test('the queue keeps at most maxBufferedBytes of data', () => {
  const { s } = store(1000, 10_000);
  const sess = s.create('d', 1, false, OWNER())!;
  const msg = 'x'.repeat(3000);
  for (let i = 0; i < 10; i++) s.push(sess.sid, msg, null);
  assert.equal(sess.queue.length, 3);
  assert.equal(sess.queueBytes, 9000);
  assert.ok(sess.queueBytes <= 10_000);
});

test('a single message larger than the byte bound is still delivered (alone)', () => {
  const { s } = store(10, 100);
  const sess = s.create('d', 0, false, OWNER())!;
  s.push(sess.sid, 'y'.repeat(500), null);
  assert.equal(sess.queue.length, 1);
  s.push(sess.sid, 'z'.repeat(500), null);
  assert.deepEqual(sess.queue, ['z'.repeat(500)]);
});

test('removing a session clears its queue and its table entry', () => {
  const { s, ended } = store(10, 1000);
  const sess = s.create('d', 0, false, OWNER())!;
  s.push(sess.sid, '{}', null);
  assert.ok(s.get(sess.sid, 'd'));
  s.remove(sess.sid, 'delete');
  s.remove(sess.sid, 'delete');
  assert.deepEqual(ended, ['delete'], 'an end is reported once, whatever removes it');
  assert.equal(sess.queue.length, 0);
  assert.equal(sess.queueBytes, 0);
  assert.equal(s.get(sess.sid, 'd'), undefined);
});
