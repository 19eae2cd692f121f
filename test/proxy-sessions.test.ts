/**
 * The spine's promises, end to end through a real proxy: one upstream session per downstream
 * session, reused for its whole life, closed on DELETE, and server traffic kept to its owner.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RunningUpstream, counterServerPath, startCounterHttp } from './helpers/counter-upstream.js';
import { callText, connectStreamable } from './helpers/mcp-client.js';
import { httpYaml, pidAlive, rawPost, rawSession, startTestProxy, stdioCounterYaml, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

let upstream: RunningUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startCounterHttp();
  proxy = await startTestProxy(httpYaml('web', upstream.url) + stdioCounterYaml('local', counterServerPath()));
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

async function whoami(client: Parameters<typeof callText>[0]): Promise<{ instance: string; pid: number }> {
  return JSON.parse(await callText(client, 'whoami')) as { instance: string; pid: number };
}

describe('counter isolation: A=5, B=3, exactly two upstream sessions', () => {
  test('over Streamable HTTP upstream', async () => {
    const before = upstream.stats.sessionsCreated;
    const a = await connectStreamable(`${proxy.url}/web/mcp`);
    const b = await connectStreamable(`${proxy.url}/web/mcp`);
    try {
      for (let i = 0; i < 5; i++) await callText(a.client, 'increment');
      for (let i = 0; i < 3; i++) await callText(b.client, 'increment');
      assert.equal(await callText(a.client, 'get'), '5');
      assert.equal(await callText(b.client, 'get'), '3');
      assert.equal(upstream.stats.sessionsCreated - before, 2);
      assert.notEqual((await whoami(a.client)).instance, (await whoami(b.client)).instance);
    } finally {
      await a.transport.terminateSession();
      await b.transport.terminateSession();
      await a.close();
      await b.close();
    }
  });

  test('over stdio upstream (one child each)', async () => {
    const a = await connectStreamable(`${proxy.url}/local/mcp`);
    const b = await connectStreamable(`${proxy.url}/local/mcp`);
    try {
      for (let i = 0; i < 5; i++) await callText(a.client, 'increment');
      for (let i = 0; i < 3; i++) await callText(b.client, 'increment');
      assert.equal(await callText(a.client, 'get'), '5');
      assert.equal(await callText(b.client, 'get'), '3');
      const wa = await whoami(a.client);
      const wb = await whoami(b.client);
      assert.notEqual(wa.pid, wb.pid, 'each downstream session has its own child process');
      assert.notEqual(wa.pid, process.pid);
      assert.equal(proxy.supervisor.childCount(), 2);
    } finally {
      await a.transport.terminateSession();
      await b.transport.terminateSession();
      await a.close();
      await b.close();
    }
  });
});

test('ten calls in one session make one upstream initialize', async () => {
  const before = upstream.stats.initializeCount;
  const a = await connectStreamable(`${proxy.url}/web/mcp`);
  try {
    for (let i = 0; i < 10; i++) assert.equal(await callText(a.client, 'echo', { text: `n${i}` }), `n${i}`);
    assert.equal(upstream.stats.initializeCount - before, 1);
  } finally {
    await a.transport.terminateSession();
    await a.close();
  }
});

describe('DELETE ends the upstream session and the id answers 404', () => {
  test('HTTP upstream receives DELETE', async () => {
    const url = `${proxy.url}/web/mcp`;
    const deletes = upstream.stats.deleteRequests;
    const sid = await rawSession(url);
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    await waitFor(() => upstream.stats.deleteRequests === deletes + 1, 5000, 'upstream DELETE');
    const after = await rawPost(url, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', { 'mcp-session-id': sid });
    assert.equal(after.status, 404);
    const body = (await after.json()) as { error: { code: number } };
    assert.equal(body.error.code, -32002);
  });

  test('stdio child exits', async () => {
    const a = await connectStreamable(`${proxy.url}/local/mcp`);
    const { pid } = await whoami(a.client);
    assert.ok(pidAlive(pid));
    const sid = a.sessionId()!;
    await a.transport.terminateSession();
    await waitFor(() => !pidAlive(pid), 8000, `child ${pid} to exit`);
    const r = await rawPost(`${proxy.url}/local/mcp`, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', { 'mcp-session-id': sid });
    assert.equal(r.status, 404);
    await a.close();
  });
});

describe('server-to-client traffic reaches only its own client', () => {
  for (const dest of ['web', 'local']) {
    test(`notifications and sampling stay in their session (${dest})`, async () => {
      const logsA: unknown[] = [];
      const logsB: unknown[] = [];
      const a = await connectStreamable(`${proxy.url}/${dest}/mcp`, { onLog: (d) => logsA.push(d), onSampling: (p) => `A:${p}` });
      const b = await connectStreamable(`${proxy.url}/${dest}/mcp`, { onLog: (d) => logsB.push(d), onSampling: (p) => `B:${p}` });
      try {
        const [ra, rb, sa, sb] = await Promise.all([
          callText(a.client, 'notify', { count: 20, tag: 'a' }),
          callText(b.client, 'notify', { count: 20, tag: 'b' }),
          callText(a.client, 'ask', { prompt: 'pa' }),
          callText(b.client, 'ask', { prompt: 'pb' }),
        ]);
        assert.equal(ra, 'sent 20');
        assert.equal(rb, 'sent 20');
        assert.equal(sa, 'client said: A:pa');
        assert.equal(sb, 'client said: B:pb');
        await waitFor(() => logsA.length >= 20 && logsB.length >= 20, 5000, 'notifications');
        const tags = (logs: unknown[]) => new Set(logs.map((d) => (d as { tag: string }).tag));
        assert.deepEqual([...tags(logsA)], ['a']);
        assert.deepEqual([...tags(logsB)], ['b']);
        assert.equal(logsA.length, 20);
        assert.equal(logsB.length, 20);
      } finally {
        await a.transport.terminateSession();
        await b.transport.terminateSession();
        await a.close();
        await b.close();
      }
    });
  }
});
