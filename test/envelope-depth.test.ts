/**
 * The nesting-depth limit of the envelope scanner (issue 9: a 100k-deep initialize crashed a
 * worker later, in JSON.stringify) and the textual id rewrite used to replay an initialize.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { frameProblem } from '../src/acceptor/frame-check.js';
import {
  MAX_DEPTH, MsgKind, PARSE_ERROR, TOO_DEEP, depthOf, memberSpans, parseEnvelope, parseEnvelopeSimple, replaceId,
} from '../src/upstream/jsonrpc-envelope.js';

/** A request whose params.x nests `levels` arrays, so the whole message is levels + 2 deep. */
function nested(levels: number, innermost = ''): string {
  return '['.repeat(levels) + innermost + ']'.repeat(levels);
}
function request(paramsDepth: number, idLast = false): string {
  const params = `{"x":${nested(paramsDepth - 1)}}`;
  return idLast
    ? `{"method":"tools/call","params":${params},"jsonrpc":"2.0","id":"req-7"}`
    : `{"jsonrpc":"2.0","id":"req-7","method":"tools/call","params":${params}}`;
}

describe('nesting depth limit', () => {
  test('exactly MAX_DEPTH levels is a request; one more is Invalid with the id and method echoed', () => {
    const ok = request(MAX_DEPTH - 1); // top-level object + params object + arrays
    assert.equal(depthOf(JSON.parse(ok)), MAX_DEPTH);
    assert.equal(parseEnvelope(ok).kind, MsgKind.Request);
    const deep = request(MAX_DEPTH);
    assert.equal(depthOf(JSON.parse(deep)), MAX_DEPTH + 1);
    for (const text of [deep, request(MAX_DEPTH, true), request(100_000, true)]) {
      const env = parseEnvelope(text);
      assert.deepStrictEqual(env, { kind: MsgKind.Invalid, id: 'req-7', method: 'tools/call', problem: TOO_DEEP });
      assert.deepStrictEqual(parseEnvelopeSimple(text), env);
      assert.deepStrictEqual(frameProblem(env), { code: 'E_NESTING_TOO_DEEP', message: `Invalid Request: ${TOO_DEEP}` });
    }
  });

  test('an empty innermost container counts as a level, objects count like arrays', () => {
    const arrays = `{"jsonrpc":"2.0","id":1,"result":${nested(MAX_DEPTH)}}`; // 1 + MAX_DEPTH
    assert.equal(parseEnvelope(arrays).problem, TOO_DEEP);
    assert.equal(parseEnvelope(`{"jsonrpc":"2.0","id":1,"result":${nested(MAX_DEPTH - 1)}}`).kind, MsgKind.Response);
    const objects = (n: number): string => '{"a":'.repeat(n) + '{}' + '}'.repeat(n);
    assert.equal(parseEnvelope(`{"jsonrpc":"2.0","id":1,"result":${objects(MAX_DEPTH - 2)}}`).kind, MsgKind.Response);
    assert.equal(parseEnvelope(`{"jsonrpc":"2.0","id":1,"result":${objects(MAX_DEPTH - 1)}}`).problem, TOO_DEEP);
  });

  test('a syntax error anywhere wins over depth (-32700), and a deep batch or scalar has no id', () => {
    const broken = request(200).slice(0, -2);
    assert.equal(parseEnvelope(broken).problem, PARSE_ERROR);
    assert.equal(parseEnvelopeSimple(broken).problem, PARSE_ERROR);
    const batch = nested(MAX_DEPTH + 1);
    assert.deepStrictEqual(parseEnvelope(batch), { kind: MsgKind.Invalid, id: null, method: undefined, problem: TOO_DEEP });
    assert.deepStrictEqual(parseEnvelopeSimple(batch), parseEnvelope(batch));
    assert.equal(parseEnvelope(nested(MAX_DEPTH)).kind, MsgKind.Batch);
  });

  test('upstream frames (limitDepth false) are routed by id at any depth', () => {
    const reply = `{"jsonrpc":"2.0","id":9,"result":${nested(50_000)}}`;
    assert.deepStrictEqual(parseEnvelope(reply, false), { kind: MsgKind.Response, id: 9, method: undefined });
  });

  test('the scanner recovers after a very deep frame (its stack is shrunk back, state reset)', () => {
    assert.equal(parseEnvelope(request(1_000_000)).problem, TOO_DEEP);
    assert.equal(parseEnvelope(request(10)).kind, MsgKind.Request);
    assert.equal(parseEnvelope('{"jsonrpc":"2.0","method":"n"}').kind, MsgKind.Notification);
  });
});

describe('replaceId / memberSpans', () => {
  test('replaces the top-level id textually, leaving nested ids and every other byte alone', () => {
    const frame = '{ "jsonrpc":"2.0", "params":{"id":5,"x":[{"id":6}]},\n "id" : 17 ,"method":"initialize"}';
    const out = replaceId(frame, '"mithril-reinit-1"');
    assert.equal(out, '{ "jsonrpc":"2.0", "params":{"id":5,"x":[{"id":6}]},\n "id" : "mithril-reinit-1" ,"method":"initialize"}');
    assert.deepStrictEqual(JSON.parse(out!), { ...JSON.parse(frame) as object, id: 'mithril-reinit-1' });
  });

  test('every duplicate id and escaped key spellings are replaced', () => {
    const out = replaceId('{"id":1,"\\u0069d":"two","method":"m","jsonrpc":"2.0"}', '3');
    assert.equal(out, '{"id":3,"\\u0069d":3,"method":"m","jsonrpc":"2.0"}');
  });

  test('works on frames far deeper than JSON.stringify can handle', () => {
    const deep = nested(200_000);
    const frame = `{"jsonrpc":"2.0","method":"initialize","params":{"deep":${deep}},"id":1}`;
    assert.throws(() => JSON.stringify(JSON.parse(frame)), RangeError); // the issue-9 mechanism
    const out = replaceId(frame, '"r"')!;
    assert.equal(out.length, frame.length + 2);
    assert.ok(out.endsWith(',"id":"r"}'));
  });

  test('undefined for non-objects, invalid JSON and frames without an id', () => {
    for (const bad of ['[1]', '1', '{"id":1', '{"id":1,}', '{"method":"m"}', '']) assert.equal(replaceId(bad, '1'), undefined, bad);
    assert.deepStrictEqual(memberSpans('{"error":{"code":1},"id":2}', 'error'), [[9, 19]]);
    assert.deepStrictEqual(memberSpans('{}', 'error'), []);
  });
});
