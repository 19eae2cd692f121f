/**
 * What an HTTP front does with hostile HTTP (issue 9: header floods, huge header values,
 * malformed request lines, missing Host, slow headers). Sends each case once over a raw socket
 * and prints status, time to answer and whether the connection was reset.
 *
 *   node dist/bench/http-limits/probe.js                 # a bare uWS app (the current front)
 *   node dist/bench/http-limits/probe.js --node          # a bare node:http server (maxHeaderSize 16 KiB)
 *   node dist/bench/http-limits/probe.js --port 8080     # any running front on 127.0.0.1
 * Every case is bounded by --timeout ms (default 15000); loopback only.
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { type RawReply, rawHttp } from '../../test/helpers/raw-http.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, node: { type: 'boolean' }, timeout: { type: 'string' }, only: { type: 'string' } } });
const timeoutMs = Number(values.timeout ?? 15000);

function headers(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += `x-h${i}: v\r\n`;
  return out;
}
const GET = (extra: string): string => `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n${extra}connection: close\r\n\r\n`;

const CASES: Array<[string, string | Buffer]> = [
  ['baseline GET', GET('')],
  ['47 extra headers (49 total)', GET(headers(46))],
  ['48 extra headers (50 total)', GET(headers(47))],
  ['100 extra headers', GET(headers(100))],
  ['header value 4 KiB', GET(`x-big: ${'a'.repeat(4 * 1024)}\r\n`)],
  ['header value 16 KiB', GET(`x-big: ${'a'.repeat(16 * 1024)}\r\n`)],
  ['header value 64 KiB', GET(`x-big: ${'a'.repeat(64 * 1024)}\r\n`)],
  ['header value 500 KiB', GET(`x-big: ${'a'.repeat(500 * 1024)}\r\n`)],
  ['URL 64 KiB', `GET /${'a'.repeat(64 * 1024)} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`],
  ['no Host (HTTP/1.1)', 'GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n'],
  ['no Host (HTTP/1.0)', 'GET /healthz HTTP/1.0\r\n\r\n'],
  ['unknown method FOO', 'FOO /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n'],
  ['lower-case method get', 'get /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n'],
  ['method PROPFIND', 'PROPFIND /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n'],
  ['garbage request line', 'HELLO WORLD\r\n\r\n'],
  ['no version', 'GET /healthz\r\nhost: 127.0.0.1\r\n\r\n'],
  ['HTTP/2.0 version', 'GET /healthz HTTP/2.0\r\nhost: 127.0.0.1\r\n\r\n'],
  ['bare LF line ends', 'GET /healthz HTTP/1.1\nhost: 127.0.0.1\nconnection: close\n\n'],
  ['space before colon', GET('x-a : b\r\n')],
  ['header without colon', GET('x-broken\r\n')],
  ['NUL in header value', GET('x-a: b\u0000c\r\n')],
  ['binary junk', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a])],
  ['content-length + chunked', 'POST /x/mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n0\r\n\r\n'],
  ['two content-lengths', 'POST /x/mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nab'],
  ['negative content-length', 'POST /x/mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: -1\r\nconnection: close\r\n\r\n'],
  ['incomplete headers (slow client)', 'GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n'],
];

async function start(): Promise<{ port: number; stop: () => void; what: string }> {
  if (values.port !== undefined) return { port: Number(values.port), stop: () => {}, what: `127.0.0.1:${values.port}` };
  if (values.node) {
    const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 10_000, headersTimeout: 5_000 }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : 0, stop: () => server.close(), what: `node:http ${process.version}` };
  }
  const uws = createRequire(import.meta.url)('@trufflesuite/uws-js-unofficial') as typeof Uws;
  const app = uws.App().any('/*', (res) => {
    res.onData(() => {});
    res.onAborted(() => {});
    res.end('ok');
  });
  const token = await new Promise<Uws.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (t) => (t ? resolve(t) : reject(new Error('listen')))));
  return { port: uws.us_socket_local_port(token), stop: () => uws.us_listen_socket_close(token), what: 'uWS (@trufflesuite/uws-js-unofficial 20.30)' };
}

function describe(r: RawReply): string {
  if (r.status !== 0) return `${r.status} in ${r.ms} ms`;
  if (r.timedOut) return `no answer, still open after ${r.ms} ms`;
  return `${r.reset ? 'reset' : 'closed'} without an answer after ${r.ms} ms`;
}

const target = await start();
console.log(`# ${target.what}`);
await Promise.all(CASES.filter(([name]) => values.only === undefined || name.includes(values.only)).map(async ([name, req]) => {
  const r = await rawHttp(target.port, req, timeoutMs);
  console.log(`${name.padEnd(34)} ${describe(r)}`);
}));
target.stop();
