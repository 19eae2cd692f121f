/**
 * The session table: downstream session id (128 bits) -> { worker, generation }, in one
 * SharedArrayBuffer. This module is the only place that knows the buffer's layout.
 *
 * Concurrency model
 * - One writer: the thread that called `create` (the acceptor). Every other thread `attach`es and
 *   only reads. Writer methods on an attached table throw.
 * - Each slot has a seqlock: the writer makes `seq` odd, stores the fields, makes it even again;
 *   a reader reads seq, the fields, seq again, and retries if seq was odd or changed. All shared
 *   reads and writes go through Atomics (SeqCst), so the JS memory model orders them.
 * - Linear probing over a power-of-two capacity >= 2 * maxSessions. Deletes leave tombstones; a
 *   tombstone right before an empty slot (and the run of tombstones behind it) becomes empty again.
 * - A worker's entries die together: `bumpWorkerGeneration` advances that worker's generation and
 *   every entry stamped with an older one is stale (a lookup misses it; the writer reuses its slot).
 * - Dead slots (tombstones + stale entries) are bounded by capacity / 4: past that, the writer
 *   rebuilds the live entries into the second slot region and flips `tableSeq`. Readers check
 *   `tableSeq` before and after a lookup, so a rebuild never shows them a half-built region. With
 *   live <= capacity / 2 and dead <= capacity / 4 an empty slot always ends every probe.
 */
import { ErrorCode, ProxyError } from '../errors.js';
import { sessionIdWords } from './session-id.js';

/** Byte offsets and sizes of everything in the buffer (all multiples of 64: no shared cache lines). */
export interface SessionTableLayout {
  readonly capacity: number;
  readonly maxSessions: number;
  readonly maxWorkers: number;
  /** Magic, version, sizes and tableSeq (the rebuild counter; its parity picks the slot region). */
  readonly headerOffset: number;
  /** Int32 counters (see `Counter`), written by the writer, read by anyone (metrics). */
  readonly countersOffset: number;
  /** Int32 per worker: current generation. */
  readonly generationsOffset: number;
  /** Int32 per worker: live sessions. */
  readonly liveCountsOffset: number;
  /** Two slot regions of `capacity` slots each; one active, one the target of the next rebuild. */
  readonly regionOffsets: readonly [number, number];
  readonly slotBytes: number;
  readonly totalBytes: number;
}

/** Int32 words of one slot. */
export const enum SlotField { Seq = 0, Id0 = 1, Id1 = 2, Id2 = 3, Id3 = 4, State = 5, Worker = 6, Generation = 7 }
export const enum SlotState { Empty = 0, Live = 1, Tombstone = 2 }
/** Shared counters, read with `SessionTable.counter` (as uint32: totals wrap at 2^32). */
export const enum Counter {
  Size = 0, Dead = 1, InsertsTotal = 2, DeletesTotal = 3, RejectedFullTotal = 4, StaleReclaimedTotal = 5,
  RebuildsTotal = 6, StaleTotal = 7,
}

const MAGIC = 0x4d535442; // "MSTB"
const VERSION = 1;
const enum H { Magic = 0, Version = 1, Capacity = 2, MaxSessions = 3, MaxWorkers = 4, TableSeq = 8 }
const SLOT_WORDS = 8;
const HEADER_BYTES = 64;
const COUNTER_BYTES = 64;
const MAX_WORKERS = 256;
/** 2^22 sessions -> 2^23 slots -> 2 x 256 MiB regions; more than any Pi-class host should hold. */
const MAX_SESSIONS = 1 << 22;
const MIN_CAPACITY = 16;
const RETRY = -2;

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

