/**
 * A deliberately minimal MCP server that answers at once, so a benchmark measures the proxy in front
 * of it and not the upstream. No SDK and no schema validation: it reads only the envelope fields it
 * needs and writes replies by string concatenation.
 *
 *   node dist/examples/fast-upstream.js --http --port 9001 [--host 127.0.0.1]
 *   node dist/examples/fast-upstream.js --stdio
 *
 * Tools: `echo` (returns `arguments.text`) and `flood` (`arguments: { count, size }`: answers with an SSE
 * stream of `count` notifications/message of about `size` bytes each, then the result: the
 * server→client notification-stream benchmark). Also answers `initialize`, `tools/list`, `ping`.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chooseFront } from '../src/acceptor/front.js';

const MAX_BODY = 4 * 1024 * 1024;
const DEFAULT_PROTOCOL = '2025-11-25';
const SERVER_INFO = '{"name":"fast-upstream","version":"1.0.0"}';
const TOOLS_LIST =
  '{"tools":[{"name":"echo","description":"Echoes arguments.text","inputSchema":' +
  '{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}]}';

/** What one inbound JSON-RPC frame produced. `body` undefined = no reply (a notification). */
export interface FrameResult {
  body: string | undefined;
  /** True for `initialize`: the HTTP side mints a session for it. */
  initialize: boolean;
  /** For `flood`: send this many notifications before `body`. */
  flood?: { count: number; size: number };
}

/** Bounds of one `flood` call, so a client cannot make the upstream write without end. */
export const FLOOD_MAX_COUNT = 1_000_000;
export const FLOOD_MAX_SIZE = 64 * 1024;

/** The `seq`-th notification of a flood: a notifications/message whose JSON is about `size` bytes. */
export function floodNotification(seq: number, size: number): string {
  const head = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"' + seq + ':';
  const tail = '"}}';
  return head + 'x'.repeat(Math.max(0, size - head.length - tail.length)) + tail;
}

const NO_REPLY: FrameResult = { body: undefined, initialize: false };

/**
 * Returns the raw JSON text of the top-level `"id"` member, so the reply carries the id exactly as the
 * client wrote it (1.0 stays 1.0). Scans one level deep, skipping strings and nested values.
 */
export function rawTopLevelId(text: string): string | undefined {
  let depth = 0;
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i = skipString(text, i);
      if (depth === 1 && expectKey && text.slice(start, i + 1) === '"id"') {
        let j = i + 1;
        while (j < n && text.charCodeAt(j) !== 0x3a /* : */) j++;
        j++;
        while (j < n && isSpace(text.charCodeAt(j))) j++;
        return text.slice(j, valueEnd(text, j));
      }
      expectKey = false;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      expectKey = depth === 1;
    }
  }
  return undefined;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Index of the closing quote of the string that starts at `i`. */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22) return i;
  }
  return i;
}

/** End (exclusive) of the JSON value starting at `j`. */
function valueEnd(text: string, j: number): number {
  const c = text.charCodeAt(j);
  if (c === 0x22) return skipString(text, j) + 1;
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let k = j; k < text.length; k++) {
      const d = text.charCodeAt(k);
      if (d === 0x22) k = skipString(text, k);
      else if (d === 0x7b || d === 0x5b) depth++;
      else if ((d === 0x7d || d === 0x5d) && --depth === 0) return k + 1;
    }
    return text.length;
  }
  let k = j;
  while (k < text.length) {
    const d = text.charCodeAt(k);
    if (d === 0x2c || d === 0x7d || d === 0x5d || isSpace(d)) break;
    k++;
  }
  return k;
}

interface Frame {
  method?: unknown;
  params?: { name?: unknown; arguments?: { text?: unknown; count?: unknown; size?: unknown }; protocolVersion?: unknown };
}

function result(rawId: string, resultJson: string): string {
  return '{"jsonrpc":"2.0","id":' + rawId + ',"result":' + resultJson + '}';
}

