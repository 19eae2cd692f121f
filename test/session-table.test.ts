import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { mintSessionId, isWellFormedSessionId, sessionIdWords } from '../src/threads/session-id.js';
import {
  SessionTable, sessionTableLayout, probeStart, Counter, SlotField, SlotState,
} from '../src/threads/session-table.js';
import { ProxyError } from '../src/errors.js';
import { mulberry32 } from './helpers/prng.js';


/** Ids whose probes all start at the same slot, to build collision chains on purpose. */
function collidingIds(count: number, capacity: number): string[] {
  const byHome = new Map<number, string[]>();
  for (;;) {
    const id = mintSessionId();
    const home = probeStart(id, capacity);
    const list = byHome.get(home) ?? [];
    list.push(id);
    byHome.set(home, list);
    if (list.length === count) return list;
  }
}

/** The state of the slot holding `id` in the active region, read straight from the buffer. */
function slotStateOf(table: SessionTable, id: string): SlotState | undefined {
  const a = new Int32Array(table.buffer);
  const k = new Uint32Array(4);
  assert.ok(sessionIdWords(id, k));
  const seq = a[8] as number; // header word 8 is tableSeq (see H.TableSeq)
  const base = (table.layout.regionOffsets[seq & 1] as number) >> 2;
  for (let i = 0; i < table.capacity; i++) {
    const s = base + i * 8;
    if (a[s + SlotField.Id0] === ((k[0] as number) | 0) && a[s + SlotField.Id1] === ((k[1] as number) | 0)
      && a[s + SlotField.Id2] === ((k[2] as number) | 0) && a[s + SlotField.Id3] === ((k[3] as number) | 0)) return a[s + SlotField.State];
  }
  return undefined;
}

describe('session ids', () => {
  test('minted ids are 32 lowercase hex chars and distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = mintSessionId();
      assert.match(id, /^[0-9a-f]{32}$/);
      assert.ok(isWellFormedSessionId(id));
      seen.add(id);
    }
    assert.equal(seen.size, 10_000);
  });

  test('sessionIdWords parses big-endian words; malformed ids are refused', () => {
    const out = new Uint32Array(4);
    assert.ok(sessionIdWords('0123456789abcdef00000000ffffffff', out));
    assert.deepStrictEqual([...out], [0x01234567, 0x89abcdef, 0, 0xffffffff]);
    for (const bad of ['', '0123456789abcdef00000000fffffff', '0123456789abcdef00000000ffffffff0', '0123456789ABCDEF00000000ffffffff',
      '0123456789abcdef00000000fffffffg', '0123456789abcdef00000000ffffff\u00e9f', ' 123456789abcdef00000000ffffffff']) {
      assert.equal(sessionIdWords(bad, out), false, bad);
      assert.equal(isWellFormedSessionId(bad), false, bad);
    }
  });
});

