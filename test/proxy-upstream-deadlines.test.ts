/**
 * Deadlines that fit human-in-the-loop calls (issue 8, defect 8): `request_ms` used to be fixed
 * from the request's start, so an elicitation a person answers later than that timed out anyway.
 * Activity in the session (a server request waiting for the client, progress, the client's
 * answer) now extends a call's deadline, never past `timeouts.max_request_ms` from its start.
 * The timeouts here are short on purpose: request_ms 1 s.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { type FeatureUpstream, startFeatureUpstream } from './helpers/sdk-upstream-features.js';
import { startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let upstream: FeatureUpstream;
let proxy: ProxyHandle;

const dest = (name: string, url: string, maxMs: number): string =>
  `  ${name}:\n    transport: streamable_http\n    url: ${url}\n    timeouts: { request_ms: 1000, max_request_ms: ${maxMs} }\n`;

before(async () => {
  upstream = await startFeatureUpstream({ eventStore: false });
  proxy = await startTestProxy(dest('web', upstream.url, 20_000) + dest('capped', upstream.url, 2_500));
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

async function person(destName: string, answerAfterMs: number): Promise<Client> {
  const client = new Client({ name: 'hitl', version: '1' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => {
    await sleep(answerAfterMs); // a person reading the question
    return { action: 'accept', content: { name: 'Ada' } };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/${destName}/mcp`)));
  return client;
}

test('an elicitation answered after 3 s (request_ms 1 s) completes the call', async () => {
  const client = await person('web', 3000);
  try {
    const r = await client.callTool({ name: 'elicit', arguments: {} }, undefined, { timeout: 15_000 });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Ada' }]);
  } finally {
    await client.close();
  }
});

test('progress every 400 ms keeps a 2.4 s call (request_ms 1 s) alive', async () => {
  const client = await person('web', 0);
  try {
    const progress: number[] = [];
    const r = await client.callTool({ name: 'progress', arguments: { n: 6, ms: 400 } }, undefined, {
      timeout: 15_000, onprogress: (p) => progress.push(p.progress),
    });
    assert.deepEqual(r.content, [{ type: 'text', text: 'done' }]);
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6]);
  } finally {
    await client.close();
  }
});

test('activity never extends a call past max_request_ms', async () => {
  const client = await person('capped', 6000);
  try {
    const started = Date.now();
    await assert.rejects(client.callTool({ name: 'elicit', arguments: {} }, undefined, { timeout: 15_000 }), /max_request_ms/);
    const took = Date.now() - started;
    assert.ok(took >= 2000 && took < 5500, `failed at the cap (2.5 s), after ${took} ms`);
  } finally {
    await client.close();
  }
});