export function sessionTableLayout(maxSessions: number, maxWorkers: number): SessionTableLayout {
  if (!Number.isInteger(maxSessions) || maxSessions < 1 || maxSessions > MAX_SESSIONS) {
    throw new ProxyError(ErrorCode.Internal, `session table: maxSessions must be an integer in 1..${MAX_SESSIONS}`, { maxSessions });
  }
  if (!Number.isInteger(maxWorkers) || maxWorkers < 1 || maxWorkers > MAX_WORKERS) {
    throw new ProxyError(ErrorCode.Internal, `session table: maxWorkers must be an integer in 1..${MAX_WORKERS}`, { maxWorkers });
  }
  let capacity = MIN_CAPACITY;
  while (capacity < 2 * maxSessions) capacity *= 2;
  const countersOffset = HEADER_BYTES;
  const generationsOffset = countersOffset + COUNTER_BYTES;
  const liveCountsOffset = generationsOffset + align64(4 * maxWorkers);
  const region0 = liveCountsOffset + align64(4 * maxWorkers);
  const regionBytes = capacity * SLOT_WORDS * 4;
  return {
    capacity, maxSessions, maxWorkers,
    headerOffset: 0, countersOffset, generationsOffset, liveCountsOffset,
    regionOffsets: [region0, region0 + regionBytes],
    slotBytes: SLOT_WORDS * 4,
    totalBytes: region0 + 2 * regionBytes,
  };
}

function homeSlot(k0: number, k1: number, k2: number, k3: number, mask: number): number {
  // Minted ids are uniform already; the mix keeps structured ids (tests, tools) from clustering.
  const h = Math.imul(k0 ^ Math.imul(k1, 0x85ebca6b) ^ Math.imul(k2, 0xc2b2ae35) ^ Math.imul(k3, 0x27d4eb2f), 0x9e3779b1);
  return (h ^ (h >>> 15)) & mask;
}

/** The slot a probe for `id` starts at in a table of `capacity` slots (-1 if malformed); for tests. */
export function probeStart(id: string, capacity: number): number {
  const k = new Uint32Array(4);
  if (!sessionIdWords(id, k)) return -1;
  return homeSlot((k[0] as number) | 0, (k[1] as number) | 0, (k[2] as number) | 0, (k[3] as number) | 0, capacity - 1);
}

export class SessionTable {
  readonly buffer: SharedArrayBuffer;
  readonly layout: SessionTableLayout;
  private readonly a: Int32Array;
  private readonly writer: boolean;
  private readonly mask: number;
  private readonly cnt: number;
  private readonly gens: number;
  private readonly live: number;
  private readonly regions: readonly [number, number];
  private readonly maxWorkers: number;
  /** Scratch for the parsed id, so lookups allocate nothing. */
  private readonly key = new Uint32Array(4);

  private constructor(buffer: SharedArrayBuffer, layout: SessionTableLayout, writer: boolean) {
    this.buffer = buffer;
    this.layout = layout;
    this.a = new Int32Array(buffer);
    this.writer = writer;
    this.mask = layout.capacity - 1;
    this.cnt = layout.countersOffset >> 2;
    this.gens = layout.generationsOffset >> 2;
    this.live = layout.liveCountsOffset >> 2;
    this.regions = [layout.regionOffsets[0] >> 2, layout.regionOffsets[1] >> 2];
    this.maxWorkers = layout.maxWorkers;
  }

  static create(maxSessions: number, maxWorkers: number): SessionTable {
    const layout = sessionTableLayout(maxSessions, maxWorkers);
    const buffer = new SharedArrayBuffer(layout.totalBytes);
    const a = new Int32Array(buffer);
    a[H.Capacity] = layout.capacity;
    a[H.MaxSessions] = maxSessions;
    a[H.MaxWorkers] = maxWorkers;
    a[H.Version] = VERSION;
    Atomics.store(a, H.Magic, MAGIC);
    return new SessionTable(buffer, layout, true);
  }

  /** A read-only view for another thread. */
  static attach(sab: SharedArrayBuffer): SessionTable {
    const a = new Int32Array(sab);
    if (a.length < HEADER_BYTES / 4 || Atomics.load(a, H.Magic) !== MAGIC || a[H.Version] !== VERSION) {
      throw new ProxyError(ErrorCode.Internal, 'session table: buffer is not a session table of this version');
    }
    const layout = sessionTableLayout(a[H.MaxSessions] as number, a[H.MaxWorkers] as number);
    if (layout.capacity !== a[H.Capacity] || layout.totalBytes !== sab.byteLength) {
      throw new ProxyError(ErrorCode.Internal, 'session table: buffer size does not match its header');
    }
    return new SessionTable(sab, layout, false);
  }

