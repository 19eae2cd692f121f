/**
 * What a client sees when the upstream's life and the call's life diverge (issue 8, defect 10 and
 * cancellation):
 *  - a stdio child that exits under a session either ends the session (stdio.on_exit:
 *    end_session, the default: 404, re-initialize) or is restarted with a warning log notification
 *    telling the client the server's state is gone (on_exit: restart), never silently;
 *  - a client that goes away mid-call cancels the call upstream: notifications/cancelled with the
 *    upstream's request id for stdio, the HTTP exchange aborted for Streamable HTTP;
 *  - a client's own notifications/cancelled reaches the upstream.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { makeClient } from './helpers/mcp-client.js';
import { type FeatureUpstream, startFeatureUpstream } from './helpers/sdk-upstream-features.js';
import { httpYaml, rawPost, rawSession, startTestProxy, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

const SERVER = fileURLToPath(new URL('../../test/fixtures/stdio/sdk-stateful.mjs', import.meta.url));
const stdio = (name: string, extra: string): string =>
  `  ${name}:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(SERVER)}]\n    stdio: { restart_backoff_ms: 50, kill_grace_ms: 500${extra} }\n`;

let upstream: FeatureUpstream;
let legacy: FeatureUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startFeatureUpstream();
  legacy = await startFeatureUpstream({ legacy: true });
  proxy = await startTestProxy(stdio('keep', ', on_exit: restart') + stdio('strict', '') + stdio('cancel', '') +
    httpYaml('web', upstream.url) + httpYaml('old', legacy.url, 'sse'));
});
after(async () => {
  await proxy.close();
  await upstream.close();
  await legacy.close();
});

const call = (id: number, name: string, args: Record<string, unknown> = {}): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const hdr = (sid: string): Record<string, string> => ({ 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });

async function toolText(url: string, sid: string, id: number, name: string, args: Record<string, unknown> = {}): Promise<{ status: number; text: string }> {
  const r = await rawPost(url, call(id, name, args), hdr(sid));
  const body = await r.text();
  const m = /"text":"((?:[^"\\]|\\.)*)"/.exec(body);
  return { status: r.status, text: m ? (JSON.parse(`"${m[1]}"`) as string) : body };
}

test('stdio on_exit: restart keeps the session and tells the client its server state was lost', async () => {
  const logs: Array<{ level: string; logger?: string; data: unknown }> = [];
  const client = makeClient();
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params as { level: string; logger?: string; data: unknown });
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/keep/mcp`)));
  try {
    const inc = async (): Promise<string> => {
      const r = await client.callTool({ name: 'increment', arguments: {} });
      return (r.content as Array<{ text: string }>)[0]!.text;
    };
    await inc();
    await inc();
    assert.equal(await inc(), '3');
    await assert.rejects(client.callTool({ name: 'crash', arguments: {} }, undefined, { timeout: 10_000 }));
    await waitFor(() => logs.some((l) => l.logger === 'mithril-proxy'), 8000, 'the restart notification');
    const note = logs.find((l) => l.logger === 'mithril-proxy')!;
    assert.equal(note.level, 'warning');
    assert.match(String(note.data), /restarted.*state.*lost/);
    assert.equal(await inc(), '1', 'a fresh server under the same session, as the client was told');
  } finally {
    await client.close();
  }
});

test('stdio on_exit: end_session (the default) ends the session when the child exits', async () => {
  const url = `${proxy.url}/strict/mcp`;
  const sid = await rawSession(url);
  assert.deepEqual(await toolText(url, sid, 2, 'increment'), { status: 200, text: '1' });
  const crash = await rawPost(url, call(3, 'crash'), hdr(sid));
  assert.equal(crash.status, 502);
  await crash.text();
  let status = 0;
  await waitFor(async () => {
    status = (await toolText(url, sid, 4, 'increment')).status;
    return status !== 200 && status !== 502;
  }, 8000, 'the session to end');
  assert.equal(status, 404, 'the client is told to re-initialize, never handed a fresh server silently');
});

test('a client that disconnects mid-call cancels the stdio request upstream with its id', async () => {
  const url = `${proxy.url}/cancel/mcp`;
  const sid = await rawSession(url);
  const ac = new AbortController();
  const pending = fetch(url, {
    method: 'POST', signal: ac.signal, body: call(41, 'slow', { ms: 20_000 }),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...hdr(sid) },
  }).then((r) => r.text()).catch(() => 'aborted');
  await sleep(500);
  ac.abort();
  assert.equal(await pending, 'aborted');
  let seen: Array<{ requestId: unknown; reason: string }> = [];
  await waitFor(async () => {
    seen = JSON.parse((await toolText(url, sid, 50, 'cancelled')).text) as typeof seen;
    return seen.length > 0;
  }, 5000, 'notifications/cancelled upstream');
  assert.equal(seen[0]!.requestId, 41);
  assert.match(seen[0]!.reason, /disconnected/);
});

test("a client's own notifications/cancelled reaches the stdio upstream", async () => {
  const url = `${proxy.url}/cancel/mcp`;
  const sid = await rawSession(url);
  const pending = rawPost(url, call(42, 'slow', { ms: 3000 }), hdr(sid)).then((r) => r.text());
  await sleep(300);
  const n = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 42, reason: 'user pressed stop' } }), hdr(sid));
  assert.equal(n.status, 202);
  let seen: Array<{ requestId: unknown; reason: string }> = [];
  await waitFor(async () => {
    seen = JSON.parse((await toolText(url, sid, 51, 'cancelled')).text) as typeof seen;
    return seen.length > 0;
  }, 5000, 'the cancellation upstream');
  assert.deepEqual(seen[0], { requestId: 42, reason: 'user pressed stop' });
  void pending.catch(() => undefined);
});

test('a client that disconnects mid-call aborts the Streamable HTTP exchange upstream', async () => {
  const url = `${proxy.url}/web/mcp`;
  const r = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
  await r.text();
  const sid = r.headers.get('mcp-session-id') as string;
  const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  await (await rawPost(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', h)).text();
  const before = upstream.abortedPosts();
  const ac = new AbortController();
  const pending = fetch(url, {
    method: 'POST', signal: ac.signal, body: call(43, 'slow', { ms: 20_000 }),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...h },
  }).then((x) => x.text()).catch(() => 'aborted');
  await sleep(500);
  ac.abort();
  assert.equal(await pending, 'aborted');
  await waitFor(() => upstream.abortedPosts() > before, 5000, 'the upstream POST to be aborted');
  // The client's own cancellation travels as a one-way POST with the same id.
  const n = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 43, reason: 'gone' } }), h);
  assert.equal(n.status, 202);
  await waitFor(() => upstream.postedBodies.some((b) => b.includes('notifications/cancelled') && b.includes('"requestId":43')), 3000, 'notifications/cancelled upstream');
});

test('a client that disconnects mid-call cancels the legacy-SSE upstream request with its id', async () => {
  const url = `${proxy.url}/old/mcp`;
  const sid = await rawSession(url);
  const ac = new AbortController();
  const pending = fetch(url, {
    method: 'POST', signal: ac.signal, body: call(44, 'slow', { ms: 20_000 }),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...hdr(sid) },
  }).then((r) => r.text()).catch(() => 'aborted');
  await sleep(500);
  ac.abort();
  assert.equal(await pending, 'aborted');
  await waitFor(() => legacy.cancelled.includes('44'), 5000, 'the legacy upstream to cancel request 44');
  assert.ok(legacy.postedBodies.some((b) => b.includes('notifications/cancelled') && b.includes('"requestId":44')));
});
