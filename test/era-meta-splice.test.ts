import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { withMeta } from '../src/era/meta-splice.js';

const M = '"io.modelcontextprotocol/protocolVersion":"2026-07-28","k":1';
const meta = (frame: string): unknown => (JSON.parse(frame) as { params: { _meta: unknown } }).params._meta;

describe('withMeta: members added to params._meta on the bytes', () => {
  test('no params: params and _meta are created', () => {
    const out = withMeta('{"jsonrpc":"2.0","id":1,"method":"tools/list"}', M);
    assert.deepEqual(meta(out!), { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', k: 1 });
  });
  test('empty object and empty params', () => {
    assert.deepEqual(JSON.parse(withMeta('{}', '"a":1')!), { params: { _meta: { a: 1 } } });
    assert.deepEqual(meta(withMeta('{"id":1,"params":{}}', '"a":1')!), { a: 1 });
    assert.deepEqual(meta(withMeta('{"id":1,"params":{"_meta":{}}}', '"a":1')!), { a: 1 });
  });
  test('params without _meta keep their members, untouched bytes around them', () => {
    const f = '{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo","arguments":{"t":"\\"}{"}}}';
    const out = withMeta(f, '"a":true')!;
    const p = JSON.parse(out) as { params: Record<string, unknown> };
    assert.deepEqual(p.params, { name: 'echo', arguments: { t: '"}{' }, _meta: { a: true } });
  });
  test('an existing _meta keeps its members; ours come last, so last-wins parsers see ours', () => {
    const f = '{"id":1,"params":{"_meta":{"progressToken":7,"a":0},"name":"n"}}';
    const out = withMeta(f, '"a":1')!;
    assert.deepEqual(meta(out), { progressToken: 7, a: 1 });
    assert.equal((JSON.parse(out) as { params: { name: string } }).params.name, 'n');
  });
  test('an escaped key spelling of params / _meta is recognised', () => {
    const out = withMeta('{"id":1,"par\\u0061ms":{"\\u005fmeta":{"x":1}}}', '"a":1')!;
    assert.deepEqual(meta(out), { x: 1, a: 1 });
  });
  test('not an object, params or _meta not objects, trailing junk: undefined', () => {
    for (const f of ['[]', '"s"', '{"params":[1]}', '{"params":{"_meta":3}}', '{"id":1} x', '{"id":1', '{"params":{"_meta":{}}']) {
      assert.equal(withMeta(f, '"a":1'), undefined, f);
    }
  });
  test('deep nesting in other members is skipped without recursion', () => {
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    const out = withMeta(`{"id":1,"params":{"arguments":${deep}}}`, '"a":1');
    assert.ok(out?.endsWith('"_meta":{"a":1}}}'));
  });
  test('property: for any JSON-RPC request with object params, the result parses and only _meta changed', () => {
    fc.assert(fc.property(
      fc.dictionary(fc.string().filter((k) => k !== '_meta' && k !== '__proto__'), fc.jsonValue()),
      fc.option(fc.dictionary(fc.string().filter((k) => k !== 'a' && k !== '__proto__'), fc.jsonValue()), { nil: undefined }),
      (params, m) => {
        const p = m === undefined ? params : { ...params, _meta: m };
        const f = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: p });
        const out = withMeta(f, '"a":1');
        assert.ok(out !== undefined);
        const got = JSON.parse(out) as { params: Record<string, unknown> };
        // Through JSON on both sides: -0 and the like print the same either way.
        assert.deepEqual(got.params, JSON.parse(JSON.stringify({ ...p, _meta: { ...(m ?? {}), a: 1 } })));
      },
    ), { numRuns: 300 });
  });
});
