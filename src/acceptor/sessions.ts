/**
 * The acceptor's view of downstream sessions. Routing (session id -> worker) lives in the shared
 * SessionTable; this store keeps what only the main thread needs: the destination, the server-
 * message stream, the bounded queue of messages that arrived while no stream was open, and the
 * last activity for the idle reaper.
 */
import type { Logger } from 'pino';
import type { InflightCounter } from '../auth/inflight.js';
import { sessionTag } from '../observability/session-tag.js';
import { PLAIN_SESSION_IDS, type SessionIdScheme } from '../threads/session-id.js';
import type { SessionTable } from '../threads/session-table.js';
import { ReplayBuffer } from './replay.js';
import type { SseStream } from './sse-stream.js';

/**
 * An in-flight POST reply that can carry server messages as SSE events, for a client that reads
 * no GET stream (optional in the spec). `carry` returns false once the reply is finished.
 */
export interface EventCarrier {
  carry(data: string, rid: number | null): boolean;
}

/** Who a session belongs to and what it may hold, fixed when it is created. */
export interface SessionOwner {
  /** The authenticated client (AuthOk.client): the only one that may use the session. */
  client: string;
  /** Requests this session has in flight, against auth.per_session_inflight. */
  inflight: InflightCounter;
  /** Its destination is stdio: the session holds one child, counted against the child budget. */
  stdio: boolean;
}

export class DownSession {
  readonly sid: string;
  /** The session table's key for `sid` (its 128 random bits), derived once at mint. */
  readonly key: string;
  /** sessionTag(sid): what logs carry instead of the id (the id is a bearer credential). */
  readonly tag: string;
  readonly dest: string;
  readonly worker: number;
  readonly legacy: boolean;
  readonly client: string;
  readonly inflight: InflightCounter;
  readonly stdio: boolean;
  /** GET stream (Streamable HTTP) or the legacy SSE stream. */
  stream: SseStream | null = null;
  /** Server messages waiting for a stream; bounded by count (maxPendingPushes) and bytes (maxBufferedBytes). */
  queue: string[] = [];
  queueBytes = 0;
  dropped = 0;
  lastSeen = Date.now();
  /** When the session was minted (the admin snapshot's age). */
  readonly created = this.lastSeen;
  /** The upstream answered initialize; until then a failure ends the session. */
  established = false;
  /**
   * POST replies in flight, oldest first: server messages go to the newest one when no GET
   * stream is open. Bounded by the requests in flight (each reply removes itself when done).
   */
  readonly carriers: EventCarrier[] = [];
  /**
   * Event ids and the standalone stream's recent events, for Last-Event-ID resumption
   * (replay.ts). Legacy HTTP+SSE (2024-11-05) has no resumption: null.
   */
  readonly replay: ReplayBuffer | null;

  constructor(sid: string, key: string, dest: string, worker: number, legacy: boolean, owner: SessionOwner, replayBytes: () => number) {
    this.sid = sid;
    this.key = key;
    this.tag = sessionTag(sid);
    this.dest = dest;
    this.worker = worker;
    this.legacy = legacy;
    this.client = owner.client;
    this.inflight = owner.inflight;
    this.stdio = owner.stdio;
    this.replay = legacy ? null : new ReplayBuffer(replayBytes);
  }

  /**
   * Established, nothing in flight and no stream open: ending it now would cut no client off
   * mid-exchange (a session still starting, e.g. waiting for a replaced one to close, is not idle).
   */
  get idle(): boolean {
    return this.established && this.inflight.inflight === 0 && this.carriers.length === 0 && !(this.stream && !this.stream.done);
  }
}

export type EndReason = 'delete' | 'stream-closed' | 'idle' | 'upstream-gone' | 'worker-lost' | 'init-failed' | 'shutdown' | 'replaced' | 'config-changed' | 'child-budget';

export interface StoreHooks {
  /**
   * Pay a producer back for a message the store queued instead of writing: the queue is bounded,
   * so holding the producer's credit for it would only stall the upstream.
   */
  credit(s: DownSession, rid: number, bytes: number): void;
  /** A session was created (its client's max_sessions count goes up). */
  opened(s: DownSession): void;
  /** A session ended, whatever the path (the one place its end is counted). */
  ended(s: DownSession, reason: EndReason): void;
}

export class SessionStore {
  private readonly map = new Map<string, DownSession>();
  private readonly table: SessionTable;
  private readonly log: Logger;
  /** Read at each use, so a reload's limits apply at once. */
  private readonly limits: () => { maxPendingPushes: number; maxBufferedBytes: number; replayBufferBytes: number };
  private readonly replayBytes = (): number => this.limits().replayBufferBytes;
  private readonly hooks: StoreHooks;
  /** Mints ids and maps an id to its table key; refuses ids of other instances and bad MACs. */
  readonly ids: SessionIdScheme;

