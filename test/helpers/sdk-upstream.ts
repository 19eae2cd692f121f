/**
 * A minimal real MCP upstream for tests: the SDK's McpServer behind node:http on 127.0.0.1:0, over
 * Streamable HTTP (stateful) or the legacy HTTP+SSE transport. Tools:
 *  - `echo {text}` -> text content `text`
 *  - `notify {text}` -> sends a `notifications/message` (logging) first, then returns `done`
 *  - `ask_unrelated {text}` -> a sampling request on the standalone stream, returns its text
 * `buildRichServer` adds (for virtual servers): `add_tool {name}` -> registers tool `name` (the SDK
 * then sends notifications/tools/list_changed), `progress`, `wait_cancel`, prompt `greet {who}`,
 * resource `note://hello`, template `note://{name}`.
 * Every request's method, URL and headers are recorded for assertions.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { Server as SdkServer } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, SubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface SdkUpstream {
  /** Streamable HTTP: the MCP endpoint. Legacy: the SSE GET URL. */
  url: string;
  seen: SeenRequest[];
  /** Session ids the server saw closed by a client DELETE (Streamable HTTP). */
  closedSessions: string[];
  /** Legacy: end every open SSE stream from the server side. */
  dropStreams(): Promise<void>;
  close(): Promise<void>;
}

/** How many `wait_cancel` calls saw their request cancelled (any server, any session). */
export const cancelSeen = { count: 0 };

/**
 * A low-level SDK Server whose tools/list pages: `page_0` .. `page_4`, two per page, the cursor
 * being the next offset. tools/call answers with the tool's name. (McpServer never paginates.)
 * resources/subscribe URI -> {} and then notifications/resources/updated for URI.
 */
export function buildPagedServer(): SdkServer {
  const server = new SdkServer({ name: 'paged-upstream', version: '1.0.0' }, { capabilities: { tools: {}, resources: { subscribe: true } } });
  // Subscribing to a URI is answered at once and followed by one resources/updated for it.
  server.setRequestHandler(SubscribeRequestSchema, (req) => {
    setTimeout(() => void server.sendResourceUpdated({ uri: req.params.uri }).catch(() => undefined), 20);
    return {};
  });
  const all = [0, 1, 2, 3, 4].map((i) => ({ name: `page_${i}`, inputSchema: { type: 'object' as const } }));
  server.setRequestHandler(ListToolsRequestSchema, (req) => {
    const from = Number(req.params?.cursor ?? '0');
    const tools = all.slice(from, from + 2);
    return from + 2 < all.length ? { tools, nextCursor: String(from + 2) } : { tools };
  });
  server.setRequestHandler(CallToolRequestSchema, (req) => ({ content: [{ type: 'text', text: req.params.name }] }));
  return server;
}

