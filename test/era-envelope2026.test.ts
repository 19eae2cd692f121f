import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type ArgValue, MAX_ARG_PATHS, type Scan2026, scanRequest2026 } from '../src/era/envelope2026.js';

const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';

function ok(body: string, paths: string[][] = []): Scan2026 {
  const r = scanRequest2026(body, paths);
  if (!r.ok) assert.fail(`scan refused: ${r.problem}`);
  return r;
}

describe('scanRequest2026', () => {
  test('reads name, _meta version and capabilities, and mirrored arguments from the spec example', () => {
    const body = JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'tools/call',
      params: {
        _meta: { [PV]: '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'ExampleClient', version: '1.0.0' }, [CAPS]: {} },
        name: 'execute_sql', arguments: { region: 'us-west1', query: 'SELECT * FROM users', nested: { n: 42, b: true, z: null, o: {} } },
      },
    });
    const s = ok(body, [['region'], ['nested', 'n'], ['nested', 'b'], ['nested', 'z'], ['nested', 'o'], ['missing'], ['query', 'x']]);
    assert.equal(s.name, 'execute_sql');
    assert.equal(s.protocolVersion, '2026-07-28');
    assert.equal(s.hasClientCapabilities, true);
    assert.equal(s.uri, undefined);
    assert.deepEqual(s.args, [
      { kind: 'string', value: 'us-west1' },
      { kind: 'number', text: '42', value: 42 },
      { kind: 'boolean', value: true },
      { kind: 'null' },
      { kind: 'container' },
      undefined,
      undefined,
    ]);
  });

  test('reads uri, requestState and inputResponses of an MRTR retry; escapes are decoded in keys and values', () => {
    const body = '{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"ur\\u0069":"file:///caf\\u00e9","requestState":"abc","inputResponses":{"k":{}},'
      + '"_meta":{"io.modelcontextprotocol/protocol\\u0056ersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}';
    const s = ok(body);
    assert.equal(s.uri, 'file:///café');
    assert.equal(s.requestState, 'abc');
    assert.equal(s.hasInputResponses, true);
    assert.equal(s.protocolVersion, '2026-07-28');
    assert.equal(s.hasClientCapabilities, true);
  });

  test('reports the kind of a field that is present but not a string', () => {
    const s = ok(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: { name: 5, _meta: { [PV]: null, [CAPS]: [] } } }));
    assert.equal(s.name, undefined);
    assert.equal(s.nameKind, 'number');
    assert.equal(s.protocolVersionKind, 'null');
    assert.equal(s.hasClientCapabilities, false);
    const none = ok('{"jsonrpc":"2.0","id":1,"method":"x"}');
    assert.equal(none.hasParams, false);
    assert.equal(none.protocolVersionKind, 'absent');
  });

  test('refuses a body with the same routed key twice (header/body checks would see one copy, the upstream maybe another)', () => {
    const cases = [
      '{"params":{"name":"a","name":"b"}}',
      '{"params":{"uri":"a","uri":"b"}}',
      '{"params":{},"params":{}}',
      '{"params":{"_meta":{},"_meta":{}}}',
      `{"params":{"_meta":{"${PV}":"2026-07-28","${PV}":"2025-11-25"}}}`,
      '{"params":{"arguments":{"region":"a","region":"b"}}}',
      '{"params":{"arguments":{"a":{"b":1},"a":{"b":2}}}}',
    ];
    for (const body of cases) {
      const r = scanRequest2026(body, [['region'], ['a', 'b']]);
      assert.equal(r.ok, false, body);
      assert.match((r as { problem: string }).problem, /duplicate key/);
    }
    // Duplicates the proxy does not route on are left to the upstream.
    assert.equal(scanRequest2026('{"params":{"other":1,"other":2,"arguments":{"q":1,"q":2}}}', [['region']]).ok, true);
  });

  test('deeply nested client data is skipped without recursion', () => {
    const depth = 200_000;
    const deep = '['.repeat(depth) + ']'.repeat(depth);
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":${deep},"region":"r"},"_meta":{"k":${deep}}}}`;
    const r = scanRequest2026(body, [['region'], ['x', 'y']]);
    // Either scanned (no depth limit) or refused by skipValue's bound: never a stack overflow.
    if (r.ok) assert.deepEqual(r.args, [{ kind: 'string', value: 'r' }, undefined]);
  });

  test('bounds the mirrored paths and rejects malformed text', () => {
    const many = Array.from({ length: MAX_ARG_PATHS + 1 }, (_, k) => [`p${k}`]);
    assert.equal(scanRequest2026('{}', many).ok, false);
    assert.equal(scanRequest2026('{}', [[]]).ok, false);
    for (const bad of ['', '[]', '{"params":{"name":"a"}', '{"params":{"name":"a"}}x', '{"params":{"name":"a\u0001"}}']) {
      assert.equal(scanRequest2026(bad).ok, false, JSON.stringify(bad));
    }
  });

  test('agrees with JSON.parse on generated requests', () => {
    const key = fc.constantFrom('name', 'uri', 'requestState', 'inputResponses', 'arguments', '_meta', 'other', 'né');
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
    const json = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), tie('v'), { maxKeys: 3 })),
    })).v;
    const args = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(scalar, fc.dictionary(fc.constantFrom('a', 'b'), scalar, { maxKeys: 2 })), { maxKeys: 3 });
    const meta = fc.record({ [PV]: fc.oneof(fc.constant('2026-07-28'), scalar), [CAPS]: json }, { requiredKeys: [] });
    const params = fc.dictionary(key, json, { maxKeys: 5 }).chain((p) => fc.tuple(fc.constant(p), args, meta, fc.boolean()));
    const paths = [['a'], ['b'], ['a', 'b'], ['c', 'a']];
    fc.assert(fc.property(params, ([p, a, m, withParams]) => {
      const obj: Record<string, unknown> = { ...p, arguments: a, _meta: m };
      const text = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', ...(withParams ? { params: obj } : {}) });
      const r = scanRequest2026(text, paths);
      assert.ok(r.ok);
      const ref = (withParams ? JSON.parse(text).params : undefined) as Record<string, unknown> | undefined;
      const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
      assert.equal(r.hasParams, ref !== undefined);
      assert.equal(r.name, str(ref?.name));
      assert.equal(r.uri, str(ref?.uri));
      assert.equal(r.requestState, str(ref?.requestState));
      const rm = ref?._meta as Record<string, unknown> | undefined;
      assert.equal(r.protocolVersion, str(rm?.[PV]));
      const caps = rm?.[CAPS];
      assert.equal(r.hasClientCapabilities, typeof caps === 'object' && caps !== null && !Array.isArray(caps));
      for (let k = 0; k < paths.length; k++) {
        let v: unknown = ref?.arguments;
        for (const seg of paths[k] as string[]) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[seg] : undefined;
        const got: ArgValue | undefined = r.args[k];
        if (v === undefined) assert.equal(got, undefined);
        else if (v === null) assert.deepEqual(got, { kind: 'null' });
        else if (typeof v === 'string') assert.deepEqual(got, { kind: 'string', value: v });
        else if (typeof v === 'boolean') assert.deepEqual(got, { kind: 'boolean', value: v });
        else if (typeof v === 'number') assert.equal(got?.kind === 'number' && got.value, v);
        else assert.deepEqual(got, { kind: 'container' });
      }
    }), { numRuns: 2000, seed: 20261202 });
  });
});