  get capacity(): number { return this.layout.capacity; }
  get size(): number { return Atomics.load(this.a, this.cnt + Counter.Size); }

  /** A shared counter, as uint32. */
  counter(c: Counter): number { return Atomics.load(this.a, this.cnt + c) >>> 0; }

  generation(worker: number): number { return Atomics.load(this.a, this.gens + worker); }

  /** Live sessions of `worker`, or of the whole table. */
  liveCount(worker?: number): number {
    if (worker === undefined) return this.size;
    if (!(worker >= 0 && worker < this.maxWorkers)) return 0;
    return Atomics.load(this.a, this.live + worker);
  }

  /** The worker (of 0..workerCount-1) with the fewest live sessions; ties go to the lowest index. */
  leastLoadedWorker(workerCount: number): number {
    const n = Math.min(workerCount, this.maxWorkers);
    if (!(n >= 1)) throw new ProxyError(ErrorCode.Internal, 'session table: workerCount must be >= 1', { workerCount });
    let best = 0;
    let bestCount = Atomics.load(this.a, this.live);
    for (let w = 1; w < n; w++) {
      const c = Atomics.load(this.a, this.live + w);
      if (c < bestCount) { best = w; bestCount = c; }
    }
    return best;
  }

  // ---- read side (any thread) ----

  /** Worker index for `id`, or -1 if missing, stale or malformed. Lock-free, allocates nothing. */
  lookup(id: string): number {
    const k = this.key;
    if (!sessionIdWords(id, k)) return -1;
    const k0 = (k[0] as number) | 0, k1 = (k[1] as number) | 0, k2 = (k[2] as number) | 0, k3 = (k[3] as number) | 0;
    const home = homeSlot(k0, k1, k2, k3, this.mask);
    const a = this.a;
    for (;;) {
      const ts = Atomics.load(a, H.TableSeq);
      const r = this.probe(this.regions[ts & 1] as number, home, k0, k1, k2, k3);
      if (r !== RETRY && Atomics.load(a, H.TableSeq) === ts) return r;
    }
  }

  private probe(base: number, home: number, k0: number, k1: number, k2: number, k3: number): number {
    const a = this.a;
    const mask = this.mask;
    let idx = home;
    for (let n = 0; n <= mask; n++) {
      const s = base + idx * SLOT_WORDS;
      const seq = Atomics.load(a, s);
      if (seq & 1) return RETRY; // the writer is mid-update; it finishes within nanoseconds
      const state = Atomics.load(a, s + SlotField.State);
      if (state === SlotState.Empty) return -1;
      if (state === SlotState.Live && Atomics.load(a, s + SlotField.Id0) === k0 && Atomics.load(a, s + SlotField.Id1) === k1
        && Atomics.load(a, s + SlotField.Id2) === k2 && Atomics.load(a, s + SlotField.Id3) === k3) {
        const worker = Atomics.load(a, s + SlotField.Worker);
        const gen = Atomics.load(a, s + SlotField.Generation);
        if (Atomics.load(a, s) !== seq) return RETRY;
        // The range check matters only for a region being rebuilt under us (caught by tableSeq).
        if (!(worker >= 0 && worker < this.maxWorkers)) return RETRY;
        return Atomics.load(a, this.gens + worker) === gen ? worker : -1;
      }
      // A tombstone, stale entry or other id: the chain goes on. A torn read here can only hide an
      // entry that is being inserted or deleted right now, which either answer is right for.
      idx = (idx + 1) & mask;
    }
    return -1;
  }

  // ---- write side (the creating thread only) ----

