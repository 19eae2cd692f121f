/**
 * The one SharedArrayBuffer between the generator's main thread and its worker threads: a start
 * barrier (so every thread begins loading at the same moment, after its sessions are set up), an end
 * barrier (so the target is sampled before the sessions are closed), and live
 * per-thread outcome counters for the progress line. Final numbers come back with each task's result;
 * these counters are only for watching.
 */
import { OUTCOME_COUNT, type Outcome } from './jsonrpc.js';

const READY = 0;
const GO = 1;
const STOP = 2;
const DONE = 3;
const RELEASE = 4;
const HEADER = 6;

export class SharedState {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: Int32Array;

  constructor(bufferOrThreads: SharedArrayBuffer | number) {
    this.buffer =
      typeof bufferOrThreads === 'number'
        ? new SharedArrayBuffer((HEADER + bufferOrThreads * OUTCOME_COUNT) * 4)
        : bufferOrThreads;
    this.cells = new Int32Array(this.buffer);
  }

  markReady(): void {
    Atomics.add(this.cells, READY, 1);
  }
  readyCount(): number {
    return Atomics.load(this.cells, READY);
  }
  go(): void {
    Atomics.store(this.cells, GO, 1);
  }
  isGo(): boolean {
    return Atomics.load(this.cells, GO) === 1;
  }
  /** A thread finished loading; its sessions stay open until release(), so the target is sampled with them. */
  markDone(): void {
    Atomics.add(this.cells, DONE, 1);
  }
  doneCount(): number {
    return Atomics.load(this.cells, DONE);
  }
  release(): void {
    Atomics.store(this.cells, RELEASE, 1);
  }
  isReleased(): boolean {
    return Atomics.load(this.cells, RELEASE) === 1 || this.isStopped();
  }
  /** Asks every thread to stop early (Ctrl-C, or a thread failed). */
  stop(): void {
    Atomics.store(this.cells, STOP, 1);
  }
  isStopped(): boolean {
    return Atomics.load(this.cells, STOP) === 1;
  }

  count(thread: number, outcome: Outcome): void {
    Atomics.add(this.cells, HEADER + thread * OUTCOME_COUNT + outcome, 1);
  }

  /** Sums over threads, indexed by Outcome. */
  totals(threads: number): number[] {
    const sums = new Array<number>(OUTCOME_COUNT).fill(0);
    for (let t = 0; t < threads; t++) {
      for (let o = 0; o < OUTCOME_COUNT; o++) sums[o]! += Atomics.load(this.cells, HEADER + t * OUTCOME_COUNT + o);
    }
    return sums;
  }
}