function rpcError(rawId: string, code: number, message: string): string {
  return '{"jsonrpc":"2.0","id":' + rawId + ',"error":{"code":' + code + ',"message":' + JSON.stringify(message) + '}}';
}

/** Handles one JSON-RPC frame (transport-independent). */
export function handleFrame(text: string): FrameResult {
  let frame: Frame;
  try {
    frame = JSON.parse(text) as Frame;
  } catch {
    return { body: rpcError('null', -32700, 'parse error'), initialize: false };
  }
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return { body: rpcError('null', -32600, 'invalid request'), initialize: false };
  }
  const rawId = rawTopLevelId(text);
  // Notifications and client responses (no method) get no reply.
  if (rawId === undefined || typeof frame.method !== 'string') return NO_REPLY;
  switch (frame.method) {
    case 'tools/call': {
      const args = frame.params?.arguments;
      if (frame.params?.name === 'flood') {
        const count = Number(args?.count);
        const size = Number(args?.size);
        if (!Number.isInteger(count) || count < 0 || count > FLOOD_MAX_COUNT || !Number.isInteger(size) || size < 0 || size > FLOOD_MAX_SIZE) {
          return { body: rpcError(rawId, -32602, `flood needs integer count 0..${FLOOD_MAX_COUNT} and size 0..${FLOOD_MAX_SIZE}`), initialize: false };
        }
        return { body: result(rawId, '{"content":[{"type":"text","text":"flooded ' + count + '"}]}'), initialize: false, flood: { count, size } };
      }
      const echoed = typeof args?.text === 'string' ? args.text : JSON.stringify(args ?? null);
      return {
        body: result(rawId, '{"content":[{"type":"text","text":' + JSON.stringify(echoed) + '}]}'),
        initialize: false,
      };
    }
    case 'initialize': {
      const asked = frame.params?.protocolVersion;
      const version = typeof asked === 'string' ? asked : DEFAULT_PROTOCOL;
      return {
        body: result(
          rawId,
          '{"protocolVersion":' + JSON.stringify(version) + ',"capabilities":{"tools":{}},"serverInfo":' + SERVER_INFO + '}',
        ),
        initialize: true,
      };
    }
    case 'tools/list':
      return { body: result(rawId, TOOLS_LIST), initialize: false };
    case 'ping':
      return { body: result(rawId, '{}'), initialize: false };
    default:
      return { body: rpcError(rawId, -32601, 'method not found: ' + frame.method), initialize: false };
  }
}

export interface FastUpstream {
  /** The MCP endpoint, e.g. http://127.0.0.1:40123/mcp */
  url: string;
  port: number;
  close(): void;
}

/**
 * Starts the Streamable HTTP server on the proxy's own HTTP front (native uWebSockets.js where a
 * binding loads, else node:http; MITHRIL_FRONT forces one), so a benchmark's direct path is
 * served the way the proxy serves. Resolves once it listens.
 */
