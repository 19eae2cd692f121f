/**
 * A real third-party MCP server behind the proxy: @modelcontextprotocol/server-everything over
 * stdio (one child per client session), driven by the SDK Client over both downstream transports.
 * It exercises what our own example server does not: resources, prompts, structured content,
 * progress notifications tied to a request, and a sampling request answered by the client.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { connectSse, connectStreamable, makeClient } from './helpers/mcp-client.js';
import { startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const require = createRequire(import.meta.url);
const EVERYTHING = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
let proxy: ProxyHandle;

before(async () => {
  proxy = await startTestProxy(`  everything:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EVERYTHING)}, stdio]\n`);
});
after(async () => {
  await proxy.close();
});

async function exercise(client: Client): Promise<void> {
  const tools = (await client.listTools()).tools.map((t) => t.name);
  for (const name of ['echo', 'get-sum', 'trigger-long-running-operation', 'trigger-sampling-request']) assert.ok(tools.includes(name), name);
  const echo = await client.callTool({ name: 'echo', arguments: { message: 'through mithril' } });
  assert.match(JSON.stringify(echo.content), /through mithril/);
  const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
  assert.match(JSON.stringify(sum.content), /42/);
  assert.ok((await client.listResources()).resources.length > 0);
  assert.ok((await client.listPrompts()).prompts.some((p) => p.name === 'simple-prompt'));
}

describe('server-everything behind the proxy', () => {
  test('tools, resources and prompts over Streamable HTTP', async () => {
    const c = await connectStreamable(`${proxy.url}/everything/mcp`);
    await exercise(c.client);
    await c.transport.terminateSession();
    await c.close();
  });

  test('tools, resources and prompts over legacy SSE', async () => {
    const c = await connectSse(`${proxy.url}/everything/sse`);
    await exercise(c.client);
    await c.close();
  });

  test('progress notifications reach the caller; a sampling request is answered by it', async () => {
    const client = makeClient({ onSampling: (prompt) => `sampled:${prompt}` });
    const transport = new StreamableHTTPClientTransport(new URL(`${proxy.url}/everything/mcp`));
    await client.connect(transport);
    const progress: number[] = [];
    const long = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    assert.match(JSON.stringify(long.content), /complete|Long running/i);
    assert.equal(progress.length, 4, `progress events: ${progress.join(',')}`);
    const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 10 } });
    assert.match(JSON.stringify(sampled.content), /sampled:/);
    await transport.terminateSession();
    await client.close();
  });
});
