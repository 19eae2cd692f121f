/**
 * A real SDK Streamable HTTP upstream with the features real servers turn on and the plain helper
 * (sdk-upstream.ts) leaves off: an event store (priming events, ids, `Last-Event-ID` replay), a
 * `retry:` interval, `closeSSEStream` / `closeStandaloneSSEStream` (2025-11-25 SSE polling),
 * server requests tied to a call (elicitation), progress, a configurable keep-alive timeout, and a
 * count of the TCP connections the proxy opened to it.
 *
 * Tools:
 *  - `poll {text}`: closes its own reply stream after the priming event, waits `pollMs`, sends a log
 *    notification and answers `text` (the client must come back with GET + Last-Event-ID).
 *  - `close_get`: closes the standalone GET stream (the client must reconnect), answers `closed`.
 *  - `log_standalone {text}`: a `notifications/message` on the standalone stream, not tied to a call.
 *  - `elicit`: asks the client (elicitation/create, tied to the call), answers with its `content.name`.
 *  - `progress {n, ms}`: n progress notifications `ms` apart, then `done`.
 *  - `slow {ms}`: answers after `ms`; records whether the request was cancelled.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport, type EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { ElicitResultSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface FeatureUpstreamOptions {
  /** Event store on (priming events, ids, replay). Default true. */
  eventStore?: boolean;
  /** `retry:` sent in priming events, ms. Default 100. */
  retryMs?: number;
  /** node:http keepAliveTimeout (Node's default is 5000). */
  keepAliveTimeoutMs?: number;
  /** How long `poll` keeps its stream closed before answering. Default 300. */
  pollMs?: number;
  /** Answer the first N standalone GETs 503 (a server that is briefly unavailable). */
  failFirstGets?: number;
  /**
   * A keep-alive socket idle longer than this is reset when the next request arrives on it,
   * instead of being closed with a FIN the client would notice: the race of a server's idle
   * timer with the client's next write, made deterministic. Counted in `staleHits`.
   */
  silentIdleCloseMs?: number;
  /** Serve the same tools over the legacy HTTP+SSE transport (GET /sse, POST /messages) instead. */
  legacy?: boolean;
}

