/**
 * B1 bridge, subscriptions/listen (src/upstream/bridge-listen.ts): raw 2026-07-28 clients through
 * a real proxy (2 workers) to a session-era SDK server that emits list_changed / resources/updated
 * on demand (test/fixtures/notifier-upstream.ts), over Streamable HTTP and as a stdio child. The
 * proxy acknowledges the subset the upstream can honour, opens the session's server stream,
 * subscribes URIs upstream, fans notifications out to the principal's listens with their
 * subscriptionId, unsubscribes when the last listener of a URI leaves, and keeps listens open past
 * request_ms. The slow-listener bound is checked on Listeners directly (a fake sink that never
 * takes credit back), where the acceptor's own slow-reader cut cannot get there first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { type NotifierHttp, notifierPath, startNotifierHttp } from './fixtures/notifier-upstream.js';
import { configFromYaml, waitFor } from './helpers/proxy.js';
import { SseReader, body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { Listeners, MAX_LISTEN_URIS, MAX_QUEUED } from '../src/upstream/bridge-listen.js';
import { BRIDGE_IDLE_MS, BridgeSessions } from '../src/upstream/bridge-sessions.js';
import { BridgeAffinity } from '../src/acceptor/bridge-affinity.js';
import type { Supervisor } from '../src/threads/supervisor.js';
import type { ReplySink } from '../src/upstream/types.js';
import type { ProxyError } from '../src/errors.js';

type Rpc = { id?: unknown; method?: string; params?: Record<string, unknown> & { _meta?: Record<string, unknown> }; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

const ALICE = 'listen-alice-0123456789abcdef00';
const BOB = 'listen-bob-0123456789abcdef0000';
process.env.MT_LISTEN_ALICE = ALICE;
process.env.MT_LISTEN_BOB = BOB;
const SUB = 'io.modelcontextprotocol/subscriptionId';
const REQUEST_MS = 500;

let web: NotifierHttp;
let proxy: ProxyHandle;

const yaml = (childArg: string): string => `listen: { host: 127.0.0.1, port: 0 }
workers: 2
log_level: warn
sse_keepalive_ms: 200
auth:
  clients:
    alice: { token: "\${env:MT_LISTEN_ALICE}", destinations: ["*"] }
    bob: { token: "\${env:MT_LISTEN_BOB}", destinations: ["*"] }
destinations:
  web:
    transport: streamable_http
    url: ${web.url}
    timeouts: { request_ms: ${REQUEST_MS} }
  child:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(notifierPath())}, --stdio${childArg}]
    timeouts: { request_ms: ${REQUEST_MS} }
`;

before(async () => {
  web = await startNotifierHttp();
  proxy = await startProxy(configFromYaml(yaml('')), {});
});
after(async () => {
  await proxy.close();
  await web.close();
});

const as = (token: string, method: string, name?: string): Record<string, string> => ({ ...headers2026(method, name), authorization: `Bearer ${token}` });

async function call(dest: string, token: string, id: string | number, name: string, args: Record<string, unknown> = {}): Promise<Rpc> {
  const res = await post2026(`${proxy.url}/${dest}/mcp`, body2026(id, 'tools/call', { name, arguments: args }), as(token, 'tools/call', name));
  const text = await res.text();
  const json = text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? 'data: {}').slice(6);
  return JSON.parse(json) as Rpc;
}

const subsOf = async (dest: string, token: string): Promise<string[]> => {
  const r = await call(dest, token, 'subs', 'subs');
  return JSON.parse((r.result?.content as { text: string }[])[0]?.text ?? '[]') as string[];
};

interface Listen { res: Response; reader: SseReader; ac: AbortController }

async function listen(dest: string, token: string, id: string | number, notifications: Record<string, unknown>): Promise<Listen> {
  const ac = new AbortController();
  const res = await post2026(`${proxy.url}/${dest}/mcp`, body2026(id, 'subscriptions/listen', { notifications }), as(token, 'subscriptions/listen'), ac.signal);
  return { res, reader: new SseReader(res), ac };
}

/** Opens a listen and checks the acknowledgement; for HTTP waits for the upstream GET stream. */
async function acked(dest: string, token: string, id: string | number, notifications: Record<string, unknown>, gets = 1): Promise<Listen & { ack: Rpc }> {
  const l = await listen(dest, token, id, notifications);
  assert.equal(l.res.status, 200);
  const ack = (await l.reader.next()) as Rpc;
  assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
  assert.equal(ack.params?._meta?.[SUB], id);
  if (dest === 'web') await waitFor(() => web.openGets() >= gets, 5000, 'the bridged session opened its GET stream');
  return { ...l, ack };
}

