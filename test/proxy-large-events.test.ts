/**
 * Large messages are not held back on SSE streams (issue 8, item 11): a 5 MB server message on a
 * GET stream or a legacy stream sat at ~3.9 MB until the next keep-alive comment pushed it out
 * (15 s by default), because uWS sends what it buffered only on the next write. With keep-alive
 * comments set far apart here, the whole message must arrive in a few seconds.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { rawPost, rawSession, startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

const EMITTER = fileURLToPath(new URL('../../test/fixtures/stdio/emitter.mjs', import.meta.url));
const SIZE = 5_000_000;
let proxy: ProxyHandle;

before(async () => {
  proxy = await startTestProxy(
    `  emit:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EMITTER)}]\n    stdio: { max_line_bytes: 8388608 }\n`,
    'sse_keepalive_ms: 60000\n',
  );
});
after(() => proxy.close());

/** Bytes received on `res` until `want` arrived; rejects if that takes longer than `ms`. */
function receive(res: http.IncomingMessage, want: number, ms: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let got = 0;
    const t = setTimeout(() => reject(new Error(`only ${got} of ${want} bytes after ${ms} ms`)), ms);
    res.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= want) {
        clearTimeout(t);
        resolve(Date.now() - started);
      }
    });
  });
}

test('a 5 MB notification on a GET stream arrives whole, without waiting for a keep-alive', async () => {
  const url = `${proxy.url}/emit/mcp`;
  const sid = await rawSession(url);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid } }, resolve).on('error', reject);
  });
  try {
    const arrived = receive(res, SIZE, 8000);
    const call = await rawPost(url, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"emit","arguments":{"size":${SIZE}}}}`, { 'mcp-session-id': sid });
    assert.equal(call.status, 200);
    await call.text();
    await arrived;
  } finally {
    res.destroy();
  }
});

test('a 5 MB message on a legacy SSE stream arrives whole, without waiting for a keep-alive', async () => {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${proxy.url}/emit/sse`, { headers: { accept: 'text/event-stream' } }, resolve).on('error', reject);
  });
  try {
    res.setEncoding('utf8');
    const endpoint = await new Promise<string>((resolve) => {
      let buf = '';
      const onData = (c: string): void => {
        buf += c;
        const m = /event: endpoint\ndata: (\S+)/.exec(buf);
        if (m) {
          res.off('data', onData);
          resolve(m[1]!);
        }
      };
      res.on('data', onData);
    });
    const post = (body: string): Promise<Response> => fetch(new URL(endpoint, `${proxy.url}/emit/sse`), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const init = await post('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}');
    assert.equal(init.status, 202);
    await init.text();
    const arrived = receive(res, SIZE, 8000);
    const call = await post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"emit","arguments":{"size":${SIZE}}}}`);
    assert.equal(call.status, 202);
    await call.text();
    await arrived;
  } finally {
    res.destroy();
  }
});
