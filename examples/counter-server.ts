/**
 * A tiny MCP server whose state lives in each session: the demo destination and the upstream the
 * tests run behind the proxy. Per-session state is the point — a counter that two clients can
 * never share proves the proxy keeps one upstream session per downstream session.
 *
 *   node dist/examples/counter-server.js --stdio
 *   node dist/examples/counter-server.js --http --port N [--host 127.0.0.1] [--json]
 *   node dist/examples/counter-server.js --sse  --port N [--host 127.0.0.1]
 *
 * HTTP modes print one line `listening <url>` on stdout once bound.
 *
 * This stands in for a third-party MCP server, so it answers transport faults with plain JSON-RPC
 * errors (as the SDK does) rather than the proxy's ProxyError codes: a proxy test must be able to
 * tell an upstream's error from the proxy's own.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CreateMessageResultSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface UpstreamStats {
  initializeCount: number;
  sessionsCreated: number;
  sessionsClosed: number;
  deleteRequests: number;
  activeSessions: number;
}

export interface RunningUpstream {
  url: string;
  stats: UpstreamStats;
  close(): Promise<void>;
}

const SERVER_INFO = { name: 'mithril-counter', version: '1.0.0' } as const;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MCP_PATH = '/mcp';
const SSE_PATH = '/sse';
const SSE_MESSAGES_PATH = '/messages';

const valueOutput = { value: z.number() };
const whoamiOutput = { instance: z.string(), pid: z.number() };

/** One server per session: the counter and the instance id belong to this object alone. */
export function createCounterServer(): McpServer {
  const server = new McpServer(SERVER_INFO, { capabilities: { logging: {} } });
  const instance = randomUUID();
  let counter = 0;

  server.registerTool(
    'increment',
    {
      description: 'Add `by` (default 1) to this session\'s counter and return the new value.',
      inputSchema: { by: z.number().optional() },
      outputSchema: valueOutput,
    },
    ({ by }) => {
      counter += by ?? 1;
      return { content: [{ type: 'text', text: String(counter) }], structuredContent: { value: counter } };
    },
  );

  server.registerTool(
    'get',
    { description: 'Return this session\'s counter.', outputSchema: valueOutput },
    () => ({ content: [{ type: 'text', text: String(counter) }], structuredContent: { value: counter } }),
  );

  server.registerTool(
    'echo',
    { description: 'Return `text` unchanged.', inputSchema: { text: z.string() } },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool(
    'notify',
    {
      description: 'Send `count` logging notifications tagged `tag`, then return `sent <count>`.',
      inputSchema: { count: z.number().int().min(0).max(10_000), tag: z.string() },
    },
    async ({ count, tag }, extra) => {
      // extra.sendNotification carries the request's id, so Streamable HTTP writes these on this
      // request's own SSE stream; McpServer.sendLoggingMessage would send them unrelated (GET stream).
      for (let index = 0; index < count; index++) {
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'counter', data: { tag, index } },
        });
      }
      return { content: [{ type: 'text', text: `sent ${count}` }] };
    },
  );

  server.registerTool(
    'ask',
    {
      description: 'Ask the client (sampling/createMessage) and return its answer.',
      inputSchema: { prompt: z.string() },
    },
    async ({ prompt }, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 256 },
        },
        CreateMessageResultSchema,
      );
      const answer = result.content.type === 'text' ? result.content.text : `[${result.content.type}]`;
      return { content: [{ type: 'text', text: `client said: ${answer}` }] };
    },
  );

  server.registerTool(
    'whoami',
    { description: 'Return this session\'s instance id and the process id.', outputSchema: whoamiOutput },
    () => {
      const who = { instance, pid: process.pid };
      return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
    },
  );

  return server;
}

function newStats(): UpstreamStats {
  return { initializeCount: 0, sessionsCreated: 0, sessionsClosed: 0, deleteRequests: 0, activeSessions: 0 };
}

function countsInitialize(message: JSONRPCMessage): boolean {
  return 'method' in message && message.method === 'initialize';
}

/**
 * Connect a fresh server to `transport`. Handlers set before connect() are kept by the SDK (it
 * chains them), so counting here sees exactly the messages the transport accepted.
 */
