/**
 * `npm start` serves the built-in demo: the real CLI in a child process, then the SDK client
 * lists and calls the demo's tools through it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { stopChild } from './helpers/proxy.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

test('the demo serves a working stdio destination with no config file', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MITHRIL_CONFIG: '' } });
  try {
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${err}`)), 15_000);
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        err += d;
        const m = /listening on (http:\/\/[^\s]+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`cli exited ${code}: ${err}`)));
    });
    child.stdout.resume();
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
