/**
 * The MCP Inspector's CLI (a client people really use to poke at servers) lists and calls the
 * demo's tools through the proxy: `mithril-proxy serve --port 0` as a real process with the
 * built-in demo config (the counter server over stdio), the Inspector as a real Node 22 process
 * over Streamable HTTP. Every Inspector run is its own MCP session, so it gets its own counter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inspectorCli, inspectorInstallMs, inspectorLauncher } from './helpers/inspector.js';
import { type ServedCli, serveCli, stopChild } from './helpers/proxy.js';

let proxy: ServedCli;
let url: string;

before(async () => {
  inspectorLauncher(); // install on first use, outside every test's own time
  if (inspectorInstallMs() > 0) console.log(`# installed the MCP Inspector in ${inspectorInstallMs()} ms`);
  proxy = await serveCli(['--port', '0']);
  url = `${proxy.url}/demo/mcp`;
}, { timeout: 300_000 }); // a first install of the Inspector takes 15–40 s

after(async () => {
  if (proxy) await stopChild(proxy.child);
});

interface ToolList { tools: { name: string; inputSchema?: { properties?: Record<string, unknown> } }[] }
interface CallResult { content: { type: string; text?: string }[]; structuredContent?: { value?: number }; isError?: boolean }

describe('MCP Inspector CLI through the proxy', () => {
  test('tools/list shows the demo tools with their input schemas', async () => {
    const list = (await inspectorCli([url, '--transport', 'http', '--method', 'tools/list'])) as ToolList;
    const names = list.tools.map((t) => t.name);
    for (const name of ['increment', 'get', 'echo']) assert.ok(names.includes(name), `${name} missing from ${names.join(', ')}`);
    const increment = list.tools.find((t) => t.name === 'increment')!;
    assert.ok(increment.inputSchema?.properties?.by, 'increment takes `by`');
  });

  test('tools/call increment returns the new value; a second Inspector run is a new session', async () => {
    const args = [url, '--transport', 'http', '--method', 'tools/call', '--tool-name', 'increment', '--tool-arg', 'by=5'];
    const first = (await inspectorCli(args)) as CallResult;
    assert.notEqual(first.isError, true);
    assert.equal(first.structuredContent?.value, 5);
    assert.deepEqual(first.content, [{ type: 'text', text: '5' }]);
    // Its own session, so its own child process and counter: 5 again, not 10.
    const second = (await inspectorCli(args)) as CallResult;
    assert.equal(second.structuredContent?.value, 5);
  });

  test('tools/call echo passes a string argument through unchanged', async () => {
    const r = (await inspectorCli([url, '--transport', 'http', '--method', 'tools/call', '--tool-name', 'echo',
      '--tool-arg', 'text=through mithril'])) as CallResult;
    assert.deepEqual(r.content, [{ type: 'text', text: 'through mithril' }]);
  });
});
