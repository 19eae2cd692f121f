/**
 * The B1 MRTR park table (src/upstream/bridge-park.ts): bounded in count, single use, and every
 * entry expires with its token (its owner is told once, by timer or when taken too late).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_PARKED, MAX_PARKED_PER_SESSION, type Parked, ParkTable } from '../src/upstream/bridge-park.js';

const req = (id: number) => [{ id, method: 'elicitation/create', params: { message: `m${id}` } }];

test('park is refused beyond the cap and allowed again once an entry is taken', () => {
  const expired: string[] = [];
  const t = new ParkTable<string>((p) => expired.push(p.call), 3);
  const keys = [1, 2, 3].map((i) => t.park('s', 'alice', `c${i}`, req(i), 60_000)?.key);
  assert.ok(keys.every((k) => typeof k === 'string'));
  assert.equal(new Set(keys).size, 3, 'keys are unique');
  assert.equal(t.park('s', 'alice', 'c4', req(4), 60_000), undefined, 'over the cap');
  assert.equal(t.size, 3);
  const got = t.take(keys[0]!);
  assert.equal(got?.call, 'c1');
  assert.deepEqual(got?.requests, req(1));
  assert.ok(t.park('s', 'alice', 'c5', req(5), 60_000), 'room again');
  t.clear();
  assert.equal(t.size, 0);
  assert.deepEqual(expired.sort(), ['c2', 'c3', 'c5'], 'clear expires what was left, once each');
});

test('the default caps: MAX_PARKED per worker, MAX_PARKED_PER_SESSION per bridged session', () => {
  const t = new ParkTable<number>(() => {});
  for (let i = 0; i < MAX_PARKED_PER_SESSION; i++) assert.ok(t.park('one', 'p', i, req(i), 60_000));
  assert.equal(t.park('one', 'p', -1, req(0), 60_000), undefined, 'one session cannot take more');
  for (let i = MAX_PARKED_PER_SESSION; i < MAX_PARKED; i++) assert.ok(t.park(`s${i % 7}`, 'p', i, req(i), 60_000));
  assert.equal(t.size, MAX_PARKED);
  assert.equal(t.park('fresh', 'p', -1, req(0), 60_000), undefined, 'the worker is full');
  t.clear();
  assert.ok(t.park('one', 'p', 0, req(0), 60_000), 'counts are released with their entries');
  t.clear();
});

test('the per-session count is released by take and by expiry', async () => {
  const t = new ParkTable<number>(() => {}, 8, Date.now, 2);
  const a = t.park('s', 'p', 1, req(1), 60_000)!;
  t.park('s', 'p', 2, req(2), 20);
  assert.equal(t.park('s', 'p', 3, req(3), 60_000), undefined);
  assert.ok(t.park('other', 'p', 4, req(4), 60_000), 'other sessions are not affected');
  t.take(a.key);
  assert.ok(t.park('s', 'p', 5, req(5), 60_000), 'take released one');
  assert.equal(t.park('s', 'p', 6, req(6), 60_000), undefined);
  await sleep(50);
  assert.ok(t.park('s', 'p', 7, req(7), 60_000), 'expiry released one');
  t.clear();
});

test('take is single use', () => {
  const t = new ParkTable<string>(() => {});
  const p = t.park('s', 'alice', 'c', req(1), 60_000)!;
  assert.equal(t.take(p.key)?.call, 'c');
  assert.equal(t.take(p.key), undefined, 'a replay finds nothing');
  assert.equal(t.take('p-unknown'), undefined);
});

test('an entry expires by its timer, and its owner is told once', async () => {
  const expired: Parked<string>[] = [];
  const t = new ParkTable<string>((p) => expired.push(p), 8);
  const p = t.park('s', 'alice', 'c', req(7), 30)!;
  const keep = t.park('s', 'alice', 'k', req(8), 60_000)!;
  await sleep(80);
  assert.equal(expired.length, 1);
  assert.equal(expired[0]?.call, 'c');
  assert.deepEqual(expired[0]?.requests, req(7), 'the owner gets the parked requests to refuse upstream');
  assert.equal(t.take(p.key), undefined);
  assert.equal(t.size, 1);
  assert.equal(t.take(keep.key)?.call, 'k');
  assert.equal(expired.length, 1, 'taking an expired key does not tell the owner again');
});

test('an entry taken after its expiry (timer not yet run) is expired, not returned', () => {
  let now = 1000;
  const expired: string[] = [];
  const t = new ParkTable<string>((p) => expired.push(p.call), 8, () => now);
  const p = t.park('s', 'alice', 'c', req(1), 60_000)!;
  now += 60_000;
  assert.equal(t.take(p.key), undefined);
  assert.deepEqual(expired, ['c']);
});

test('dropWhere expires the entries of one session only', () => {
  const expired: string[] = [];
  const t = new ParkTable<{ s: string }>((p) => expired.push(p.call.s), 8);
  t.park('a', 'p', { s: 'a' }, req(1), 60_000);
  t.park('b', 'p', { s: 'b' }, req(2), 60_000);
  t.park('a', 'p', { s: 'a' }, req(3), 60_000);
  t.dropWhere((c) => c.s === 'a');
  assert.deepEqual(expired, ['a', 'a']);
  assert.equal(t.size, 1);
  t.clear();
});