  /** Map `id` to `worker` (re-mapping an existing id). False if the table is full or id malformed. */
  insert(id: string, worker: number): boolean {
    this.assertWriter();
    if (!(Number.isInteger(worker) && worker >= 0 && worker < this.maxWorkers)) {
      throw new ProxyError(ErrorCode.Internal, 'session table: worker index out of range', { worker });
    }
    const k = this.key;
    if (!sessionIdWords(id, k)) return false;
    const k0 = (k[0] as number) | 0, k1 = (k[1] as number) | 0, k2 = (k[2] as number) | 0, k3 = (k[3] as number) | 0;
    const a = this.a;
    const base = this.activeBase();
    let idx = homeSlot(k0, k1, k2, k3, this.mask);
    let free = -1;
    for (;;) {
      const s = base + idx * SLOT_WORDS;
      const state = a[s + SlotField.State];
      if (state === SlotState.Empty) break;
      const stale = state === SlotState.Live && this.isStale(s);
      if (state === SlotState.Live && a[s + SlotField.Id0] === k0 && a[s + SlotField.Id1] === k1
        && a[s + SlotField.Id2] === k2 && a[s + SlotField.Id3] === k3) {
        if (!stale) {
          const old = a[s + SlotField.Worker] as number;
          if (old !== worker) {
            this.writeSlot(s, k0, k1, k2, k3, worker);
            this.addLive(old, -1);
            this.addLive(worker, 1);
          }
          return true;
        }
        free = idx; // a stale copy of this very id: reuse its slot so the id stays unique
        break;
      }
      if (free < 0 && (state === SlotState.Tombstone || stale)) free = idx;
      idx = (idx + 1) & this.mask;
    }
    if (this.size >= this.layout.maxSessions) {
      this.bump(Counter.RejectedFullTotal, 1);
      return false;
    }
    let target = idx;
    if (free >= 0) {
      target = free;
      const s = base + free * SLOT_WORDS;
      if (a[s + SlotField.State] === SlotState.Live) this.bump(Counter.StaleReclaimedTotal, 1);
      this.bump(Counter.Dead, -1);
    }
    this.writeSlot(base + target * SLOT_WORDS, k0, k1, k2, k3, worker);
    this.bump(Counter.Size, 1);
    this.addLive(worker, 1);
    this.bump(Counter.InsertsTotal, 1);
    return true;
  }

  /** Remove `id`. False if it was not live (missing, stale or malformed). */
  delete(id: string): boolean {
    this.assertWriter();
    const k = this.key;
    if (!sessionIdWords(id, k)) return false;
    const k0 = (k[0] as number) | 0, k1 = (k[1] as number) | 0, k2 = (k[2] as number) | 0, k3 = (k[3] as number) | 0;
    const a = this.a;
    const base = this.activeBase();
    let idx = homeSlot(k0, k1, k2, k3, this.mask);
    for (;;) {
      const s = base + idx * SLOT_WORDS;
      const state = a[s + SlotField.State];
      if (state === SlotState.Empty) return false;
      if (state === SlotState.Live && a[s + SlotField.Id0] === k0 && a[s + SlotField.Id1] === k1
        && a[s + SlotField.Id2] === k2 && a[s + SlotField.Id3] === k3) {
        if (this.isStale(s)) return false;
        this.setState(s, SlotState.Tombstone);
        this.bump(Counter.Size, -1);
        this.addLive(a[s + SlotField.Worker] as number, -1);
        this.bump(Counter.Dead, 1);
        this.bump(Counter.DeletesTotal, 1);
        this.trimDeadRun(base, idx);
        this.maybeRebuild();
        return true;
      }
      idx = (idx + 1) & this.mask;
    }
  }

  /** Make every entry of `worker` stale at once (it died). Returns how many live entries that was. */
  bumpWorkerGeneration(worker: number): number {
    this.assertWriter();
    if (!(Number.isInteger(worker) && worker >= 0 && worker < this.maxWorkers)) {
      throw new ProxyError(ErrorCode.Internal, 'session table: worker index out of range', { worker });
    }
    const a = this.a;
    const count = a[this.live + worker] as number;
    Atomics.add(a, this.gens + worker, 1);
    Atomics.store(a, this.live + worker, 0);
    this.bump(Counter.Size, -count);
    this.bump(Counter.Dead, count);
    this.bump(Counter.StaleTotal, count);
    this.maybeRebuild();
    return count;
  }

  private assertWriter(): void {
    if (!this.writer) throw new ProxyError(ErrorCode.Internal, 'session table: only the creating thread may write');
  }

  private activeBase(): number {
    return this.regions[(this.a[H.TableSeq] as number) & 1] as number;
  }

  private isStale(s: number): boolean {
    const a = this.a;
    return a[s + SlotField.Generation] !== a[this.gens + (a[s + SlotField.Worker] as number)];
  }

