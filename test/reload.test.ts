/**
 * Config reload: a destination whose connection settings change loses its upstream sessions (the
 * old upstream sees them end, clients get 404 and re-initialize onto the new settings); a
 * destination that did not change keeps its sessions and their state.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { configFromYaml, httpYaml, rawPost, startTestProxy, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let up1: RunningUpstream;
let up2: RunningUpstream;
let steady: RunningUpstream;
let proxy: ProxyHandle;

const yaml = (aUrl: string, extra = ''): string =>
  `listen: { host: 127.0.0.1, port: 0 }\nworkers: 2\nlog_level: silent\n${extra}destinations:\n${httpYaml('a', aUrl)}${httpYaml('b', steady.url)}`;

before(async () => {
  up1 = await startCounterHttp();
  up2 = await startCounterHttp();
  steady = await startCounterHttp();
  proxy = await startTestProxy(httpYaml('a', up1.url) + httpYaml('b', steady.url));
});
after(async () => {
  await proxy.close();
  await Promise.all([up1.close(), up2.close(), steady.close()]);
});

test('changing a destination URL closes its sessions and keeps the others', async () => {
  const a = await connectStreamable(`${proxy.url}/a/mcp`);
  const b = await connectStreamable(`${proxy.url}/b/mcp`);
  assert.equal(await callText(a.client, 'increment'), '1');
  assert.equal(await callText(b.client, 'increment'), '1');
  const aSid = a.sessionId()!;
  const closedBefore = up1.stats.sessionsClosed;

  const result = await proxy.reload(configFromYaml(yaml(up2.url)));
  assert.deepEqual(result.evicted, ['a']);
  assert.equal(result.sessionsClosed, 1);
  assert.deepEqual(result.needsRestart, []);

  await waitFor(() => up1.stats.sessionsClosed === closedBefore + 1, 5000, 'old upstream session to close');
  const r = await rawPost(`${proxy.url}/a/mcp`, '{"jsonrpc":"2.0","id":9,"method":"tools/list"}', { 'mcp-session-id': aSid });
  assert.equal(r.status, 404, 'the evicted session must re-initialize');
  await r.text();

  // The unchanged destination kept its upstream session and its state.
  assert.equal(await callText(b.client, 'increment'), '2');

  // A new session on the changed destination reaches the new upstream.
  const created = up2.stats.sessionsCreated;
  const a2 = await connectStreamable(`${proxy.url}/a/mcp`);
  assert.equal(await callText(a2.client, 'increment'), '1');
  assert.equal(up2.stats.sessionsCreated, created + 1);
  for (const c of [a2, b]) {
    await c.transport.terminateSession();
    await c.close();
  }
  await a.close().catch(() => {});
});

test('start-bound settings are reported, not applied; a removed destination answers 404', async () => {
  const current = proxy.core.config;
  const next = configFromYaml(`listen: { host: 127.0.0.1, port: 1 }\nworkers: 3\nlog_level: silent\ndestinations:\n${httpYaml('b', steady.url)}`);
  const result = await proxy.reload(next);
  assert.deepEqual(result.needsRestart.sort(), ['listen', 'workers']);
  assert.deepEqual(result.evicted, ['a']);
  assert.equal(proxy.core.config.workers, current.workers);
  const r = await rawPost(`${proxy.url}/a/mcp`, '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}');
  assert.equal(r.status, 404);
  await r.text();
});

test('reload gaps: /healthz lists the new destinations, log_level and limits apply, per-destination tuning is reported', async () => {
  const p = await startTestProxy(httpYaml('b', steady.url));
  try {
    const next = configFromYaml(
      `listen: { host: 127.0.0.1, port: 0 }\nworkers: 2\nlog_level: debug\nlimits: { max_pending_pushes: 7 }\ndestinations:\n` +
        httpYaml('b', steady.url).replace(/\n$/, '\n    timeouts: { request_ms: 777 }\n') + httpYaml('c', up2.url),
    );
    const result = await p.reload(next);
    assert.deepEqual(result.added, ['c']);
    assert.deepEqual(result.newSessionsOnly, ['destinations.b.timeouts']);
    assert.deepEqual(result.needsRestart, []);
    const h = (await (await fetch(`${p.url}/healthz`)).json()) as { destinations?: string[] };
    assert.deepEqual(h.destinations?.sort(), ['b', 'c']);
    assert.equal(p.core.log.level, 'debug');
    assert.equal(p.core.config.limits.maxPendingPushes, 7);
  } finally {
    await p.close();
  }
});