function buildServer(): McpServer {
  const server = new McpServer({ name: 'test-upstream', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('echo', { description: 'echo', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('notify', { description: 'log then answer', inputSchema: { text: z.string() } }, async ({ text }, extra) => {
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: text } });
    return { content: [{ type: 'text', text: 'done' }] };
  });
  // Sampling NOT tied to the call (no relatedRequestId): the SDK sends it on the standalone GET
  // stream only, as Python's ctx.session.create_message without related_request_id does.
  server.registerTool('ask_unrelated', { description: 'sample on the standalone stream', inputSchema: { text: z.string() } }, async ({ text }) => {
    const r = await server.server.createMessage({ messages: [{ role: 'user', content: { type: 'text', text } }], maxTokens: 10 });
    return { content: [{ type: 'text', text: r.content.type === 'text' ? r.content.text : '?' }] };
  });
  return server;
}

/**
 * buildServer plus what virtual-server tests need (kept out of the default server so other tests'
 * exact tool lists stay as they were): tools `add_tool`, `progress`, `wait_cancel`, prompt
 * `greet`, resource `note://hello`, template `note://{name}`.
 */
export function buildRichServer(): McpServer {
  const server = buildServer();
  server.registerTool('add_tool', { description: 'register a tool at run time', inputSchema: { name: z.string() } }, async ({ name }) => {
    server.registerTool(name, { description: 'added at run time' }, async () => ({ content: [{ type: 'text', text: name }] }));
    return { content: [{ type: 'text', text: 'added' }] };
  });
  server.registerTool('progress', { description: 'two progress notifications, then done' }, async (extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
      for (const progress of [1, 2]) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 2 } });
    }
    return { content: [{ type: 'text', text: token === undefined ? 'no token' : 'done' }] };
  });
  server.registerTool('wait_cancel', { description: 'wait until cancelled (at most 20 s)' }, async (extra) => {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 20_000);
      extra.signal.addEventListener('abort', () => {
        cancelSeen.count++;
        clearTimeout(t);
        resolve();
      });
    });
    return { content: [{ type: 'text', text: 'waited' }] };
  });
  server.registerPrompt('greet', { description: 'greeting', argsSchema: { who: completable(z.string(), (v) => ['ann', 'anna', 'bob'].filter((w) => w.startsWith(v))) } }, ({ who }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `hello ${who}` } }],
  }));
  server.registerResource('hello', 'note://hello', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'hello note' }],
  }));
  server.registerResource('notes', new ResourceTemplate('note://{name}', { list: undefined, complete: { name: (v) => ['abc', 'abd', 'xyz'].filter((n) => n.startsWith(v)) } }), { mimeType: 'text/plain' }, async (uri, { name }) => ({
    contents: [{ uri: uri.href, text: `note ${String(name)}` }],
  }));
  return server;
}

async function listen(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** `port`: listen there instead of a free port (a test restarting an upstream at the same URL). */
export async function startStreamableUpstream(opts: {
  enableJsonResponse: boolean;
  build?: () => McpServer | SdkServer;
  port?: number;
  /** Answer each GET (the standalone stream) only after this long, as a slow server would. */
  getDelayMs?: number;
}): Promise<SdkUpstream> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const seen: SeenRequest[] = [];
  const closedSessions: string[] = [];
  const http = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void (async () => {
      const sid = req.headers['mcp-session-id'];
      if (typeof sid === 'string') {
        const t = transports.get(sid);
        if (t === undefined) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown session"}');
          return;
        }
        if (req.method === 'GET' && opts.getDelayMs !== undefined) await new Promise((r) => setTimeout(r, opts.getDelayMs));
        await t.handleRequest(req, res);
        return;
      }
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: opts.enableJsonResponse,
        onsessioninitialized: (id) => {
          transports.set(id, transport);
        },
        onsessionclosed: (id) => {
          transports.delete(id);
          closedSessions.push(id);
        },
      });
      await (opts.build ?? buildServer)().connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const base = await listen(http, opts.port);
  return {
    url: `${base}/mcp`,
    seen,
    closedSessions,
    dropStreams: async () => undefined,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => undefined);
      await shut(http);
    },
  };
}

export async function startLegacySseUpstream(opts: { build?: () => McpServer } = {}): Promise<SdkUpstream> {
  const transports = new Map<string, SSEServerTransport>();
  const seen: SeenRequest[] = [];
  const http = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/sse') {
        const transport = new SSEServerTransport('/messages', res);
        transports.set(transport.sessionId, transport);
        res.on('close', () => transports.delete(transport.sessionId));
        await (opts.build ?? buildServer)().connect(transport);
        return;
      }
      if (req.method === 'POST' && url.pathname === '/messages') {
        const t = transports.get(url.searchParams.get('sessionId') ?? '');
        if (t === undefined) {
          res.writeHead(404).end('unknown session');
          return;
        }
        await t.handlePostMessage(req, res);
        return;
      }
      res.writeHead(404).end();
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const base = await listen(http);
  return {
    url: `${base}/sse`,
    seen,
    closedSessions: [],
    dropStreams: async () => {
      for (const t of [...transports.values()]) await t.close();
    },
    close: async () => {
      for (const t of [...transports.values()]) await t.close().catch(() => undefined);
      await shut(http);
    },
  };
}