for (const dest of ['web', 'child']) {
  describe(`B1 bridge: subscriptions/listen on a session-era ${dest === 'web' ? 'Streamable HTTP' : 'stdio'} upstream`, () => {
    test('the first message is the acknowledgement, with only what the upstream supports', async () => {
      const l = await listen(dest, ALICE, 'A1', { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ['note://a'] });
      assert.equal(l.res.status, 200);
      assert.match(l.res.headers.get('content-type') ?? '', /text\/event-stream/);
      assert.equal(l.res.headers.get('mcp-session-id'), null, 'the bridged session stays the proxy\'s');
      const ack = (await l.reader.next()) as Rpc;
      assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
      assert.equal(ack.params?._meta?.[SUB], 'A1');
      // No prompts capability upstream: promptsListChanged is left out.
      assert.deepEqual(ack.params?.notifications, { toolsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ['note://a'] });
      l.ac.abort();
    });

    test('a tools/list_changed triggered by a tool call arrives on the listen stream with the subscriptionId', async () => {
      const l = await acked(dest, ALICE, 7, { toolsListChanged: true, resourcesListChanged: true });
      assert.equal((await call(dest, ALICE, 'c1', 'touch_tools')).result?.resultType, 'complete');
      const n = (await l.reader.next()) as Rpc;
      assert.equal(n.method, 'notifications/tools/list_changed');
      assert.equal(n.params?._meta?.[SUB], 7, 'a number id stays a number');
      await call(dest, ALICE, 'c2', 'touch_resources');
      assert.equal(((await l.reader.next()) as Rpc).method, 'notifications/resources/list_changed');
      l.ac.abort();
    });

    test('resources/updated only for a subscribed URI; the upstream saw resources/subscribe', async () => {
      const l = await acked(dest, ALICE, 'R1', { resourceSubscriptions: ['note://sub'] });
      assert.deepEqual(l.ack.params?.notifications, { resourceSubscriptions: ['note://sub'] });
      assert.ok((await subsOf(dest, ALICE)).includes('note://sub'), 'subscribed upstream before the acknowledgement');
      await call(dest, ALICE, 'u1', 'update', { uri: 'note://other' });
      await call(dest, ALICE, 'u2', 'touch_tools');
      await call(dest, ALICE, 'u3', 'update', { uri: 'note://sub' });
      const n = (await l.reader.next()) as Rpc;
      assert.equal(n.method, 'notifications/resources/updated', 'neither the other URI nor tools/list_changed (not asked for) came first');
      assert.equal(n.params?.uri, 'note://sub');
      assert.equal(n.params?._meta?.[SUB], 'R1');
      l.ac.abort();
    });

    test('two listens of one principal both get a notification; another principal\'s listen does not', async () => {
      const a1 = await acked(dest, ALICE, 'F1', { toolsListChanged: true });
      const a2 = await acked(dest, ALICE, 'F2', { toolsListChanged: true });
      const b1 = await acked(dest, BOB, 'F3', { toolsListChanged: true }, 2);
      await call(dest, ALICE, 'f1', 'touch_tools');
      const [m1, m2] = (await Promise.all([a1.reader.next(), a2.reader.next()])) as Rpc[];
      assert.equal(m1?.method, 'notifications/tools/list_changed');
      assert.equal(m1?.params?._meta?.[SUB], 'F1');
      assert.equal(m2?.method, 'notifications/tools/list_changed');
      assert.equal(m2?.params?._meta?.[SUB], 'F2');
      await assert.rejects(b1.reader.next(600), /timed out/, 'bob\'s session had no list change');
      await call(dest, BOB, 'f2', 'touch_tools');
      assert.equal(((await b1.reader.next()) as Rpc).params?._meta?.[SUB], 'F3', 'bob\'s own change reaches him');
      for (const l of [a1, a2, b1]) l.ac.abort();
    });

    test('closing the last listen of a URI unsubscribes it upstream; a shared URI stays while one listener is left', async () => {
      const x = await acked(dest, BOB, 'X1', { resourceSubscriptions: ['note://x', 'note://shared'] }, 2);
      const y = await acked(dest, BOB, 'Y1', { resourceSubscriptions: ['note://shared'] }, 2);
      const s0 = await subsOf(dest, BOB);
      assert.ok(s0.includes('note://x') && s0.includes('note://shared'), JSON.stringify(s0));
      x.ac.abort();
      await waitFor(async () => !(await subsOf(dest, BOB)).includes('note://x'), 5000, 'note://x unsubscribed upstream');
      assert.ok((await subsOf(dest, BOB)).includes('note://shared'), 'still held by Y1');
      await call(dest, BOB, 'y1', 'update', { uri: 'note://shared' });
      assert.equal(((await y.reader.next()) as Rpc).params?._meta?.[SUB], 'Y1');
      y.ac.abort();
      await waitFor(async () => !(await subsOf(dest, BOB)).includes('note://shared'), 5000, 'note://shared unsubscribed upstream');
    });

    test(`a listen stream outlives request_ms (${REQUEST_MS} ms) and gets keep-alives`, async () => {
      const l = await acked(dest, ALICE, 'T1', { toolsListChanged: true });
      await sleep(REQUEST_MS * 3);
      await call(dest, ALICE, 't1', 'touch_tools');
      const n = (await l.reader.next()) as Rpc;
      assert.equal(n.method, 'notifications/tools/list_changed');
      assert.equal(n.params?._meta?.[SUB], 'T1');
      assert.ok(l.reader.comments.length > 0, 'keep-alive comments while idle');
      l.ac.abort();
    });

    test('a burst well past the credit window reaches a reading client whole', async () => {
      const l = await acked(dest, BOB, 'W1', { toolsListChanged: true }, 2);
      // ~140 characters each once stamped: 10000 are ~1.4 MiB, past the 1 MiB window (threads/flow.ts).
      const total = 10_000;
      const done = call(dest, BOB, 'w1', 'burst', { n: total });
      for (let i = 0; i < total; i++) {
        const m = (await l.reader.next(30_000)) as Rpc | null;
        assert.equal(m?.params?._meta?.[SUB], 'W1', `message ${i}`);
      }
      assert.equal((await done).result?.resultType, 'complete');
      l.ac.abort();
    });

    test(`more than ${MAX_LISTEN_URIS} URIs or a malformed filter: 400 -32602`, async () => {
      const uris = Array.from({ length: MAX_LISTEN_URIS + 1 }, (_, i) => `note://${i}`);
      for (const [id, notifications] of [['B1', { resourceSubscriptions: uris }], ['B2', { toolsListChanged: 'yes' }]] as const) {
        const res = await post2026(`${proxy.url}/${dest}/mcp`, body2026(id, 'subscriptions/listen', { notifications }), as(ALICE, 'subscriptions/listen'));
        assert.equal(res.status, 400);
        const r = (await res.json()) as Rpc;
        assert.equal(r.id, id);
        assert.equal(r.error?.code, -32602);
      }
    });
  });
}

