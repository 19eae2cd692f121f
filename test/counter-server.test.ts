/**
 * The example counter server on its own (no proxy): the behaviours the proxy tests lean on must
 * hold directly first, or a proxy failure could be the upstream's fault.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { counterServerPath, startCounterHttp, startCounterSse, type RunningUpstream } from './helpers/counter-upstream.js';
import { callText, connectSse, connectStreamable } from './helpers/mcp-client.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

async function httpUpstream(opts: { jsonResponse?: boolean } = {}): Promise<RunningUpstream> {
  const up = await startCounterHttp(opts);
  cleanups.push(() => up.close());
  return up;
}

/** Poll a condition that becomes true after an event we cannot await directly; bounded at 5 s. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

const ACCEPT_BOTH = 'application/json, text/event-stream';

async function rawInitialize(url: string): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    }),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const sid = res.headers.get('mcp-session-id');
  assert.ok(sid, 'initialize answered with a session id');
  return sid;
}

function rawPost(url: string, sid: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify(body),
  });
}

describe('streamable HTTP', () => {
  test('two clients have independent counters and separate sessions', async () => {
    const up = await httpUpstream();
    const a = await connectStreamable(up.url, { name: 'a' });
    const b = await connectStreamable(up.url, { name: 'b' });
    cleanups.push(a.close, b.close);

    for (let i = 0; i < 5; i++) await callText(a.client, 'increment');
    for (let i = 0; i < 3; i++) await callText(b.client, 'increment');
    assert.equal(await callText(a.client, 'get'), '5');
    assert.equal(await callText(b.client, 'get'), '3');
    assert.equal(await callText(a.client, 'increment', { by: 10 }), '15');

    const got = await a.client.callTool({ name: 'get', arguments: {} });
    assert.deepEqual(got.structuredContent, { value: 15 });

    const whoA = JSON.parse(await callText(a.client, 'whoami')) as { instance: string; pid: number };
    const whoB = JSON.parse(await callText(b.client, 'whoami')) as { instance: string; pid: number };
    assert.notEqual(whoA.instance, whoB.instance);
    assert.equal(whoA.pid, process.pid);
    assert.notEqual(a.sessionId(), b.sessionId());
    assert.equal(await callText(a.client, 'echo', { text: 'héllo' }), 'héllo');

    assert.equal(up.stats.sessionsCreated, 2);
    assert.equal(up.stats.initializeCount, 2);
    assert.equal(up.stats.activeSessions, 2);
    assert.equal(up.stats.sessionsClosed, 0);
  });

  test('notify reaches the calling client only', async () => {
    const up = await httpUpstream();
    const logsA: unknown[] = [];
    const logsB: unknown[] = [];
    const a = await connectStreamable(up.url, { onLog: (d) => logsA.push(d) });
    const b = await connectStreamable(up.url, { onLog: (d) => logsB.push(d) });
    cleanups.push(a.close, b.close);

    assert.equal(await callText(a.client, 'notify', { count: 3, tag: 'from-a' }), 'sent 3');
    await eventually('three notifications at A', () => logsA.length === 3);
    assert.deepEqual(logsA, [0, 1, 2].map((index) => ({ tag: 'from-a', index })));
    // B made a round trip after A's notifications were sent; anything misrouted would be here by now.
    assert.equal(await callText(b.client, 'get'), '0');
    assert.deepEqual(logsB, []);
  });

  test('notify writes its notifications on the request\'s own SSE stream, before the result', async () => {
    const up = await httpUpstream();
    const sid = await rawInitialize(up.url);
    const res = await rawPost(up.url, sid, {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'notify', arguments: { count: 2, tag: 'raw' } },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const events: Array<{ method?: string; id?: unknown; params?: { data?: unknown } }> = [];
    const parser = createParser({
      onEvent: (e: EventSourceMessage) => {
        if (e.data) events.push(JSON.parse(e.data) as (typeof events)[number]);
      },
    });
    parser.feed(await res.text());
    assert.deepEqual(
      events.map((e) => e.method ?? `result:${String(e.id)}`),
      ['notifications/message', 'notifications/message', 'result:7'],
    );
    assert.deepEqual(events[1]?.params?.data, { tag: 'raw', index: 1 });
  });

  test('ask round-trips a sampling request through the calling client', async () => {
    const up = await httpUpstream();
    const a = await connectStreamable(up.url, { onSampling: (p) => `A heard ${p}` });
    const b = await connectStreamable(up.url, { onSampling: (p) => `B heard ${p}` });
    cleanups.push(a.close, b.close);
    assert.equal(await callText(a.client, 'ask', { prompt: 'ping' }), 'client said: A heard ping');
    assert.equal(await callText(b.client, 'ask', { prompt: 'pong' }), 'client said: B heard pong');
  });

  test('DELETE ends the session and a later request with its id gets 404', async () => {
    const up = await httpUpstream();
    const a = await connectStreamable(up.url);
    const b = await connectStreamable(up.url);
    cleanups.push(a.close, b.close);
    await callText(a.client, 'increment');
    const sid = a.sessionId();
    assert.ok(sid);

    await a.transport.terminateSession();
    assert.equal(up.stats.deleteRequests, 1);
    assert.equal(up.stats.sessionsClosed, 1);
    assert.equal(up.stats.activeSessions, 1);

    const stale = await rawPost(up.url, sid, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.equal(stale.status, 404);
    await stale.arrayBuffer();
    assert.equal(await callText(b.client, 'increment'), '1', 'the other session is untouched');
  });

  test('requests without a session id, or on another path, are refused', async () => {
    const up = await httpUpstream();
    const noSid = await fetch(up.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(noSid.status, 400);
    await noSid.arrayBuffer();
    const badJson = await fetch(up.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH },
      body: '{nope',
    });
    assert.equal(badJson.status, 400);
    assert.equal(((await badJson.json()) as { error: { code: number } }).error.code, -32700);
    const elsewhere = await fetch(new URL('/other', up.url));
    assert.equal(elsewhere.status, 404);
    await elsewhere.arrayBuffer();
    assert.equal(up.stats.sessionsCreated, 0);
  });

  test('jsonResponse mode answers tools/call with a JSON body', async () => {
    const up = await httpUpstream({ jsonResponse: true });
    const sid = await rawInitialize(up.url);
    const res = await rawPost(up.url, sid, {
      jsonrpc: '2.0',
      id: 'x',
      method: 'tools/call',
      params: { name: 'increment', arguments: { by: 2 } },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { id: unknown; result: { structuredContent: unknown } };
    assert.equal(body.id, 'x');
    assert.deepEqual(body.result.structuredContent, { value: 2 });
  });
});

describe('legacy HTTP+SSE', () => {
  test('one client: counter, echo, notify, ask; closing ends the session', async () => {
    const up = await startCounterSse();
    cleanups.push(() => up.close());
    assert.match(up.url, /^http:\/\/127\.0\.0\.1:\d+\/sse$/);
    const logs: unknown[] = [];
    const c = await connectSse(up.url, { onLog: (d) => logs.push(d), onSampling: (p) => p.toUpperCase() });
    cleanups.push(c.close);

    assert.equal(await callText(c.client, 'increment', { by: 4 }), '4');
    assert.equal(await callText(c.client, 'increment'), '5');
    assert.equal(await callText(c.client, 'get'), '5');
    assert.equal(await callText(c.client, 'echo', { text: 'hi' }), 'hi');
    assert.equal(await callText(c.client, 'notify', { count: 2, tag: 't' }), 'sent 2');
    await eventually('two notifications', () => logs.length === 2);
    assert.deepEqual(logs, [{ tag: 't', index: 0 }, { tag: 't', index: 1 }]);
    assert.equal(await callText(c.client, 'ask', { prompt: 'quiet' }), 'client said: QUIET');
    assert.equal(up.stats.sessionsCreated, 1);
    assert.equal(up.stats.initializeCount, 1);

    await c.close();
    await eventually('session closed after the SSE stream ended', () => up.stats.sessionsClosed === 1);
    assert.equal(up.stats.activeSessions, 0);
  });
});

describe('stdio', () => {
  test('a child over stdio counts, reports its own pid, and exits when stdin closes', async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [counterServerPath(), '--stdio'], stderr: 'pipe' });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    const pid = transport.pid;
    assert.ok(pid);
    cleanups.push(async () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone: the expected case
      }
    });

    assert.equal(await callText(client, 'increment'), '1');
    assert.equal(await callText(client, 'increment', { by: 2 }), '3');
    assert.equal(await callText(client, 'get'), '3');
    const who = JSON.parse(await callText(client, 'whoami')) as { pid: number };
    assert.equal(who.pid, pid);
    assert.notEqual(who.pid, process.pid);

    await client.close();
    await eventually('child exited', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });
});

describe('command line', () => {
  async function spawnServer(args: string[]): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, [counterServerPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    assert.ok(pid);
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGKILL');
        await once(child, 'exit');
      }
    });
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      for await (const line of lines) {
        const m = /^listening (\S+)$/.exec(line);
        if (m?.[1]) return { child, url: m[1] };
      }
    } finally {
      clearTimeout(timer);
    }
    throw new Error('counter server exited before printing its URL');
  }

  test('--http --port 0 prints its URL and serves; SIGTERM stops it', async () => {
    const { child, url } = await spawnServer(['--http', '--port', '0']);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const c = await connectStreamable(url);
    assert.equal(await callText(c.client, 'increment'), '1');
    const who = JSON.parse(await callText(c.client, 'whoami')) as { pid: number };
    assert.equal(who.pid, child.pid);
    await c.close();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  });

  test('--sse --port 0 prints its URL and serves', async () => {
    const { url } = await spawnServer(['--sse', '--port', '0']);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/sse$/);
    const c = await connectSse(url);
    assert.equal(await callText(c.client, 'increment', { by: 3 }), '3');
    await c.close();
  });

  test('no mode is a usage error with exit code 2', async () => {
    const child = spawn(process.execPath, [counterServerPath()], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.match(stderr, /usage: counter-server/);
  });
});
