/**
 * `npm start` serves the built-in demo: the real CLI in a child process, then the SDK client
 * lists and calls the demo's tools through it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { serveCli, stopChild } from './helpers/proxy.js';

test('the demo serves a working stdio destination with no config file', async () => {
  const { child, url } = await serveCli(['--port', '0'], { MITHRIL_CONFIG: '' });
  try {
    const c = await connectStreamable(`${url}/demo/mcp`);
    const tools = await c.client.listTools();
    const names = tools.tools.map((t) => t.name);
    for (const n of ['increment', 'get', 'echo']) assert.ok(names.includes(n), `demo exposes ${n}`);
    assert.equal(await callText(c.client, 'increment'), '1');
    assert.equal(await callText(c.client, 'echo', { text: 'hello' }), 'hello');
    await c.transport.terminateSession();
    await c.close();
  } finally {
    assert.equal(await stopChild(child), 0, 'SIGTERM shuts down cleanly');
  }
});
