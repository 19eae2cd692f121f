import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createSseParser, type SseEvent } from '../src/upstream/sse-parser.js';

interface Recorded {
  events: SseEvent[];
  retries: number[];
  comments: string[];
}

function parseChunks(chunks: Array<string | Uint8Array>, end = true): Recorded {
  const rec: Recorded = { events: [], retries: [], comments: [] };
  const p = createSseParser({
    onEvent: (e) => rec.events.push(e),
    onRetry: (ms) => rec.retries.push(ms),
    onComment: (t) => rec.comments.push(t),
  });
  for (const c of chunks) p.push(c);
  if (end) p.end();
  return rec;
}

const enc = new TextEncoder();
const ev = (data: string, event?: string, id?: string): SseEvent => ({ data, event, id });

describe('sse-parser', () => {
  test('multi-line data is joined with LF (every line kept)', () => {
    const r = parseChunks(['data: {"a":\ndata: 1,\ndata: "b":2}\n\n']);
    assert.deepEqual(r.events, [ev('{"a":\n1,\n"b":2}')]);
  });

  test('id field', () => {
    const r = parseChunks(['id: 42\ndata: x\n\ndata: y\n\n']);
    assert.deepEqual(r.events, [ev('x', undefined, '42'), ev('y')]);
  });

  test('event field', () => {
    const r = parseChunks(['event: endpoint\ndata: /message?sessionId=1\n\n']);
    assert.deepEqual(r.events, [ev('/message?sessionId=1', 'endpoint')]);
  });

  test('retry field (digits only)', () => {
    const r = parseChunks(['retry: 1500\n\nretry: 1x\n\nretry:20\ndata: a\n\n']);
    assert.deepEqual(r.retries, [1500, 20]);
    assert.deepEqual(r.events, [ev('a')]);
  });

  test('comments are reported and never dispatched', () => {
    const r = parseChunks([': keep-alive\n\n:no space\ndata: a\n\n']);
    assert.deepEqual(r.comments, ['keep-alive', 'no space']);
    assert.deepEqual(r.events, [ev('a')]);
  });

  test('LF, CRLF, CR and mixed line endings', () => {
    const expected = [ev('one', 'e1', '1'), ev('two\nthree')];
    const bodies = {
      lf: 'id: 1\nevent: e1\ndata: one\n\ndata: two\ndata: three\n\n',
      crlf: 'id: 1\r\nevent: e1\r\ndata: one\r\n\r\ndata: two\r\ndata: three\r\n\r\n',
      cr: 'id: 1\revent: e1\rdata: one\r\rdata: two\rdata: three\r\r',
      mixed: 'id: 1\r\nevent: e1\rdata: one\n\r\ndata: two\rdata: three\n\r',
    };
    for (const [name, body] of Object.entries(bodies)) {
      assert.deepEqual(parseChunks([body]).events, expected, name);
    }
  });

  test('an event split across chunks', () => {
    const r = parseChunks(['da', 'ta: hel', 'lo\n', 'data: world', '\n', '\n']);
    assert.deepEqual(r.events, [ev('hello\nworld')]);
  });

  test('a CR-terminated event is dispatched without waiting for the next chunk', () => {
    const seen: SseEvent[] = [];
    const p = createSseParser({ onEvent: (e) => seen.push(e) });
    p.push('data: now\r\r');
    assert.deepEqual(seen, [ev('now')]);
    p.push('\ndata: next\r\n\r\n'); // the LF completes the earlier CR LF pair: no extra blank line
    assert.deepEqual(seen, [ev('now'), ev('next')]);
  });

  test('a leading BOM is ignored (bytes and string input, split bytes)', () => {
    const body = '\uFEFFdata: a\n\n';
    assert.deepEqual(parseChunks([body]).events, [ev('a')]);
    const bytes = enc.encode(body);
    assert.deepEqual(parseChunks([bytes]).events, [ev('a')]);
    assert.deepEqual(parseChunks([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)]).events, [ev('a')]);
    // Only one leading BOM is ignored: a second one becomes part of the field name.
    assert.deepEqual(parseChunks(['\uFEFF\uFEFFdata: a\n\ndata: b\n\n']).events, [ev('b')]);
  });

  test('data with no space after the colon; only one space is stripped', () => {
    const r = parseChunks(['data:tight\n\ndata:  two spaces\n\n']);
    assert.deepEqual(r.events, [ev('tight'), ev(' two spaces')]);
  });

  test('a field with no colon is a field with an empty value', () => {
    const r = parseChunks(['data\ndata\n\n', 'event\ndata: x\n\n']);
    assert.deepEqual(r.events, [ev('\n'), ev('x')]);
  });

  test('an empty data: line dispatches an event with empty data', () => {
    const r = parseChunks(['id: p1\ndata:\n\n', 'data: \n\n']);
    assert.deepEqual(r.events, [ev('', undefined, 'p1'), ev('')]);
  });

  test('an event without the closing blank line at end of stream is not dispatched', () => {
    const r = parseChunks(['data: complete\n\ndata: partial\n']);
    assert.deepEqual(r.events, [ev('complete')]);
    const r2 = parseChunks(['data: complete\n\ndata: partial']);
    assert.deepEqual(r2.events, [ev('complete')]);
  });

  test('a multi-byte UTF-8 character split between chunks', () => {
    const bytes = enc.encode('data: h\u00e9llo \u{1F600} \u20ac\n\n');
    const emoji = bytes.indexOf(0xf0);
    const r = parseChunks([bytes.subarray(0, 9), bytes.subarray(9, emoji + 2), bytes.subarray(emoji + 2)]);
    assert.deepEqual(r.events, [ev('h\u00e9llo \u{1F600} \u20ac')]);
  });

  test('reset() forgets a partial event', () => {
    const seen: SseEvent[] = [];
    const p = createSseParser({ onEvent: (e) => seen.push(e) });
    p.push('data: lost\n');
    p.reset();
    p.push('data: kept\n\n');
    assert.deepEqual(seen, [ev('kept')]);
  });

  test('maxBufferChars stops the parser and reports the overflow', () => {
    let overflows = 0;
    const seen: SseEvent[] = [];
    const p = createSseParser({ onEvent: (e) => seen.push(e) }, { maxBufferChars: 64, onOverflow: () => overflows++ });
    p.push('data: ' + 'x'.repeat(100));
    p.push('\n\ndata: after\n\n');
    assert.equal(overflows, 1);
    assert.deepEqual(seen, []);
  });

  describe('chunking does not change the result', () => {
    const stream =
      '\uFEFF: hello\r\nretry: 100\nid: 1\nevent: message\ndata: {"jsonrpc":"2.0",\ndata: "id":1}\n\n' +
      'data:caf\u00e9 \u{1F680}\r\rid: 2\r\ndata\r\n\r\n' +
      'event: endpoint\ndata: /m?s=\u00fc\n\n: tail\ndata: dropped at end';
    const bytes = enc.encode(stream);
    const baseline = parseChunks([bytes]);

    test('baseline is what the spec says', () => {
      assert.deepEqual(baseline.events, [
        ev('{"jsonrpc":"2.0",\n"id":1}', 'message', '1'),
        ev('caf\u00e9 \u{1F680}'),
        ev('', undefined, '2'),
        ev('/m?s=\u00fc', 'endpoint'),
      ]);
      assert.deepEqual(baseline.retries, [100]);
      assert.deepEqual(baseline.comments, ['hello', 'tail']);
    });

    test('every 2-way split point', () => {
      for (let i = 0; i <= bytes.length; i++) {
        const r = parseChunks([bytes.subarray(0, i), bytes.subarray(i)]);
        assert.deepEqual(r, baseline, `split at ${i}`);
      }
    });

    test('every 2-way split point of the decoded string', () => {
      for (let i = 0; i <= stream.length; i++) {
        const r = parseChunks([stream.slice(0, i), stream.slice(i)]);
        assert.deepEqual(r, baseline, `split at ${i}`);
      }
    });

    test('a deterministic sample of 3-way splits, and byte-at-a-time', () => {
      let seed = 12345;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      for (let k = 0; k < 500; k++) {
        const a = rand(bytes.length + 1);
        const b = a + rand(bytes.length - a + 1);
        const r = parseChunks([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
        assert.deepEqual(r, baseline, `split at ${a},${b}`);
      }
      const single: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
      assert.deepEqual(parseChunks(single), baseline);
    });
  });
});
