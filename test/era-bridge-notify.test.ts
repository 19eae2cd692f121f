/**
 * src/era/bridge-notify.ts: the B1 bridge's reading of a request's `_meta` logLevel and
 * progressToken and of an upstream notification's level / progressToken (2026-07-28 logging:
 * no logLevel, no notifications/message; at or above it in RFC 5424 order).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logAllowed, notificationProgressKey, requestLogRank, requestProgressKey } from '../src/era/bridge-notify.js';

const req = (meta: Record<string, unknown> | undefined): string =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 't', arguments: { _meta: { 'io.modelcontextprotocol/logLevel': 'debug' } }, ...(meta ? { _meta: meta } : {}) } });
const log = (level: unknown): string => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level, data: 'x' } });

describe('bridge-notify', () => {
  test('no logLevel on the request: no log message passes (an argument named _meta does not count)', () => {
    const rank = requestLogRank(req(undefined));
    assert.equal(rank, undefined);
    assert.equal(logAllowed(rank, log('emergency')), false);
  });

  test('at or above the level in RFC 5424 order; unknown levels never pass', () => {
    const rank = requestLogRank(req({ 'io.modelcontextprotocol/logLevel': 'warning' }));
    assert.deepEqual(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'].map((l) => logAllowed(rank, log(l))),
      [false, false, false, true, true, true, true, true]);
    assert.equal(logAllowed(rank, log('loud')), false);
    assert.equal(logAllowed(rank, log(5)), false);
    assert.equal(requestLogRank(req({ 'io.modelcontextprotocol/logLevel': 'verbose' })), undefined);
  });

  test('progress tokens: 1 and "1" stay distinct; absent is undefined', () => {
    assert.equal(requestProgressKey(req({ progressToken: 1 })), 'number:1');
    assert.equal(requestProgressKey(req({ progressToken: '1' })), 'string:1');
    assert.equal(requestProgressKey(req(undefined)), undefined);
    const note = (t: unknown): string => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: t, progress: 1 } });
    assert.equal(notificationProgressKey(note('1')), requestProgressKey(req({ progressToken: '1' })));
    assert.notEqual(notificationProgressKey(note(1)), requestProgressKey(req({ progressToken: '1' })));
    assert.equal(notificationProgressKey(note({ a: 1 })), undefined);
  });
});