describe('B1 bridge listen and reload', () => {
  test('a reload that changes the destination ends its listens with the graceful listen result', async () => {
    const l = await acked('child', ALICE, 'G1', { toolsListChanged: true });
    const r = await proxy.reload(configFromYaml(yaml(', --changed')));
    assert.ok(JSON.stringify(r).includes('child'), JSON.stringify(r));
    const end = (await l.reader.next()) as Rpc;
    assert.deepEqual(end, { jsonrpc: '2.0', id: 'G1', result: { resultType: 'complete', _meta: { [SUB]: 'G1' } } });
    assert.equal(await l.reader.next(), null, 'then the stream ends');
  });
});

describe('bridge listen (unit): bounds, shared URIs, the idle sweep', () => {
  class FakeSink implements ReplySink {
    closed = false;
    events: string[] = [];
    failed: ProxyError | undefined;
    resume: (() => void) | undefined;
    onClose?: (fn: () => void) => void;
    result: string | undefined;
    json(body: string): void {
      this.result = body;
      this.closed = true;
    }
    startStream(): void {}
    event(j: string): boolean {
      this.events.push(j);
      return false;
    }
    onResume(fn: () => void): void { this.resume = fn; }
    end(): void { this.closed = true; }
    accepted(): void {}
    fail(e: ProxyError): void {
      this.failed = e;
      this.closed = true;
    }
  }
  const session = { requests: [] as string[], opened: 0, request(f: string, _i: boolean, s: ReplySink) {
    this.requests.push(f);
    s.json(`{"jsonrpc":"2.0","id":1,"result":{}}`);
  }, openServerStream() { this.opened++; } };
  const init = { capabilities: { tools: { listChanged: true }, resources: { subscribe: true } } };
  const listenBody = (id: string, n: Record<string, unknown>): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications: n } });

  test(`a listener that takes no credit back is ended with E_SLOW_CONSUMER past ${MAX_QUEUED} queued; a paused one catches up on resume`, async () => {
    const ls = new Listeners(session, pino({ level: 'silent' }));
    const slow = new FakeSink();
    ls.listen(init, '"s"', listenBody('s', { toolsListChanged: true }), slow);
    await sleep(0);
    assert.equal(session.opened, 1, 'first listener opens the server stream');
    assert.equal(slow.events.length, 1, 'the acknowledgement went out; the sink said stop');
    const note = '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}';
    for (let i = 0; i < MAX_QUEUED; i++) ls.notify(note, 'notifications/tools/list_changed');
    assert.equal(slow.failed, undefined, 'within the bound: queued');
    slow.resume?.();
    assert.equal(slow.events.length, 2, 'one more sent on resume (the sink pauses again)');
    ls.notify(note, 'notifications/tools/list_changed');
    ls.notify(note, 'notifications/tools/list_changed');
    assert.equal((slow.failed as ProxyError | undefined)?.code, 'E_SLOW_CONSUMER');
    assert.equal(ls.size, 0, 'the slow listener is gone');
  });

  test('the idle sweep keeps a bridged session while a listen is live, and closes it after', async () => {
    const dest = configFromYaml(yaml('')).destinations.child;
    assert.ok(dest);
    const bs = new BridgeSessions(pino({ level: 'silent' }));
    const sweep = (now: number): void => (bs as unknown as { sweep(now: number): void }).sweep(now);
    try {
      const l = new FakeSink();
      let close: (() => void) | undefined;
      l.onClose = (fn) => { close = fn; };
      l.event = (j: string) => {
        l.events.push(j);
        return true;
      };
      bs.request(dest, 'p', listenBody('i', { toolsListChanged: true }), l);
      await waitFor(() => l.events.length === 1, 10_000, 'acknowledged');
      sweep(Date.now() + BRIDGE_IDLE_MS + 1);
      assert.equal(bs.size, 1, 'a live listen keeps its session');
      l.closed = true;
      close?.();
      sweep(Date.now() + BRIDGE_IDLE_MS + 1);
      assert.equal(bs.size, 0, 'idle without listeners: closed');
    } finally {
      await bs.closeAll();
    }
  });

  test('a held affinity entry (a live bridged listen) does not expire; once released it does', () => {
    let next = 0;
    const sup = { isUp: () => true, pickLeastInflight: () => next++ } as unknown as Supervisor;
    const a = new BridgeAffinity();
    const t0 = Date.now();
    assert.equal(a.pick(sup, 'p', 'd', t0), 0);
    const release = a.hold('p', 'd');
    const late = t0 + BRIDGE_IDLE_MS * 2;
    assert.equal(a.pick(sup, 'p', 'd', late), 0, 'still pinned to the listen\'s worker');
    release();
    release();
    assert.equal(a.pick(sup, 'p', 'd', Date.now() + BRIDGE_IDLE_MS * 3), 1, 'released and idle: picked afresh');
  });

  test('a type the upstream did not advertise is neither acknowledged nor delivered, even if the upstream sends it', async () => {
    const ls = new Listeners(session, pino({ level: 'silent' }));
    const l = new FakeSink();
    l.event = (j: string) => {
      l.events.push(j);
      return true;
    };
    ls.listen(init, '9', listenBody('9', { promptsListChanged: true, toolsListChanged: true }), l);
    await sleep(0);
    const ack = JSON.parse(l.events[0] ?? '{}') as Rpc;
    assert.deepEqual(ack.params?.notifications, { toolsListChanged: true });
    ls.notify('{"jsonrpc":"2.0","method":"notifications/prompts/list_changed"}', 'notifications/prompts/list_changed');
    ls.notify('{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}', 'notifications/tools/list_changed');
    assert.equal(l.events.length, 2);
    assert.deepEqual(JSON.parse(l.events[1] ?? '{}'), { jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { _meta: { [SUB]: 9 } } });
  });

  test('a URI shared by two listeners is subscribed once and unsubscribed after the last', async () => {
    const before = session.requests.length;
    const ls = new Listeners(session, pino({ level: 'silent' }));
    const a = new FakeSink();
    const b = new FakeSink();
    let closeA: (() => void) | undefined;
    a.onClose = (fn) => { closeA = fn; };
    ls.listen(init, '"a"', listenBody('a', { resourceSubscriptions: ['u://1'] }), a);
    ls.listen(init, '"b"', listenBody('b', { resourceSubscriptions: ['u://1'] }), b);
    await sleep(0);
    const sent = session.requests.slice(before).map((f) => (JSON.parse(f) as { method: string }).method);
    assert.deepEqual(sent, ['resources/subscribe']);
    a.closed = true;
    closeA?.();
    await sleep(0);
    assert.equal(session.requests.length - before, 1, 'b still holds u://1');
    ls.closeAll();
    await sleep(0);
    assert.deepEqual(JSON.parse(b.result ?? '{}'), { jsonrpc: '2.0', id: 'b', result: { resultType: 'complete', _meta: { [SUB]: 'b' } } }, 'b got the graceful listen result');
    assert.deepEqual(session.requests.slice(before).map((f) => (JSON.parse(f) as { method: string }).method), ['resources/subscribe', 'resources/unsubscribe']);
  });
});