async function attach(transport: Transport, stats: UpstreamStats, onClosed: () => void): Promise<McpServer> {
  const server = createCounterServer();
  let closed = false;
  transport.onmessage = (message) => {
    if (countsInitialize(message)) stats.initializeCount++;
  };
  // Both an explicit close() and the peer hanging up may report; count a session once.
  transport.onclose = () => {
    if (closed) return;
    closed = true;
    stats.sessionsClosed++;
    stats.activeSessions--;
    onClosed();
  };
  stats.sessionsCreated++;
  stats.activeSessions++;
  await server.connect(transport);
  return server;
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

class BodyError extends Error {
  constructor(readonly status: number, readonly rpcCode: number, message: string) {
    super(message);
  }
}

/** Read and parse a JSON body; the SDK accepts a pre-parsed body, so the stream is read once. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyError(413, -32600, 'Request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BodyError(400, -32700, 'Parse error: invalid JSON');
  }
}

function isInitializeBody(body: unknown): boolean {
  const first = Array.isArray(body) ? (body as unknown[])[0] : body;
  return typeof first === 'object' && first !== null && (first as { method?: unknown }).method === 'initialize';
}

function formatUrl(host: string, port: number, path: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}${path}`;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function shutdown(server: Server, transports: Iterable<Transport>): Promise<void> {
  // Snapshot first: each close() removes its own entry from the live map.
  await Promise.allSettled([...transports].map((t) => t.close()));
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Streamable HTTP at /mcp, stateful: one McpServer and one transport per session id. */
export async function startCounterHttp(opts: { port?: number; host?: string; jsonResponse?: boolean } = {}): Promise<RunningUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const stats = newStats();
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== MCP_PATH) return sendJsonRpcError(res, 404, -32600, 'Not found');
    const method = req.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return sendJsonRpcError(res, 405, -32600, 'Method not allowed', { allow: 'GET, POST, DELETE' });
    }
    if (method === 'DELETE') stats.deleteRequests++;
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const transport = sessions.get(sid);
      if (!transport) return sendJsonRpcError(res, 404, -32001, 'Session not found');
      const body = method === 'POST' ? await readJson(req) : undefined;
      return transport.handleRequest(req, res, body);
    }
    if (method !== 'POST') return sendJsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const body = await readJson(req);
    if (!isInitializeBody(body)) return sendJsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      enableJsonResponse: opts.jsonResponse ?? false,
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    await attach(transport, stats, () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    });
    await transport.handleRequest(req, res, body);
    // A failed initialize never gets an id; nothing could reach this session again.
    if (transport.sessionId === undefined) await transport.close();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BodyError) sendJsonRpcError(res, err.status, err.rpcCode, err.message);
      else sendJsonRpcError(res, 500, -32603, err instanceof Error ? err.message : String(err));
    });
  });
  const port = await listen(server, opts.port ?? 0, host);
  return { url: formatUrl(host, port, MCP_PATH), stats, close: () => shutdown(server, sessions.values()) };
}

/** Legacy 2024-11-05 HTTP+SSE: GET /sse opens a session, POST /messages?sessionId= feeds it. */
export async function startCounterSse(opts: { port?: number; host?: string } = {}): Promise<RunningUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const stats = newStats();
  const sessions = new Map<string, SSEServerTransport>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === SSE_PATH) {
      if (req.method !== 'GET') return sendJsonRpcError(res, 405, -32600, 'Method not allowed', { allow: 'GET' });
      const transport = new SSEServerTransport(SSE_MESSAGES_PATH, res);
      sessions.set(transport.sessionId, transport);
      await attach(transport, stats, () => sessions.delete(transport.sessionId));
      return;
    }
    if (url.pathname === SSE_MESSAGES_PATH) {
      if (req.method !== 'POST') return sendJsonRpcError(res, 405, -32600, 'Method not allowed', { allow: 'POST' });
      const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
      if (!transport) return sendJsonRpcError(res, 404, -32001, 'Session not found');
      const body = await readJson(req);
      return transport.handlePostMessage(req, res, body);
    }
    return sendJsonRpcError(res, 404, -32600, 'Not found');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BodyError) sendJsonRpcError(res, err.status, err.rpcCode, err.message);
      else sendJsonRpcError(res, 500, -32603, err instanceof Error ? err.message : String(err));
    });
  });
  const port = await listen(server, opts.port ?? 0, host);
  return { url: formatUrl(host, port, SSE_PATH), stats, close: () => shutdown(server, sessions.values()) };
}

/** One session over stdin/stdout; stdout belongs to the protocol, so nothing else prints there. */
async function runStdio(): Promise<void> {
  const transport = new StdioServerTransport();
  const server = createCounterServer();
  await server.connect(transport);
  // The transport does not watch for EOF; a closed stdin means the client is gone.
  process.stdin.once('end', () => {
    void server.close().finally(() => process.exit(0));
  });
}

const USAGE = 'usage: counter-server (--stdio | --http --port N [--host H] [--json] | --sse --port N [--host H])';

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      stdio: { type: 'boolean', default: false },
      http: { type: 'boolean', default: false },
      sse: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
    },
    strict: true,
  });
  const modes = [values.stdio, values.http, values.sse].filter(Boolean).length;
  if (modes !== 1) throw new Error(USAGE);
  if (values.stdio) return runStdio();

  const port = Number(values.port ?? 'NaN');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535\n${USAGE}`);
  const running = values.http
    ? await startCounterHttp({ port, host: values.host, jsonResponse: values.json })
    : await startCounterSse({ port, host: values.host });
  process.stdout.write(`listening ${running.url}\n`);
  const stop = (): void => {
    void running.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// Run only as a program: tests import this module for its exports.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