  constructor(table: SessionTable, limits: () => { maxPendingPushes: number; maxBufferedBytes: number; replayBufferBytes: number }, log: Logger, hooks: StoreHooks, ids: SessionIdScheme = PLAIN_SESSION_IDS) {
    this.table = table;
    this.ids = ids;
    this.limits = limits;
    this.log = log;
    this.hooks = hooks;
  }

  get size(): number {
    return this.map.size;
  }

  /** Mint an id and pin it to `worker`; null when the table is full (caller answers 503). */
  create(dest: string, worker: number, legacy: boolean, owner: SessionOwner): DownSession | null {
    const sid = this.ids.mint();
    const key = this.ids.key(sid)!;
    if (!this.table.insert(key, worker)) return null;
    const s = new DownSession(sid, key, dest, worker, legacy, owner, this.replayBytes);
    this.map.set(sid, s);
    this.hooks.opened(s);
    return s;
  }

  /**
   * The live session for `sid` on `dest`. The shared table is the authority: an entry whose
   * worker died (generation bumped) is gone even if the map still holds it.
   */
  get(sid: string, dest: string): DownSession | undefined {
    // The map holds only ids this instance minted, so a hit is an exact match of one: stronger
    // than checking the instance tag and MAC, and no crypto per request. Another instance's id or
    // an edited one misses and looks exactly like an unknown session to the caller (404).
    const s = this.map.get(sid);
    if (!s || s.dest !== dest) return undefined;
    if (this.table.lookup(s.key) !== s.worker) return undefined;
    return s;
  }

  /**
   * The live session for `sid` on `dest` if `client` owns it. Another client's id answers exactly
   * like an unknown one, so an id seen by someone else (a log, a shared screen) neither works for
   * them nor tells them the session exists.
   */
  owned(sid: string, dest: string, client: string): DownSession | undefined {
    const s = this.get(sid, dest);
    return s !== undefined && s.client === client ? s : undefined;
  }

  /** Remove the session everywhere and close its stream. Returns it if it existed. */
  remove(sid: string, reason: EndReason): DownSession | undefined {
    const s = this.map.get(sid);
    if (!s) return undefined;
    this.map.delete(sid);
    this.table.delete(s.key);
    s.queue.length = 0;
    s.queueBytes = 0;
    const stream = s.stream;
    s.stream = null;
    if (stream && !stream.done) stream.end();
    this.log.debug({ session: s.tag, dest: s.dest, reason }, 'session ended');
    this.hooks.ended(s, reason);
    return s;
  }

  /**
   * Deliver a message where the client is reading: the session's GET / legacy stream if open,
   * else the newest POST reply still in flight (turned into an SSE stream if it was not one),
   * else the bounded queue, flushed when a GET stream opens. `rid` is the producer owed credit
   * (-1 server messages, a legacy reply's rid), or null when nothing is owed.
   */
  push(sid: string, data: string, rid: number | null): void {
    const s = this.map.get(sid);
    if (!s) return;
    if (s.stream && !s.stream.done) {
      s.stream.event(data, rid);
      return;
    }
    for (let i = s.carriers.length - 1; i >= 0; i--) {
      if (s.carriers[i]!.carry(data, rid)) return;
    }
    if (rid !== null) this.hooks.credit(s, rid, data.length);
    s.queue.push(data);
    s.queueBytes += data.length;
    // Oldest first out: a stale progress notification is worth less than the newest message.
    const { maxPendingPushes, maxBufferedBytes } = this.limits();
    while (s.queue.length > maxPendingPushes || (s.queueBytes > maxBufferedBytes && s.queue.length > 1)) {
      s.queueBytes -= s.queue.shift()!.length;
      if (s.dropped++ === 0) {
        this.log.warn({ session: s.tag, dest: s.dest, maxMessages: maxPendingPushes, maxBytes: maxBufferedBytes }, 'server messages dropped: no stream open to receive them');
      }
    }
  }

  /** Attach a stream and flush what queued while none was open. */
  attach(s: DownSession, stream: SseStream): void {
    s.stream = stream;
    const q = s.queue;
    s.queue = [];
    s.queueBytes = 0;
    for (const data of q) stream.event(data, null);
  }

  /** Every session pinned to `worker` (its thread died). */
  ofWorker(worker: number): DownSession[] {
    const out: DownSession[] = [];
    for (const s of this.map.values()) if (s.worker === worker) out.push(s);
    return out;
  }

  /**
   * Sessions with no traffic for their idle time (`idleMsOf`, per destination) and no open stream.
   * An open stream means a connected client; its socket closing ends the session instead.
   */
  idleSince(now: number, idleMsOf: (s: DownSession) => number): DownSession[] {
    const out: DownSession[] = [];
    for (const s of this.map.values()) {
      if (s.lastSeen < now - idleMsOf(s) && !(s.stream && !s.stream.done)) out.push(s);
    }
    return out;
  }

  all(): IterableIterator<DownSession> {
    return this.map.values();
  }
}
