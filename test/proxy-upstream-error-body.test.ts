/**
 * Upstream error bodies reach the client as they are (issue 8, defect 9): an upstream that answers
 * 400 with a JSON-RPC error (its code, its message) used to become "502 upstream answered 400"
 * (E_UPSTREAM_STATUS). Client errors keep their status, server errors become 502, both with the
 * upstream's body; bodies that are not JSON-RPC errors (HTML error pages) still map to
 * E_UPSTREAM_STATUS.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectSse } from './helpers/mcp-client.js';
import { INIT_BODY, httpYaml, rawPost, startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let server: Server;
let proxy: ProxyHandle;

function rpcError(id: unknown, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code, message, data: { from: 'upstream' } } });
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method?: string; params?: { name?: string } };
      if (msg.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'e1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } } }));
        return;
      }
      if (msg.id === undefined) return void res.writeHead(202).end();
      switch (msg.params?.name) {
        case 'bad-args':
          return void res.writeHead(400, { 'content-type': 'application/json' }).end(rpcError(msg.id, -32602, 'Invalid params: text is required'));
        case 'boom':
          return void res.writeHead(500, { 'content-type': 'application/json' }).end(rpcError(msg.id, -32603, 'database is down'));
        case 'html':
          return void res.writeHead(400, { 'content-type': 'text/html' }).end('<h1>Bad Request</h1>');
        default:
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [] } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  proxy = await startTestProxy(httpYaml('web', url));
});
after(async () => {
  await proxy.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function session(url: string): Promise<Record<string, string>> {
  const r = await rawPost(url, INIT_BODY);
  assert.equal(r.status, 200);
  await r.text();
  return { 'mcp-session-id': r.headers.get('mcp-session-id') as string, 'mcp-protocol-version': '2025-06-18' };
}

const call = (id: number, name: string): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

test("an upstream 400 with a JSON-RPC error reaches the client as the upstream's 400 and body", async () => {
  const url = `${proxy.url}/web/mcp`;
  const h = await session(url);
  const r = await rawPost(url, call(7, 'bad-args'), h);
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), JSON.parse(rpcError(7, -32602, 'Invalid params: text is required')));
});

test("an upstream 500 with a JSON-RPC error becomes 502 with the upstream's body", async () => {
  const url = `${proxy.url}/web/mcp`;
  const h = await session(url);
  const r = await rawPost(url, call(8, 'boom'), h);
  assert.equal(r.status, 502);
  assert.deepEqual(await r.json(), JSON.parse(rpcError(8, -32603, 'database is down')));
});

test('an upstream error page that is not JSON-RPC still answers 502 E_UPSTREAM_STATUS with the request id', async () => {
  const url = `${proxy.url}/web/mcp`;
  const h = await session(url);
  const r = await rawPost(url, call(9, 'html'), h);
  assert.equal(r.status, 502);
  const body = (await r.json()) as { id: unknown; error: { data: { code: string } } };
  assert.equal(body.id, 9);
  assert.equal(body.error.data.code, 'E_UPSTREAM_STATUS');
});

test("a legacy SSE client gets the upstream's JSON-RPC error on its stream", async () => {
  const c = await connectSse(`${proxy.url}/web/sse`);
  try {
    await assert.rejects(c.client.callTool({ name: 'bad-args', arguments: {} }), (err: unknown) => {
      assert.ok(err instanceof McpError);
      assert.equal(err.code, -32602);
      assert.match(err.message, /Invalid params: text is required/);
      return true;
    });
  } finally {
    await c.close();
  }
});
