/**
 * Downstream resumability (issue 8: "downstream, the proxy emits no event ids and ignores
 * Last-Event-ID"): every SSE event to a Streamable HTTP client carries an id unique in its session,
 * and a client that reconnects its GET stream with Last-Event-ID gets what it missed from a
 * bounded per-session buffer, or is told cleanly what was lost.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { rawPost, rawSession, startTestProxy } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

const EMITTER = fileURLToPath(new URL('../../test/fixtures/stdio/emitter.mjs', import.meta.url));
let proxy: ProxyHandle;

before(async () => {
  const dest = (name: string): string => `  ${name}:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EMITTER)}]\n`;
  proxy = await startTestProxy(dest('emit'), 'limits: { replay_buffer_bytes: 700 }\n');
});
after(() => proxy.close());

interface Ev { id: string | undefined; data: Record<string, unknown> }

/** A GET stream read event by event (node:http, so nothing is buffered behind the test's back). */
function openGet(url: string, sid: string, lastEventId?: string): Promise<{ next(): Promise<Ev>; close(): void }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream', 'mcp-session-id': sid };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const req = http.get(url, { headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      const queue: Ev[] = [];
      const waiting: Array<(e: Ev) => void> = [];
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const lines = block.split('\n');
          const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          const ev = { id: lines.find((l) => l.startsWith('id: '))?.slice(4), data: JSON.parse(data) as Record<string, unknown> };
          const w = waiting.shift();
          if (w) w(ev);
          else queue.push(ev);
        }
      });
      resolve({
        next: () => new Promise<Ev>((r, j) => {
          const q = queue.shift();
          if (q) return r(q);
          const t = setTimeout(() => j(new Error('no event within 5 s')), 5000);
          waiting.push((e) => {
            clearTimeout(t);
            r(e);
          });
        }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

let nextId = 1;
async function emit(url: string, sid: string, size: number): Promise<void> {
  const r = await rawPost(url, JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'emit', arguments: { size } } }), { 'mcp-session-id': sid });
  assert.equal(r.status, 200);
  await r.text();
}

async function reopen(url: string, sid: string, lastEventId?: string): Promise<{ next(): Promise<Ev>; close(): void }> {
  // The proxy sees the previous GET close a moment after the client does: 409 until then.
  for (let i = 0; i < 100; i++) {
    try {
      return await openGet(url, sid, lastEventId);
    } catch (e) {
      if (!/GET 409/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error('GET stream still busy');
}

test('a GET stream resumed with Last-Event-ID replays what came after it, with the same ids', async () => {
  const url = `${proxy.url}/emit/mcp`;
  const sid = await rawSession(url);
  const g = await openGet(url, sid);
  for (let i = 0; i < 3; i++) await emit(url, sid, 100);
  const seen = [await g.next(), await g.next(), await g.next()];
  for (const e of seen) assert.match(e.id ?? '', /^0-\d+$/);
  assert.equal(new Set(seen.map((e) => e.id)).size, 3, 'ids are unique');
  g.close();
  const r = await reopen(url, sid, seen[0]!.id);
  try {
    const replayed = [await r.next(), await r.next()];
    assert.deepEqual(replayed.map((e) => e.id), [seen[1]!.id, seen[2]!.id]);
    assert.deepEqual(replayed.map((e) => e.data), [seen[1]!.data, seen[2]!.data]);
    // Then live again, ids still rising.
    await emit(url, sid, 100);
    const live = await r.next();
    assert.ok(Number(live.id!.split('-')[1]) > Number(seen[2]!.id!.split('-')[1]));
  } finally {
    r.close();
  }
});

test('a client that comes back after more than the buffer holds is told how many messages were lost', async () => {
  const url = `${proxy.url}/emit/mcp`;
  const sid = await rawSession(url);
  const g = await openGet(url, sid);
  for (let i = 0; i < 4; i++) await emit(url, sid, 250);
  const seen = [await g.next(), await g.next(), await g.next(), await g.next()];
  g.close();
  const r = await reopen(url, sid, seen[0]!.id);
  try {
    const first = await r.next();
    assert.equal(first.data.method, 'notifications/message');
    assert.match(String((first.data.params as { data: string }).data), /^\d+ server messages sent after event 0-\d+ are no longer held/);
    // What the buffer still holds is replayed (the newest events), the evicted ones are not.
    const rest = [await r.next()];
    while (rest.at(-1)!.id !== seen[3]!.id) rest.push(await r.next());
    assert.ok(!rest.some((e) => e.id === seen[1]!.id), 'the oldest missed event was evicted');
  } finally {
    r.close();
  }
});

test('POST reply streams carry ids too; resuming one gets an error for its request at once', async () => {
  const url = `${proxy.url}/emit/mcp`;
  const sid = await rawSession(url);
  // No GET stream open: the notification rides on the POST's reply, which becomes an SSE stream.
  const r = await rawPost(url, '{"jsonrpc":"2.0","id":"p-1","method":"tools/call","params":{"name":"emit","arguments":{"size":10}}}', { 'mcp-session-id': sid });
  const text = await r.text();
  const ids = [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);
  assert.ok(ids.length >= 2 && ids.every((i) => /^[1-9]\d*-\d+$/.test(i)), text);
  const g = await openGet(url, sid, ids[0]);
  try {
    const e = await g.next();
    assert.equal(e.data.id, 'p-1');
    assert.equal((e.data.error as { data: { code: string } }).data.code, 'E_UPSTREAM_CLOSED');
  } finally {
    g.close();
  }
});

test('a Last-Event-ID that is not this session\'s opens a fresh stream', async () => {
  const url = `${proxy.url}/emit/mcp`;
  const sid = await rawSession(url);
  const g = await openGet(url, sid, 'not-an-id');
  try {
    await emit(url, sid, 10);
    const e = await g.next();
    assert.equal(e.data.method, 'notifications/message');
  } finally {
    g.close();
  }
});
