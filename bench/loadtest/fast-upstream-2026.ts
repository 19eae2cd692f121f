/**
 * The fast upstream (examples/fast-upstream.ts) as a session-less MCP 2026-07-28 server, for the
 * bench:compare row of the 2026 pass-through: the same HTTP front and the same frame handler
 * (`handleFrame`, envelope scan + string concatenation), so the session path (target c) and the
 * session-less one (target p) reach the same kind of upstream and differ only in the protocol.
 *
 *   node dist/bench/loadtest/fast-upstream-2026.js --port 0     # prints "listening URL"
 *
 * Every POST must say `MCP-Protocol-Version: 2026-07-28` (else 400 -32022); there is no session,
 * no initialize and no GET stream. Results get `resultType: "complete"` (required in 2026). The
 * request's headers and `_meta` are not checked further: the proxy in front does that, and a
 * benchmark upstream should cost as little as possible.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chooseFront } from '../../src/acceptor/front.js';
import { handleFrame } from '../../examples/fast-upstream.js';

export const VERSION_2026 = '2026-07-28';
const MAX_BODY = 4 * 1024 * 1024;
const UNSUPPORTED = `{"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["${VERSION_2026}"]}}}`;

export interface FastUpstream2026 {
  url: string;
  port: number;
  close(): void;
}

/** `"result":{` → `"result":{"resultType":"complete",` (the first one is the envelope's: it precedes the content). */
function withResultType(body: string): string {
  const at = body.indexOf('"result":{');
  if (at < 0) return body;
  const cut = at + '"result":{'.length;
  return body.slice(0, cut) + '"resultType":"complete",' + body.slice(cut);
}

export async function startFastUpstream2026(opts: { port?: number; host?: string } = {}): Promise<FastUpstream2026> {
  const host = opts.host ?? '127.0.0.1';
  const { front } = chooseFront();
  const app = front.createApp();

  app.post('/mcp', (res, req) => {
    const version = req.getHeader('mcp-protocol-version');
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
        (chunks ??= []).push(Buffer.from(chunk.slice(0)));
        return;
      }
      const text = chunks === undefined ? Buffer.from(chunk).toString('utf8') : Buffer.concat([...chunks, Buffer.from(chunk)]).toString('utf8');
      res.cork(() => {
        if (version !== VERSION_2026) {
          res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'application/json').end(UNSUPPORTED);
          return;
        }
        const out = handleFrame(text);
        // 2026 has no client notifications on HTTP, and no flood here (a session-era benchmark tool).
        if (out.body === undefined) {
          res.writeStatus('202 Accepted').end();
          return;
        }
        res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end(withResultType(out.body));
      });
    });
  });
  app.get('/mcp', (res) => {
    res.writeStatus('405 Method Not Allowed').writeHeader('Allow', 'POST').end();
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });

  const listener = await front.listen(app, host, opts.port ?? 0);
  return {
    url: `http://${host}:${listener.port}/mcp`,
    port: listener.port,
    close() {
      listener.stopAccepting();
      listener.closeAll();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${values.port}`);
  const server = await startFastUpstream2026({ port, host: values.host });
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
    process.stderr.write(`fast-upstream-2026: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