/** The legacy HTTP+SSE flavour: `url` is the SSE GET URL; only the recording fields are live. */
async function startLegacy(
  build: () => McpServer,
  rec: Pick<FeatureUpstream, 'gets' | 'posted' | 'postedBodies' | 'cancelled'>,
): Promise<FeatureUpstream> {
  const transports = new Map<string, SSEServerTransport>();
  const http: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/sse') {
        const t = new SSEServerTransport('/messages', res);
        transports.set(t.sessionId, t);
        res.on('close', () => transports.delete(t.sessionId));
        await build().connect(t);
        return;
      }
      const t = transports.get(url.searchParams.get('sessionId') ?? '');
      if (req.method !== 'POST' || t === undefined) return void res.writeHead(404).end();
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      rec.postedBodies.push(text);
      await t.handlePostMessage(req, res, JSON.parse(text));
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/sse`,
    ...rec,
    connections: () => 0,
    openConnections: () => 0,
    abortedPosts: () => 0,
    staleHits: () => 0,
    broadcast: async () => undefined,
    close: async () => {
      for (const t of [...transports.values()]) await t.close().catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export interface FeatureUpstream {
  url: string;
  /** TCP connections accepted so far. */
  connections(): number;
  /** TCP connections open right now. */
  openConnections(): number;
  /** GET requests seen, with their Last-Event-ID header (undefined when absent). */
  gets: Array<string | undefined>;
  /** Methods of JSON-RPC messages POSTed to the server, in order. */
  posted: string[];
  /** Raw JSON-RPC messages POSTed (for notifications/cancelled assertions). */
  postedBodies: string[];
  /** Requests of `slow` whose signal was aborted (notifications/cancelled or transport close). */
  cancelled: string[];
  /** POSTs whose connection closed before their reply finished (the client aborted). */
  abortedPosts(): number;
  /** Requests that arrived on a socket idle past silentIdleCloseMs (and were reset). */
  staleHits(): number;
  /** Send a log notification on every session's standalone stream. */
  broadcast(text: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The SDK's example store cannot replay the standalone stream (its ids split on '_', which the
 * standalone stream id itself contains): ids here are `<stream>|<seq>`, bounded to the last 1000.
 */
class TestEventStore implements EventStore {
  private seq = 0;
  private readonly events: Array<{ id: string; stream: string; message: JSONRPCMessage }> = [];
  storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${streamId}|${++this.seq}`;
    this.events.push({ id, stream: streamId, message });
    if (this.events.length > 1000) this.events.shift();
    return Promise.resolve(id);
  }
  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const bar = eventId.lastIndexOf('|');
    return Promise.resolve(bar > 0 ? eventId.slice(0, bar) : undefined);
  }
  async replayEventsAfter(lastEventId: string, { send }: { send: (id: string, m: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const bar = lastEventId.lastIndexOf('|');
    const stream = lastEventId.slice(0, bar);
    const after = Number(lastEventId.slice(bar + 1));
    for (const e of [...this.events]) {
      // Priming events are stored as {} and carry no message: nothing to replay.
      if (e.stream === stream && Number(e.id.slice(e.id.lastIndexOf('|') + 1)) > after && 'jsonrpc' in e.message) await send(e.id, e.message);
    }
    return stream;
  }
}

export async function startFeatureUpstream(opts: FeatureUpstreamOptions = {}): Promise<FeatureUpstream> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const servers = new Set<McpServer>();
  const gets: Array<string | undefined> = [];
  const posted: string[] = [];
  const postedBodies: string[] = [];
  const cancelled: string[] = [];
  const pollMs = opts.pollMs ?? 300;
  let connections = 0;
  let open = 0;

  const build = (): McpServer => {
    const server = new McpServer({ name: 'feature-upstream', version: '1.0.0' }, { capabilities: { logging: {} } });
    servers.add(server);
    server.registerTool('poll', { inputSchema: { text: z.string() } }, async ({ text }, extra) => {
      extra.closeSSEStream?.();
      await sleep(pollMs);
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: `polled ${text}` } });
      return { content: [{ type: 'text', text }] };
    });
    server.registerTool('close_get', {}, async (extra) => {
      extra.closeStandaloneSSEStream?.();
      return { content: [{ type: 'text', text: 'closed' }] };
    });
    server.registerTool('log_standalone', { inputSchema: { text: z.string() } }, async ({ text }) => {
      await server.server.notification({ method: 'notifications/message', params: { level: 'info', data: text } });
      return { content: [{ type: 'text', text: 'sent' }] };
    });
    server.registerTool('elicit', {}, async (extra) => {
      const r = await extra.sendRequest(
        { method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } } },
        ElicitResultSchema,
        { timeout: 120_000 },
      );
      return { content: [{ type: 'text', text: String((r.content as { name?: unknown } | undefined)?.name ?? r.action) }] };
    });
    server.registerTool('progress', { inputSchema: { n: z.number(), ms: z.number() } }, async ({ n, ms }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= n; i++) {
        await sleep(ms);
        if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
      }
      return { content: [{ type: 'text', text: 'done' }] };
    });
    server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
      const aborted = new Promise<void>((resolve) => extra.signal.addEventListener('abort', () => resolve(), { once: true }));
      await Promise.race([sleep(ms), aborted]);
      if (extra.signal.aborted) cancelled.push(String(extra.requestId));
      return { content: [{ type: 'text', text: 'slept' }] };
    });
    return server;
  };

  let staleHits = 0;
  let abortedPosts = 0;
  if (opts.legacy === true) return startLegacy(build, { gets, posted, postedBodies, cancelled });
  const http: Server = createServer((req, res) => {
    const socket = req.socket as typeof req.socket & { lastDone?: number };
    if (opts.silentIdleCloseMs !== undefined && socket.lastDone !== undefined && Date.now() - socket.lastDone > opts.silentIdleCloseMs) {
      staleHits++;
      socket.resetAndDestroy();
      return;
    }
    res.once('finish', () => {
      socket.lastDone = Date.now();
    });
    if (req.method === 'POST') {
      res.once('close', () => {
        if (!res.writableFinished) abortedPosts++;
      });
    }
    // Like the SDK's SSE replies: no `Keep-Alive: timeout=` hint that would tell the client.
    if (opts.silentIdleCloseMs !== undefined) res.setHeader('connection', 'keep-alive');
    if (req.method === 'GET') {
      const last = req.headers['last-event-id'];
      gets.push(typeof last === 'string' ? last : undefined);
      if (gets.length <= (opts.failFirstGets ?? 0)) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
        return;
      }
    }
    void (async () => {
      let parsed: unknown;
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const text = Buffer.concat(chunks).toString('utf8');
        postedBodies.push(text);
        parsed = JSON.parse(text);
        const m = (parsed as { method?: unknown }).method;
        posted.push(typeof m === 'string' ? m : 'response');
      }
      const sid = req.headers['mcp-session-id'];
      if (typeof sid === 'string') {
        const t = transports.get(sid);
        if (t === undefined) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
          return;
        }
        await t.handleRequest(req, res, parsed);
        return;
      }
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        ...(opts.eventStore === false ? {} : { eventStore: new TestEventStore(), retryInterval: opts.retryMs ?? 100 }),
        onsessioninitialized: (id) => {
          transports.set(id, transport);
        },
        onsessionclosed: (id) => {
          transports.delete(id);
        },
      });
      await build().connect(transport);
      await transport.handleRequest(req, res, parsed);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  if (opts.keepAliveTimeoutMs !== undefined) http.keepAliveTimeout = opts.keepAliveTimeoutMs;
  http.on('connection', (socket) => {
    connections++;
    open++;
    socket.once('close', () => open--);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  return {
    url,
    connections: () => connections,
    staleHits: () => staleHits,
    abortedPosts: () => abortedPosts,
    openConnections: () => open,
    gets,
    posted,
    postedBodies,
    cancelled,
    broadcast: async (text) => {
      for (const s of servers) {
        if (s.isConnected()) await s.server.notification({ method: 'notifications/message', params: { level: 'info', data: text } }).catch(() => undefined);
      }
    },
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
