/**
 * One downstream session over the legacy HTTP+SSE transport: a long-lived GET stream whose first
 * event (`endpoint`) names the POST URL; POSTs answer 202 and the replies arrive as `message` events
 * on the stream, matched to their request by id. A reply that belongs to another session is a
 * crossed reply (reported through `onStray`); a request whose reply never comes is lost.
 */
import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Pool } from 'undici';
import { ErrorCode, ProxyError } from '../../src/errors.js';
import { ID_STRIDE } from './options.js';
import {
  EchoRequests,
  INITIALIZED_NOTIFICATION,
  OUTCOME_NAMES,
  Outcome,
  initializeBody,
  judgeReply,
  type JsonRpcReply,
} from './jsonrpc.js';
import { errorText, type FailureNotes, type LoadSession } from './session.js';

const POST_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json' };
const SWEEP_MS = 100;

interface Pending {
  deadline: number;
  resolve: (reply: JsonRpcReply | undefined) => void;
}

export class SseSession implements LoadSession {
  private readonly req: EchoRequests;
  private readonly pending = new Map<number, Pending>();
  private stream: Readable | undefined;
  private postPath = '';
  private dead = false;
  private sweeper: NodeJS.Timeout | undefined;
  private endpoint: ((url: string) => void) | undefined;

  constructor(
    private readonly postPool: Pool,
    private readonly streamPool: Pool,
    private readonly url: URL,
    readonly index: number,
    payload: number,
    private readonly timeoutMs: number,
    private readonly notes: FailureNotes,
    /** A reply for a request this session never sent (outcome Crossed). */
    private readonly onStray: (outcome: Outcome) => void,
  ) {
    this.req = new EchoRequests(index, payload);
  }

  async setup(): Promise<void> {
    const endpointUrl = new Promise<string>((resolve) => (this.endpoint = resolve));
    const res = await this.streamPool.request({
      path: this.url.pathname + this.url.search,
      method: 'GET',
      headers: { accept: 'text/event-stream' },
      headersTimeout: this.timeoutMs,
      // The stream is idle between replies; lost replies are caught by the per-request deadline.
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new ProxyError(ErrorCode.UpstreamStatus, `GET ${this.url.pathname}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    }
    this.stream = res.body;
    this.pump(res.body);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    const endpoint = await withTimeout(endpointUrl, this.timeoutMs, 'no endpoint event');
    const resolved = new URL(endpoint, this.url);
    if (resolved.origin !== this.url.origin) {
      throw new ProxyError(ErrorCode.UpstreamProtocol, `endpoint on another origin: ${resolved.origin}`);
    }
    this.postPath = resolved.pathname + resolved.search;

    const id = this.req.id(0);
    const reply = await this.roundTrip(id, initializeBody(id));
    if (reply === undefined || reply.result === undefined) {
      throw new ProxyError(ErrorCode.UpstreamProtocol, 'initialize: no result on the SSE stream');
    }
    const status = await this.post(INITIALIZED_NOTIFICATION);
    if (status < 200 || status >= 300) {
      throw new ProxyError(ErrorCode.UpstreamStatus, `notifications/initialized: HTTP ${status}`);
    }
  }

  async call(seq: number): Promise<Outcome> {
    if (this.dead) {
      this.notes.add('lost: SSE stream closed');
      return Outcome.Lost;
    }
    const id = this.req.id(seq);
    const text = this.req.text(seq);
    let reply: JsonRpcReply | undefined;
    try {
      reply = await this.roundTrip(id, this.req.body(seq, text));
    } catch (err) {
      if (err instanceof ProxyError && err.code === ErrorCode.UpstreamStatus) {
        this.notes.add(`error: ${err.message}`);
        return Outcome.Error;
      }
      this.notes.add(`lost: ${errorText(err)}`);
      return Outcome.Lost;
    }
    if (reply === undefined) {
      this.notes.add('lost: no reply on the SSE stream before the deadline');
      return Outcome.Lost;
    }
    const outcome = judgeReply(reply, this.index, id, text);
    if (outcome !== Outcome.Ok) this.notes.add(`${OUTCOME_NAMES[outcome]}: ${JSON.stringify(reply).slice(0, 160)}`);
    return outcome;
  }

  async close(): Promise<void> {
    this.dead = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.stream?.destroy();
    for (const p of this.pending.values()) p.resolve(undefined);
    this.pending.clear();
  }

  /** Registers the pending reply before posting, so a reply that overtakes the 202 is not missed. */
  private async roundTrip(id: number, body: string): Promise<JsonRpcReply | undefined> {
    const replied = new Promise<JsonRpcReply | undefined>((resolve) => {
      this.pending.set(id, { deadline: performance.now() + this.timeoutMs, resolve });
    });
    let status: number;
    try {
      status = await this.post(body);
    } catch (err) {
      this.pending.delete(id);
      throw err;
    }
    if (status < 200 || status >= 300) {
      this.pending.delete(id);
      throw new ProxyError(ErrorCode.UpstreamStatus, `POST: HTTP ${status}`);
    }
    return replied;
  }

  private async post(body: string): Promise<number> {
    const res = await this.postPool.request({
      path: this.postPath,
      method: 'POST',
      headers: POST_HEADERS,
      body,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    await res.body.dump();
    return res.statusCode;
  }

  private pump(body: Readable): void {
    const parser = createParser({ onEvent: (ev) => this.onEvent(ev) });
    // undici's body ignores setEncoding: decode here, keeping split UTF-8 sequences across chunks.
    const decoder = new TextDecoder();
    body.on('data', (chunk: Buffer) => parser.feed(decoder.decode(chunk, { stream: true })));
    const end = (): void => {
      this.dead = true;
      for (const p of this.pending.values()) p.resolve(undefined);
      this.pending.clear();
    };
    body.on('end', end);
    body.on('error', end);
    body.on('close', end);
  }

  private onEvent(ev: EventSourceMessage): void {
    if (ev.event === 'endpoint') {
      this.endpoint?.(ev.data);
      this.endpoint = undefined;
      return;
    }
    if (ev.event !== undefined && ev.event !== 'message') return;
    let msg: JsonRpcReply;
    try {
      msg = JSON.parse(ev.data) as JsonRpcReply;
    } catch {
      this.notes.add(`error: non-JSON message event ${ev.data.slice(0, 120)}`);
      return;
    }
    if (msg.method !== undefined || typeof msg.id !== 'number') return;
    const p = this.pending.get(msg.id);
    if (p !== undefined) {
      this.pending.delete(msg.id);
      p.resolve(msg);
    } else if (Math.floor(msg.id / ID_STRIDE) !== this.index) {
      this.notes.add(`crossed session: reply id ${msg.id} arrived on session ${this.index}`);
      this.onStray(Outcome.Crossed);
    }
    // A late reply to one of our own requests (already counted lost) is ignored.
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        p.resolve(undefined);
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProxyError(ErrorCode.UpstreamTimeout, `${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
