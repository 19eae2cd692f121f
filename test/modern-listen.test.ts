/**
 * B2's listen (src/upstream/modern-listen.ts) against a scripted host: filter changes reopen the
 * upstream subscriptions/listen, notifications lose their subscriptionId, credit pauses the
 * stream, ends are reopened after a delay and failures in a row are bounded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ErrorCode, ProxyError } from '../src/errors.js';
import { LISTEN_MAX_FAILURES, Listen, type ListenHost } from '../src/upstream/modern-listen.js';
import type { ReplySink } from '../src/upstream/types.js';

interface Opened { body: string; sink: ReplySink; aborted: boolean }

class Host implements ListenHost {
  opened: Opened[] = [];
  delivered: string[] = [];
  private n = 0;
  sendLong(body: string, sink: ReplySink): void {
    const o: Opened = { body, sink, aborted: false };
    sink.onClose?.(() => { o.aborted = true; });
    this.opened.push(o);
  }
  mintId(): string { return JSON.stringify(`L${++this.n}`); }
  metaMembers(): string { return '"v":"2026-07-28"'; }
  deliver(json: string): void { this.delivered.push(json); }
  last(): Opened { return this.opened.at(-1) as Opened; }
  filter(o: Opened = this.last()): Record<string, unknown> {
    return (JSON.parse(o.body) as { params: { notifications: Record<string, unknown> } }).params.notifications;
  }
}

const log = pino({ level: 'silent' });
const note = (method: string, params: Record<string, unknown> = {}): string => JSON.stringify({ jsonrpc: '2.0', method, params });

describe('Listen: one upstream subscriptions/listen per B2 session', () => {
  test('open once; subscribe and unsubscribe reopen with the new filter, aborting the old listen', () => {
    const host = new Host();
    const l = new Listen(host, log);
    l.open();
    l.open();
    assert.equal(host.opened.length, 1);
    assert.deepEqual(host.filter(), { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true });
    assert.equal(JSON.parse(host.last().body).params._meta.v, '2026-07-28');
    assert.equal(l.subscribe('mem://a'), true);
    assert.equal(host.opened[0]?.aborted, true);
    assert.deepEqual(host.filter().resourceSubscriptions, ['mem://a']);
    assert.equal(l.subscribe('mem://a'), true);
    assert.equal(host.opened.length, 2, 'an URI already subscribed changes nothing');
    l.unsubscribe('mem://a');
    assert.equal(host.opened.length, 3);
    assert.equal(host.filter().resourceSubscriptions, undefined);
    l.close();
    assert.equal(host.last().aborted, true);
  });

  test('notifications are delivered without subscriptionId, the acknowledgement is not; pause and resume', () => {
    const host = new Host();
    const l = new Listen(host, log);
    l.open();
    const s = host.last().sink;
    let resumed = 0;
    s.startStream();
    s.onResume(() => resumed++);
    assert.equal(s.event(note('notifications/subscriptions/acknowledged', { _meta: { 'io.modelcontextprotocol/subscriptionId': 'L1' } })), true);
    assert.equal(s.event(note('notifications/tools/list_changed', { _meta: { 'io.modelcontextprotocol/subscriptionId': 'L1' } })), true);
    assert.deepEqual(host.delivered, ['{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}']);
    l.pause();
    assert.equal(s.event(note('notifications/prompts/list_changed')), false, 'paused: the exchange must stop reading');
    l.resume();
    assert.equal(resumed, 1);
    assert.equal(host.delivered.length, 2);
  });

  test('a graceful end is reopened after a delay; failures in a row stop after the budget', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const host = new Host();
    const l = new Listen(host, log);
    l.open();
    host.last().sink.event('{"jsonrpc":"2.0","id":"L1","result":{}}');
    assert.equal(host.last().aborted, true, 'the rest of an ended listen is cut');
    assert.equal(host.opened.length, 1);
    t.mock.timers.tick(10_000);
    assert.equal(host.opened.length, 2);
    for (let i = 0; i < LISTEN_MAX_FAILURES; i++) {
      host.last().sink.fail(new ProxyError(ErrorCode.UpstreamConnect, 'down'));
      t.mock.timers.tick(20_000);
    }
    assert.equal(host.opened.length, 2 + LISTEN_MAX_FAILURES);
    host.last().sink.fail(new ProxyError(ErrorCode.UpstreamConnect, 'down'));
    t.mock.timers.tick(60_000);
    assert.equal(host.opened.length, 2 + LISTEN_MAX_FAILURES, 'given up');
    l.close();
  });

  test('an acknowledgement refills the failure budget; close stops a pending reopen', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const host = new Host();
    const l = new Listen(host, log);
    l.open();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < LISTEN_MAX_FAILURES; i++) {
        host.last().sink.fail(new ProxyError(ErrorCode.UpstreamConnect, 'down'));
        t.mock.timers.tick(20_000);
      }
      host.last().sink.event(note('notifications/subscriptions/acknowledged'));
    }
    const n = host.opened.length;
    assert.equal(n, 1 + 3 * LISTEN_MAX_FAILURES);
    host.last().sink.end();
    l.close();
    t.mock.timers.tick(60_000);
    assert.equal(host.opened.length, n);
  });
});
