/**
 * The byte-level pieces of the B2 bridge: `withParams` (the MRTR retry's members), `resultTypeOf`
 * (is this answer input_required, without building the result) and `withoutSubscriptionId` (listen
 * notifications for a session-era client). Property checks compare against JSON.parse.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { withParams } from '../src/era/meta-splice.js';
import { resultTypeOf } from '../src/upstream/modern-call.js';
import { withoutSubscriptionId } from '../src/upstream/modern-listen.js';

const RETRY = '"inputResponses":{"k":{"action":"accept"}},"requestState":"st"';

describe('withParams: members appended to params on the bytes', () => {
  test('existing params keep their members and bytes; the new ones come last', () => {
    const f = '{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"name":"ask","arguments":{"q":"}{\\"x"},"_meta":{"a":1}}}';
    const out = withParams(f, RETRY)!;
    assert.ok(out.startsWith(f.slice(0, f.length - 2)));
    assert.deepEqual(JSON.parse(out).params, { name: 'ask', arguments: { q: '}{"x' }, _meta: { a: 1 }, inputResponses: { k: { action: 'accept' } }, requestState: 'st' });
  });
  test('no params, empty params', () => {
    assert.deepEqual(JSON.parse(withParams('{"id":1,"method":"m"}', '"a":1')!).params, { a: 1 });
    assert.deepEqual(JSON.parse(withParams('{"id":1,"params":{ }}', '"a":1')!).params, { a: 1 });
  });
  test('the last duplicate wins, so the proxy\'s requestState is the one a parser keeps', () => {
    const out = withParams('{"id":1,"params":{"requestState":"client"}}', '"requestState":"proxy"')!;
    assert.equal(JSON.parse(out).params.requestState, 'proxy');
  });
  test('refused: not an object, params not an object, trailing garbage', () => {
    assert.equal(withParams('[1]', '"a":1'), undefined);
    assert.equal(withParams('{"params":[1]}', '"a":1'), undefined);
    assert.equal(withParams('{"params":{}} x', '"a":1'), undefined);
  });
  test('any JSON params object: the result parses to params plus the new member', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (params) => {
      if (Object.hasOwn(params, 'zz')) return;
      const out = withParams(JSON.stringify({ jsonrpc: '2.0', id: 1, params }), '"zz":true');
      assert.ok(out !== undefined);
      assert.deepEqual(JSON.parse(out).params, JSON.parse(JSON.stringify({ ...params, zz: true })));
    }), { numRuns: 300 });
  });
});

describe('resultTypeOf', () => {
  test('reads result.resultType, nothing else', () => {
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":{"content":[{"resultType":"no"}],"resultType":"input_required"}}'), 'input_required');
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}}'), 'complete');
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":{"resultType":"in\\u0070ut_required"}}'), 'input_required');
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}'), undefined);
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":{"resultType":7}}'), undefined);
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"resultType"}}'), undefined);
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":"input_required"}'), undefined);
    assert.equal(resultTypeOf('{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}'), undefined);
  });
  test('deep results are skipped without recursion', () => {
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    assert.equal(resultTypeOf(`{"id":1,"result":{"x":${deep},"resultType":"complete"}}`), 'complete');
  });
});

describe('withoutSubscriptionId', () => {
  test('the subscription id goes, the rest stays; an emptied _meta goes too', () => {
    const n = '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"L1"},"uri":"mem://a"}}';
    assert.deepEqual(JSON.parse(withoutSubscriptionId(n)!), { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'mem://a' } });
    const kept = '{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":3,"other":1}}}';
    assert.deepEqual(JSON.parse(withoutSubscriptionId(kept)!).params, { _meta: { other: 1 } });
  });
  test('a notification without it passes as the same bytes; non-notifications and hostile nesting are dropped', () => {
    const plain = '{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}';
    assert.equal(withoutSubscriptionId(plain), plain);
    assert.equal(withoutSubscriptionId('{"jsonrpc":"2.0","id":1,"result":{}}'), undefined);
    const deep = `{"jsonrpc":"2.0","method":"n","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":1},"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    assert.equal(withoutSubscriptionId(deep), undefined);
  });
});
