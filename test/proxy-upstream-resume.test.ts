/**
 * 2025-11-25 SSE polling and resumability toward the upstream (issue 8, defects 4, 5, 6, 13), with
 * a real SDK server that has an event store and closes streams on purpose:
 *  - a POST reply stream closed after its priming event is not the end of the reply: the proxy
 *    comes back with GET + Last-Event-ID (after `retry:`) until the response arrives;
 *  - a standalone GET stream the server closes (polling) is reconnected with Last-Event-ID, and
 *    clean closes never use up the reconnect budget; a first GET that fails is retried;
 *  - the idle health probe does not leave an upstream connection behind.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FeatureUpstream, startFeatureUpstream } from './helpers/sdk-upstream-features.js';
import { connectStreamable } from './helpers/mcp-client.js';
import { httpYaml, startTestProxy, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

/** A tools/call that fails in 10 s instead of the SDK's 60 s, so a hang reads as a failure. */
async function callText(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 10_000 });
  const first = (r.content as Array<{ type: string; text?: string }>).find((x) => x.type === 'text');
  if (r.isError || first?.text === undefined) throw new Error(`tool ${name} failed: ${first?.text ?? 'no text'}`);
  return first.text;
}

let upstream: FeatureUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startFeatureUpstream({ retryMs: 50, pollMs: 300 });
  proxy = await startTestProxy(`${httpYaml('web', upstream.url)}    timeouts: { request_ms: 8000 }\n`);
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

test('a reply stream the upstream closes after its priming event is resumed with GET + Last-Event-ID', async () => {
  const logs: unknown[] = [];
  const c = await connectStreamable(`${proxy.url}/web/mcp`, { onLog: (d) => logs.push(d) });
  const getsBefore = upstream.gets.length;
  const started = Date.now();
  const text = await callText(c.client, 'poll', { text: 'resumed' });
  assert.equal(text, 'resumed');
  assert.ok(Date.now() - started < 6000, 'answered after the poll, not after a timeout');
  const resumes = upstream.gets.slice(getsBefore).filter((id) => id !== undefined && !id.startsWith('_GET_stream'));
  assert.ok(resumes.length >= 1, `the proxy resumed the reply stream with Last-Event-ID (GETs: ${JSON.stringify(upstream.gets)})`);
  await waitFor(() => logs.includes('polled resumed'), 3000, 'the notification sent while the stream was closed');
  // Twice in a row on the same session: the resumed exchange released everything it held.
  assert.equal(await callText(c.client, 'poll', { text: 'again' }), 'again');
  await c.close();
});

test('a standalone GET stream the upstream keeps closing is reconnected without ending the session', async () => {
  const logs: unknown[] = [];
  const c = await connectStreamable(`${proxy.url}/web/mcp`, { onLog: (d) => logs.push(d) });
  // Let the SDK client open its GET stream and the proxy open the upstream's.
  await waitFor(() => upstream.gets.some((id) => id === undefined), 3000, 'the upstream GET stream');
  // One event with an id on the standalone stream, so reconnects have a Last-Event-ID to send.
  await sleep(200);
  assert.equal(await callText(c.client, 'log_standalone', { text: 'first' }), 'sent');
  await waitFor(() => logs.includes('first'), 4000, 'a standalone notification');
  const firstReconnect = upstream.gets.length;
  for (let i = 0; i < 8; i++) {
    await sleep(250); // a polling server keeps each stream up a little while
    const before = upstream.gets.length;
    assert.equal(await callText(c.client, 'close_get'), 'closed');
    await waitFor(() => upstream.gets.length > before, 4000, `GET reconnect ${i + 1}`);
  }
  // The reconnects carried the stream's last event id (the priming event's, at least).
  const reconnects = upstream.gets.slice(firstReconnect);
  assert.ok(reconnects.length >= 8 && reconnects.every((id) => id?.startsWith('_GET_stream') === true), `GET reconnects with Last-Event-ID: ${JSON.stringify(reconnects)}`);
  await sleep(200);
  assert.equal(await callText(c.client, 'log_standalone', { text: 'still here' }), 'sent');
  await waitFor(() => logs.includes('still here'), 4000, 'a standalone notification after 8 closes');
  assert.equal(await callText(c.client, 'log_standalone', { text: 'session alive' }), 'sent', 'the session was not declared gone');
  await c.close();
});

test('a first upstream GET that fails is retried', async () => {
  const flaky = await startFeatureUpstream({ failFirstGets: 2 });
  const p = await startTestProxy(httpYaml('web', flaky.url));
  try {
    const logs: unknown[] = [];
    const c = await connectStreamable(`${p.url}/web/mcp`, { onLog: (d) => logs.push(d) });
    await waitFor(() => flaky.gets.length >= 3, 6000, 'GET retried after two 503s');
    await sleep(300);
    assert.equal(await callText(c.client, 'log_standalone', { text: 'after retry' }), 'sent');
    await waitFor(() => logs.includes('after retry'), 4000, 'standalone notification through the retried GET');
    await c.close();
  } finally {
    await p.close();
    await flaky.close();
  }
});

test('the idle health probe leaves no upstream connection behind', async () => {
  const counted = await startFeatureUpstream();
  const p = await startTestProxy(httpYaml('web', counted.url), 'health_probe_after_ms: 100\n');
  try {
    const c = await connectStreamable(`${p.url}/web/mcp`);
    assert.equal(await callText(c.client, 'close_get'), 'closed');
    await sleep(300);
    const before = counted.openConnections();
    for (let i = 0; i < 8; i++) {
      await sleep(200); // idle past health_probe_after_ms: the next call is probed first
      assert.equal(await callText(c.client, 'log_standalone', { text: `n${i}` }), 'sent');
    }
    await sleep(200);
    const grown = counted.openConnections() - before;
    assert.ok(grown <= 2, `8 probed calls opened ${grown} more upstream connections (before: ${before})`);
    await c.close();
  } finally {
    await p.close();
    await counted.close();
  }
});