export async function startFastUpstream(opts: { port?: number; host?: string } = {}): Promise<FastUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const { front } = chooseFront();
  const sessions = new Set<string>();
  const app = front.createApp();

  app.post('/mcp', (res, req) => {
    // req is only valid now: copy what we need before any callback.
    const sid = req.getHeader('mcp-session-id');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    let chunks: Buffer[] | undefined;
    let size = 0;
    res.onData((chunk, isLast) => {
      if (aborted) return;
      size += chunk.byteLength;
      if (size > MAX_BODY) {
        aborted = true;
        res.cork(() => res.writeStatus('413 Payload Too Large').writeHeader('Connection', 'close').end());
        return;
      }
      if (!isLast) {
        // Chunks are detached after this callback returns: copy.
        (chunks ??= []).push(Buffer.from(chunk.slice(0)));
        return;
      }
      const text =
        chunks === undefined
          ? Buffer.from(chunk).toString('utf8')
          : Buffer.concat([...chunks, Buffer.from(chunk)]).toString('utf8');
      reply(text);
    });

    /** Writes the flood as SSE, pausing whenever uWS buffers (write() false) until the socket drains. */
    function streamFlood(flood: { count: number; size: number }, final: string): void {
      res.writeStatus('200 OK').writeHeader('Content-Type', 'text/event-stream').writeHeader('Cache-Control', 'no-cache');
      let seq = 0;
      const pump = (): void => {
        while (seq < flood.count) {
          const ok = res.write('event: message\ndata: ' + floodNotification(seq++, flood.size) + '\n\n');
          if (!ok) return; // resumed by onWritable
        }
        res.end('event: message\ndata: ' + final + '\n\n');
        seq = Number.POSITIVE_INFINITY;
      };
      res.onWritable(() => {
        if (!aborted && seq <= flood.count) res.cork(pump);
        return true;
      });
      pump();
    }

    function reply(text: string): void {
      const out = handleFrame(text);
      res.cork(() => {
        if (out.initialize) {
          const newSid = randomUUID();
          sessions.add(newSid);
          res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').writeHeader('Mcp-Session-Id', newSid);
          res.end(out.body);
          return;
        }
        if (sid === '') {
          res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'application/json');
          res.end(rpcError('null', -32600, 'missing Mcp-Session-Id'));
          return;
        }
        if (!sessions.has(sid)) {
          res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json');
          res.end(rpcError('null', -32001, 'unknown session'));
          return;
        }
        if (out.body === undefined) {
          res.writeStatus('202 Accepted').end();
          return;
        }
        if (out.flood !== undefined) {
          streamFlood(out.flood, out.body);
          return;
        }
        res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end(out.body);
      });
    }
  });

  app.del('/mcp', (res, req) => {
    const sid = req.getHeader('mcp-session-id');
    res.writeStatus(sessions.delete(sid) ? '200 OK' : '404 Not Found').end();
  });
  app.get('/mcp', (res) => {
    res.writeStatus('405 Method Not Allowed').writeHeader('Allow', 'POST, DELETE').end();
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });

  const listener = await front.listen(app, host, opts.port ?? 0);
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostInUrl}:${listener.port}/mcp`,
    port: listener.port,
    close() {
      listener.stopAccepting();
      listener.closeAll();
    },
  };
}

/** Serves newline-delimited JSON-RPC on stdin/stdout until stdin ends. */
export function serveStdio(): void {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    pending += chunk;
    let out = '';
    let start = 0;
    let nl: number;
    while ((nl = pending.indexOf('\n', start)) !== -1) {
      const line = pending.slice(start, nl).trim();
      start = nl + 1;
      if (line.length === 0) continue;
      const r = handleFrame(line);
      if (r.flood !== undefined) {
        // Writing a flood here would buffer it all in memory (stdout is not paced by this loop): HTTP only.
        out += rpcError(rawTopLevelId(line) ?? 'null', -32602, 'flood is served over --http only') + '\n';
        continue;
      }
      if (r.body !== undefined) out += r.body + '\n';
    }
    pending = pending.slice(start);
    // One write per input chunk: replies to a burst leave together.
    if (out.length > 0) process.stdout.write(out);
  });
  process.stdin.on('end', () => process.exit(0));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      http: { type: 'boolean', default: false },
      stdio: { type: 'boolean', default: false },
      port: { type: 'string', default: '9001' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  if (values.stdio === values.http) {
    process.stderr.write('usage: fast-upstream (--http --port N [--host H] | --stdio)\n');
    process.exit(2);
  }
  if (values.stdio) {
    serveStdio();
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`fast-upstream: bad --port ${values.port}\n`);
    process.exit(2);
  }
  const server = await startFastUpstream({ port, host: values.host });
  process.stdout.write(`listening ${server.url}\n`);
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`fast-upstream: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
