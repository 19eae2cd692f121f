/**
 * The server→client notification-stream benchmark: one session, `streams` concurrent
 * `tools/call flood` requests (examples/fast-upstream.ts answers each with an SSE stream of `count`
 * notifications/message, then the result), repeated until the duration is over. Measures the bytes
 * and events per second the client receives, and the target's CPU per MiB.
 *
 * Every stream is checked: exactly `count` + 1 `data:` lines (the notifications and the result), and the
 * last event is the response to this request's id with the expected text. Events are counted by
 * their `data:` lines with Buffer.indexOf rather than parsed one by one, so the client is
 * not the bottleneck of the direct path (which would flatter the proxy's ratio).
 */
import { Pool } from 'undici';
import { INITIALIZED_NOTIFICATION, initializeBody, type JsonRpcReply } from './jsonrpc.js';
import { resolveOptions } from './options.js';
import { sampleProcess } from './proc-stats.js';
import { FailureNotes, errorText } from './session.js';
import { sampleThreads, threadCpu, type ThreadCpu } from './thread-stats.js';

export interface FloodOptions {
  url: string;
  durationMs: number;
  /** Concurrent streams in the session. */
  streams?: number;
  /** Notifications per stream (per tools/call). */
  count?: number;
  /** Bytes of each notification's JSON. */
  size?: number;
  timeoutMs?: number;
  pid?: number;
}

export interface FloodReport {
  bytes: number;
  events: number;
  streamsOk: number;
  /** Streams with the wrong number of events, a wrong final reply, or a transport error. */
  streamsBad: number;
  elapsedMs: number;
  bytesPerSec: number;
  eventsPerSec: number;
  /** Target (and children) CPU per MiB received; NaN without pid. */
  cpuUsPerMiB: number;
  rssKiB: number;
  threads: ThreadCpu[];
  failures: string[];
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const MARK = Buffer.from('\ndata:');

/**
 * Counts `data:` lines (one per JSON-RPC message: they are single-line JSON) across chunk boundaries
 * and keeps the stream's tail. Comments (`: keepalive`) and `id:`/`event:` lines are not counted, so a
 * proxy that adds them is not penalised.
 */
export class EventCounter {
  events = 0;
  bytes = 0;
  /** The previous chunk's last bytes; "\n" at first, so a `data:` opening the stream counts. */
  private carry = Buffer.from('\n');
  private tail = '';

  feed(chunk: Buffer): void {
    this.bytes += chunk.length;
    // Matches that straddle the boundary: they start in `carry` and end in `chunk`.
    const window = Buffer.concat([this.carry, chunk.subarray(0, MARK.length - 1)]);
    for (let at = window.indexOf(MARK); at !== -1 && at < this.carry.length; at = window.indexOf(MARK, at + 1)) {
      if (at + MARK.length > this.carry.length) this.events++;
    }
    for (let at = chunk.indexOf(MARK); at !== -1; at = chunk.indexOf(MARK, at + MARK.length)) this.events++;
    // The stream's last bytes, not the chunk's: a chunk shorter than the mark leaves a match open.
    const keep = MARK.length - 1;
    this.carry = chunk.length >= keep ? Buffer.from(chunk.subarray(chunk.length - keep)) : Buffer.concat([this.carry, chunk]).subarray(-keep);
    // Enough for the final result event (small), from the last 4 KiB seen.
    this.tail = (this.tail + chunk.subarray(Math.max(0, chunk.length - 4096)).toString('latin1')).slice(-4096);
  }

  /** The JSON of the last event's data line(s). */
  lastEvent(): JsonRpcReply | undefined {
    const events = this.tail.split('\n\n').filter((e) => /^data:/m.test(e));
    const last = events[events.length - 1];
    if (last === undefined) return undefined;
    const data = last.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
    try {
      return JSON.parse(data) as JsonRpcReply;
    } catch {
      return undefined;
    }
  }
}

function floodBody(id: number, count: number, size: number): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'flood', arguments: { count, size } } });
}

export async function runSseFlood(o: FloodOptions): Promise<FloodReport> {
  resolveOptions({ url: o.url, requests: 1 }); // loopback only, like a load run
  const streams = o.streams ?? 2;
  const count = o.count ?? 2000;
  const size = o.size ?? 1024;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const url = new URL(o.url);
  const path = url.pathname + url.search;
  const pool = new Pool(url.origin, { connections: streams + 1, pipelining: 1 });
  const notes = new FailureNotes();
  try {
    const init = await pool.request({ path, method: 'POST', headers: HEADERS, body: initializeBody(0), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await init.body.text();
    const sid = init.headers['mcp-session-id'];
    if (init.statusCode !== 200 || typeof sid !== 'string') throw new Error(`initialize: HTTP ${init.statusCode}, no session id`);
    const headers = { ...HEADERS, 'mcp-session-id': sid };
    const ack = await pool.request({ path, method: 'POST', headers, body: INITIALIZED_NOTIFICATION, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await ack.body.dump();

    let bytes = 0;
    let events = 0;
    let ok = 0;
    let bad = 0;
    let nextId = 1;
    const before = o.pid !== undefined ? sampleProcess(o.pid) : undefined;
    const threadsBefore = o.pid !== undefined ? sampleThreads(o.pid) : [];
    const t0 = performance.now();
    const deadline = t0 + o.durationMs;

    const lane = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const id = nextId++;
        const counter = new EventCounter();
        try {
          const res = await pool.request({ path, method: 'POST', headers, body: floodBody(id, count, size), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
          for await (const chunk of res.body) counter.feed(chunk as Buffer);
          const last = counter.lastEvent();
          const text = (last?.result as { content?: { text?: unknown }[] } | undefined)?.content?.[0]?.text;
          if (res.statusCode !== 200) notes.add(`flood: HTTP ${res.statusCode}`);
          else if (counter.events !== count + 1) notes.add(`flood: ${counter.events} events, expected ${count + 1}`);
          else if (last?.id !== id || text !== `flooded ${count}`) notes.add(`flood: last event is not the reply to id ${id}`);
          else {
            ok++;
            bytes += counter.bytes;
            events += counter.events;
            continue;
          }
        } catch (err) {
          notes.add(`flood: ${errorText(err)}`);
        }
        bad++;
      }
    };
    await Promise.all(Array.from({ length: streams }, lane));
    const elapsedMs = performance.now() - t0;
    const after = o.pid !== undefined ? sampleProcess(o.pid) : undefined;
    const threadsAfter = o.pid !== undefined ? sampleThreads(o.pid) : [];
    const mib = bytes / (1024 * 1024);
    const del = await pool.request({ path, method: 'DELETE', headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }).catch(() => undefined);
    await del?.body.dump();
    return {
      bytes,
      events,
      streamsOk: ok,
      streamsBad: bad,
      elapsedMs,
      bytesPerSec: (bytes * 1000) / elapsedMs,
      eventsPerSec: (events * 1000) / elapsedMs,
      cpuUsPerMiB: before !== undefined && after !== undefined ? ((after.treeCpuSeconds - before.treeCpuSeconds) * 1e6) / Math.max(mib, 1e-9) : NaN,
      rssKiB: after?.treeRssKiB ?? NaN,
      // Per thread, in µs per MiB (the "request" unit here is one MiB received).
      threads: o.pid !== undefined ? threadCpu(o.pid, threadsBefore, threadsAfter, Math.max(mib, 1e-9)) : [],
      failures: notes.list(),
    };
  } finally {
    await pool.close();
  }
}