  private bump(c: Counter, by: number): void {
    Atomics.add(this.a, this.cnt + c, by);
  }

  private addLive(worker: number, by: number): void {
    Atomics.add(this.a, this.live + worker, by);
  }

  private writeSlot(s: number, k0: number, k1: number, k2: number, k3: number, worker: number): void {
    const a = this.a;
    Atomics.add(a, s, 1);
    Atomics.store(a, s + SlotField.Id0, k0);
    Atomics.store(a, s + SlotField.Id1, k1);
    Atomics.store(a, s + SlotField.Id2, k2);
    Atomics.store(a, s + SlotField.Id3, k3);
    Atomics.store(a, s + SlotField.State, SlotState.Live);
    Atomics.store(a, s + SlotField.Worker, worker);
    Atomics.store(a, s + SlotField.Generation, a[this.gens + worker] as number);
    Atomics.add(a, s, 1);
  }

  private setState(s: number, state: SlotState): void {
    Atomics.add(this.a, s, 1);
    Atomics.store(this.a, s + SlotField.State, state);
    Atomics.add(this.a, s, 1);
  }

  /**
   * If the slot after `idx` is empty, no probe chain needs `idx` or the dead slots right before it:
   * empty them, walking backwards. (A chain reaching past a slot needs every slot before it full.)
   */
  private trimDeadRun(base: number, idx: number): void {
    const a = this.a;
    if (a[base + ((idx + 1) & this.mask) * SLOT_WORDS + SlotField.State] !== SlotState.Empty) return;
    for (let n = 0; n < this.mask; n++) {
      const s = base + idx * SLOT_WORDS;
      const state = a[s + SlotField.State];
      if (state === SlotState.Tombstone) {
        // counted below
      } else if (state === SlotState.Live && this.isStale(s)) {
        this.bump(Counter.StaleReclaimedTotal, 1);
      } else {
        return;
      }
      this.setState(s, SlotState.Empty);
      this.bump(Counter.Dead, -1);
      idx = (idx - 1) & this.mask;
    }
  }

  private maybeRebuild(): void {
    if ((this.a[this.cnt + Counter.Dead] as number) > this.layout.capacity >> 2) this.rebuild();
  }

  /** Copy live entries into the other region, then flip tableSeq to publish it. */
  private rebuild(): void {
    const a = this.a;
    const ts = a[H.TableSeq] as number;
    const from = this.regions[ts & 1] as number;
    const to = this.regions[(ts + 1) & 1] as number;
    const slots = this.layout.capacity;
    // Readers cannot be using `to`: any still reading it started two flips ago and will retry.
    a.fill(0, to, to + slots * SLOT_WORDS);
    let reclaimed = 0;
    for (let i = 0; i < slots; i++) {
      const s = from + i * SLOT_WORDS;
      const state = a[s + SlotField.State];
      if (state !== SlotState.Live) continue;
      if (this.isStale(s)) { reclaimed++; continue; }
      const k0 = a[s + SlotField.Id0] as number, k1 = a[s + SlotField.Id1] as number;
      const k2 = a[s + SlotField.Id2] as number, k3 = a[s + SlotField.Id3] as number;
      let idx = homeSlot(k0, k1, k2, k3, this.mask);
      while (a[to + idx * SLOT_WORDS + SlotField.State] !== SlotState.Empty) idx = (idx + 1) & this.mask;
      const d = to + idx * SLOT_WORDS;
      a[d + SlotField.Id0] = k0;
      a[d + SlotField.Id1] = k1;
      a[d + SlotField.Id2] = k2;
      a[d + SlotField.Id3] = k3;
      a[d + SlotField.Worker] = a[s + SlotField.Worker] as number;
      a[d + SlotField.Generation] = a[s + SlotField.Generation] as number;
      a[d + SlotField.State] = SlotState.Live;
    }
    Atomics.store(a, this.cnt + Counter.Dead, 0);
    this.bump(Counter.StaleReclaimedTotal, reclaimed);
    this.bump(Counter.RebuildsTotal, 1);
    // The SeqCst add publishes the plain writes above to any reader that then loads tableSeq.
    Atomics.add(a, H.TableSeq, 1);
  }
}
