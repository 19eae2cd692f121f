import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { sseEvent, sseEndpointEvent, SSE_KEEPALIVE } from '../src/acceptor/sse-format.js';
import { ProxyError } from '../src/errors.js';

/** Feed the text to a real SSE parser, in small chunks so field boundaries fall mid-chunk. */
function receive(text: string, chunk = 7): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  for (let i = 0; i < text.length; i += chunk) parser.feed(text.slice(i, i + chunk));
  return events;
}

describe('sseEvent', () => {
  test('single-line JSON: exact bytes', () => {
    assert.equal(sseEvent('{"a":1}'), 'event: message\ndata: {"a":1}\n\n');
    assert.equal(sseEvent('{"a":1}', 'e-42'), 'event: message\nid: e-42\ndata: {"a":1}\n\n');
  });

  test('pretty-printed JSON with LF, CRLF and CR survives a real SSE parser', () => {
    const value = { jsonrpc: '2.0', id: 0, result: { text: 'a\nb', list: [1, 2, { x: '' }] } };
    const pretty = JSON.stringify(value, null, 2);
    for (const eol of ['\n', '\r\n', '\r']) {
      const json = pretty.replace(/\n/g, eol);
      const wire = sseEvent(json, '17');
      assert.ok(!/\r/.test(wire), 'no CR may reach the wire');
      const [event, ...rest] = receive(wire);
      assert.equal(rest.length, 0);
      assert.ok(event);
      assert.equal(event.event, 'message');
      assert.equal(event.id, '17');
      assert.deepStrictEqual(JSON.parse(event.data), value);
      assert.equal(event.data, pretty);
    }
  });

  test('blank lines and leading spaces inside the data are kept', () => {
    const json = '{\n\n   "a": 1\r\n\r\n}';
    const [event] = receive(sseEvent(json) + sseEvent('{"b":2}'));
    assert.equal(event?.data, '{\n\n   "a": 1\n\n}');
    assert.deepStrictEqual(JSON.parse(event?.data ?? ''), { a: 1 });
  });

  test('several events in one stream stay separate', () => {
    const events = receive(sseEvent('{"n":1}', '1') + SSE_KEEPALIVE + sseEvent('{\n"n":2\n}', '2'), 3);
    assert.deepStrictEqual(events.map((e) => [e.id, e.data]), [['1', '{"n":1}'], ['2', '{\n"n":2\n}']]);
  });

  test('an event id with a line break is refused', () => {
    assert.throws(() => sseEvent('{}', 'a\ndata: forged'), (err: unknown) => err instanceof ProxyError && err.code === 'E_INTERNAL');
  });
});

describe('sseEndpointEvent / keepalive', () => {
  test('endpoint event carries the URL', () => {
    const url = '/demo/message?sessionId=0123456789abcdef0123456789abcdef';
    assert.equal(sseEndpointEvent(url), `event: endpoint\ndata: ${url}\n\n`);
    const [event] = receive(sseEndpointEvent(url));
    assert.equal(event?.event, 'endpoint');
    assert.equal(event?.data, url);
    assert.throws(() => sseEndpointEvent('/x\r\n'), ProxyError);
  });

  test('keepalive is a comment the parser ignores', () => {
    assert.equal(SSE_KEEPALIVE, ': keepalive\n\n');
    assert.deepStrictEqual(receive(SSE_KEEPALIVE), []);
  });
});