describe('SessionTable', () => {
  test('layout: capacity is a power of two at load factor <= 0.5, offsets are 64-byte aligned', () => {
    for (const [max, cap] of [[1, 16], [8, 16], [9, 32], [10_000, 32_768], [16_384, 32_768]] as const) {
      const l = sessionTableLayout(max, 4);
      assert.equal(l.capacity, cap);
      for (const off of [l.countersOffset, l.generationsOffset, l.liveCountsOffset, ...l.regionOffsets]) assert.equal(off % 64, 0);
      assert.equal(l.totalBytes, l.regionOffsets[1] + l.capacity * l.slotBytes);
    }
    assert.throws(() => sessionTableLayout(0, 1), ProxyError);
    assert.throws(() => sessionTableLayout(10, 257), ProxyError);
  });

  test('insert / lookup / delete round trip, also through an attached view', () => {
    const t = SessionTable.create(100, 4);
    const reader = SessionTable.attach(t.buffer);
    const ids = Array.from({ length: 50 }, () => mintSessionId());
    ids.forEach((id, i) => assert.ok(t.insert(id, i % 4)));
    assert.equal(t.size, 50);
    ids.forEach((id, i) => {
      assert.equal(t.lookup(id), i % 4);
      assert.equal(reader.lookup(id), i % 4);
    });
    assert.equal(reader.lookup(mintSessionId()), -1);
    assert.equal(t.delete(ids[0] as string), true);
    assert.equal(t.delete(ids[0] as string), false);
    assert.equal(reader.lookup(ids[0] as string), -1);
    assert.equal(t.size, 49);
    assert.equal(reader.size, 49);
    assert.deepStrictEqual([0, 1, 2, 3].map((w) => reader.liveCount(w)), [12, 13, 12, 12]);
    // Re-mapping an existing id moves it between workers without growing the table.
    assert.ok(t.insert(ids[1] as string, 3));
    assert.equal(reader.lookup(ids[1] as string), 3);
    assert.equal(t.size, 49);
    assert.deepStrictEqual([0, 1, 2, 3].map((w) => t.liveCount(w)), [12, 12, 12, 13]);
  });

  test('a full table refuses, and accepts again after a delete', () => {
    const t = SessionTable.create(8, 2);
    const ids = Array.from({ length: 9 }, () => mintSessionId());
    for (let i = 0; i < 8; i++) assert.ok(t.insert(ids[i] as string, 0));
    assert.equal(t.insert(ids[8] as string, 1), false);
    assert.equal(t.counter(Counter.RejectedFullTotal), 1);
    assert.equal(t.lookup(ids[8] as string), -1);
    assert.ok(t.insert(ids[3] as string, 1), 're-mapping a present id is allowed when full');
    assert.ok(t.delete(ids[0] as string));
    assert.ok(t.insert(ids[8] as string, 1));
    assert.equal(t.lookup(ids[8] as string), 1);
    assert.equal(t.size, 8);
  });

  test('entries placed past a deleted slot are still found (tombstones)', () => {
    const t = SessionTable.create(8, 2); // capacity 16
    const [a, b, c] = collidingIds(3, t.capacity) as [string, string, string];
    assert.ok(t.insert(a, 0) && t.insert(b, 1) && t.insert(c, 0));
    assert.ok(t.delete(a));
    assert.equal(slotStateOf(t, a), SlotState.Tombstone);
    assert.equal(t.lookup(b), 1);
    assert.equal(t.lookup(c), 0);
    assert.ok(t.delete(b));
    assert.equal(t.lookup(c), 0);
    // Deleting the chain's last entry frees the whole run of tombstones behind it.
    assert.ok(t.delete(c));
    assert.equal(slotStateOf(t, a), SlotState.Empty);
    assert.equal(slotStateOf(t, c), SlotState.Empty);
    assert.equal(t.counter(Counter.Dead), 0);
    // A reused tombstone keeps later chain members reachable.
    assert.ok(t.insert(a, 0) && t.insert(b, 1) && t.insert(c, 1));
    assert.ok(t.delete(b));
    assert.ok(t.insert(b, 0));
    assert.deepStrictEqual([t.lookup(a), t.lookup(b), t.lookup(c)], [0, 0, 1]);
  });

  test('a generation bump hides exactly that worker\'s entries', () => {
    const t = SessionTable.create(64, 3);
    const reader = SessionTable.attach(t.buffer);
    const ids = Array.from({ length: 30 }, () => mintSessionId());
    ids.forEach((id, i) => assert.ok(t.insert(id, i % 3)));
    assert.equal(t.bumpWorkerGeneration(1), 10);
    ids.forEach((id, i) => assert.equal(reader.lookup(id), i % 3 === 1 ? -1 : i % 3));
    assert.equal(t.size, 20);
    assert.equal(t.liveCount(1), 0);
    assert.equal(t.leastLoadedWorker(3), 1);
    assert.equal(t.delete(ids[1] as string), false, 'a stale entry is not live');
    assert.equal(t.bumpWorkerGeneration(1), 0);
    // The dead worker's slot is reused: old ids come back only when inserted again.
    assert.ok(t.insert(ids[1] as string, 1));
    assert.equal(reader.lookup(ids[1] as string), 1);
    assert.equal(reader.lookup(ids[4] as string), -1);
    assert.equal(t.size, 21);
    assert.ok(t.counter(Counter.StaleReclaimedTotal) >= 1);
  });

  test('malformed ids, bad workers, and writes through an attached view', () => {
    const t = SessionTable.create(16, 2);
    for (const bad of ['', 'abc', 'G'.repeat(32), 'A'.repeat(32)]) {
      assert.equal(t.insert(bad, 0), false);
      assert.equal(t.lookup(bad), -1);
      assert.equal(t.delete(bad), false);
    }
    assert.throws(() => t.insert(mintSessionId(), 2), ProxyError);
    assert.throws(() => t.insert(mintSessionId(), -1), ProxyError);
    const reader = SessionTable.attach(t.buffer);
    assert.throws(() => reader.insert(mintSessionId(), 0), ProxyError);
    assert.throws(() => reader.bumpWorkerGeneration(0), ProxyError);
    assert.throws(() => SessionTable.attach(new SharedArrayBuffer(1024)), ProxyError);
  });

  test('leastLoadedWorker picks the smallest live count', () => {
    const t = SessionTable.create(64, 4);
    assert.equal(t.leastLoadedWorker(4), 0);
    for (let i = 0; i < 12; i++) t.insert(mintSessionId(), t.leastLoadedWorker(3));
    assert.deepStrictEqual([0, 1, 2, 3].map((w) => t.liveCount(w)), [4, 4, 4, 0]);
    assert.equal(t.leastLoadedWorker(4), 3);
    assert.throws(() => t.leastLoadedWorker(0), ProxyError);
  });

  test('randomized model test against a Map (with rebuilds and full-table refusals)', () => {
    const rnd = mulberry32(0xc0ffee);
    const maxSessions = 48;
    const workers = 4;
    const t = SessionTable.create(maxSessions, workers);
    const reader = SessionTable.attach(t.buffer);
    const model = new Map<string, number>();
    const pool = Array.from({ length: 200 }, () => mintSessionId());
    let refusals = 0;
    for (let n = 0; n < 60_000; n++) {
      const id = pool[Math.floor(rnd() * pool.length)] as string;
      const op = rnd();
      if (op < 0.45) {
        const w = Math.floor(rnd() * workers);
        const ok = t.insert(id, w);
        const expected = model.has(id) || model.size < maxSessions;
        assert.equal(ok, expected, `insert #${n}`);
        if (ok) model.set(id, w);
        else refusals++;
      } else if (op < 0.85) {
        assert.equal(t.delete(id), model.delete(id), `delete #${n}`);
      } else if (op < 0.86) {
        const w = Math.floor(rnd() * workers);
        let dropped = 0;
        for (const [k, v] of model) if (v === w) { model.delete(k); dropped++; }
        assert.equal(t.bumpWorkerGeneration(w), dropped, `bump #${n}`);
      } else {
        assert.equal(reader.lookup(id), model.get(id) ?? -1, `lookup #${n}`);
      }
      if (n % 997 === 0) {
        for (const p of pool) assert.equal(reader.lookup(p), model.get(p) ?? -1);
        assert.equal(reader.size, model.size);
        for (let w = 0; w < workers; w++) assert.equal(reader.liveCount(w), [...model.values()].filter((v) => v === w).length);
      }
      assert.ok(t.counter(Counter.Dead) <= t.capacity / 4);
    }
    assert.ok(refusals > 0, 'the run must hit the full table');
    assert.ok(t.counter(Counter.RebuildsTotal) > 0, 'the run must rebuild');
  });

  test('a reader thread never sees a torn entry while the main thread writes', async () => {
    const t = SessionTable.create(256, 8); // small on purpose: slots are reused by different ids constantly
    const control = new Int32Array(new SharedArrayBuffer(8)); // [0] stop flag, [1] reader rounds
    const permanent = Array.from({ length: 48 }, () => mintSessionId());
    for (const id of permanent) assert.ok(t.insert(id, 0));
    const churn = Array.from({ length: 1500 }, () => mintSessionId());
    // Each churn id only ever maps to its own worker (1..7): a torn read would show another.
    const assigned = churn.map((_, i) => 1 + (i % 7));
    const moduleUrl = new URL('../src/threads/session-table.js', import.meta.url).href;
    const reader = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.moduleUrl).then(({ SessionTable }) => {
        const t = SessionTable.attach(workerData.sab);
        const control = new Int32Array(workerData.control);
        const { permanent, churn, assigned } = workerData;
        const violations = [];
        let lookups = 0, hits = 0, misses = 0;
        parentPort.postMessage({ ready: true });
        while (Atomics.load(control, 0) === 0) {
          for (const id of permanent) {
            const w = t.lookup(id); lookups++;
            if (w !== 0 && violations.length < 10) violations.push({ id, w, expected: 0 });
          }
          for (let i = 0; i < churn.length; i++) {
            const w = t.lookup(churn[i]); lookups++;
            if (w === -1) misses++; else if (w === assigned[i]) hits++;
            else if (violations.length < 10) violations.push({ id: churn[i], w, expected: assigned[i] });
          }
          Atomics.add(control, 1, 1);
        }
        parentPort.postMessage({ lookups, hits, misses, violations });
      });
    `, { eval: true, workerData: { moduleUrl, sab: t.buffer, control: control.buffer, permanent, churn, assigned } });
    try {
      const messages: Array<Record<string, unknown>> = [];
      let notify: () => void = () => {};
      reader.on('message', (m: Record<string, unknown>) => { messages.push(m); notify(); });
      const next = async (): Promise<Record<string, unknown>> => {
        while (messages.length === 0) await new Promise<void>((resolve, reject) => { notify = resolve; reader.once('error', reject); });
        return messages.shift() as Record<string, unknown>;
      };
      assert.deepStrictEqual(await next(), { ready: true });

      const rnd = mulberry32(42);
      const present = new Set<number>();
      let ops = 0;
      // Write until the reader has done enough full rounds (it overlapped the writes), bounded.
      while (ops < 8_000_000 && (ops < 2_000_000 || Atomics.load(control, 1) < 20)) {
        const i = Math.floor(rnd() * churn.length);
        const id = churn[i] as string;
        if (present.has(i)) {
          assert.ok(t.delete(id));
          present.delete(i);
        } else if (t.insert(id, assigned[i] as number)) {
          present.add(i);
        }
        if (++ops % 20_000 === 0) {
          // Worker 7 "dies": its entries go stale together; the model forgets them.
          t.bumpWorkerGeneration(7);
          for (const p of [...present]) if (assigned[p] === 7) present.delete(p);
        }
      }
      Atomics.store(control, 0, 1);
      const result = await next();
      assert.deepStrictEqual(result.violations, []);
      assert.ok((result.lookups as number) > 0);
      assert.ok((result.hits as number) > 0 && (result.misses as number) > 0, 'the reader saw entries come and go');
      assert.ok(Atomics.load(control, 1) >= 1);
      assert.ok(t.counter(Counter.RebuildsTotal) > 0, 'rebuilds happened under the reader');
      for (const id of permanent) assert.equal(t.lookup(id), 0);
    } finally {
      Atomics.store(control, 0, 1);
      await reader.terminate();
    }
  });
});
