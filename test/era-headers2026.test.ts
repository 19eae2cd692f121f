import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Scan2026, scanRequest2026 } from '../src/era/envelope2026.js';
import { type ParamHeaderSpec, checkHeaders2026, decodeHeaderValue, encodeHeaderValue, headersFromBody2026 } from '../src/era/headers2026.js';
import { MAX_SCHEMA_NODES, paramHeadersOf } from '../src/era/tool-headers.js';
import { ErrorCode, WIRE } from '../src/errors.js';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';

function scan(body: string, params: readonly ParamHeaderSpec[] = []): Scan2026 {
  const r = scanRequest2026(body, params.map((p) => p.path));
  if (!r.ok) assert.fail(r.problem);
  return r;
}
const getter = (h: Record<string, string>) => (n: string): string => h[n] ?? '';

describe('Mcp-Name / Mcp-Param value encoding', () => {
  test('the spec examples encode and decode as the table says', () => {
    const table: [string, string][] = [
      ['us-west1', 'us-west1'],
      ['Hello, 世界', '=?base64?SGVsbG8sIOS4lueVjA==?='],
      [' padded ', '=?base64?IHBhZGRlZCA=?='],
      ['line1\nline2', '=?base64?bGluZTEKbGluZTI=?='],
      ['=?base64?literal?=', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?='],
    ];
    for (const [value, header] of table) {
      assert.equal(encodeHeaderValue(value), header, value);
      assert.equal(decodeHeaderValue(header), value, header);
    }
  });

  test('malformed values decode to null: raw non-ASCII or control bytes, bad Base64, invalid UTF-8', () => {
    for (const raw of ['caf\u00e9', 'a\nb', 'a\u0000', '=?base64?not base64?=', '=?base64?abc?=', '=?base64?' + Buffer.from([0xff, 0xfe]).toString('base64') + '?=']) {
      assert.equal(decodeHeaderValue(raw), null, JSON.stringify(raw));
    }
    // Markers are case-sensitive: an upper-case one is a plain value.
    assert.equal(decodeHeaderValue('=?BASE64?SGk=?='), '=?BASE64?SGk=?=');
  });

  test('any string survives encode then decode, and the encoded form is a legal plain header value', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (v) => {
      const h = encodeHeaderValue(v);
      assert.match(h, /^[\t\x20-\x7e]*$/);
      assert.equal(decodeHeaderValue(h), v);
    }), { numRuns: 3000, seed: 7 });
  });
});

describe('checkHeaders2026', () => {
  const call = body2026(1, 'tools/call', { name: 'execute_sql', arguments: { region: 'us-west1', n: 42, flag: false, query: 'q' } });
  const specs: ParamHeaderSpec[] = [
    { name: 'Region', path: ['region'], type: 'string' },
    { name: 'N', path: ['n'], type: 'integer' },
    { name: 'Flag', path: ['flag'], type: 'boolean' },
    { name: 'Absent', path: ['nothing'], type: 'string' },
  ];
  const good = { 'mcp-method': 'tools/call', 'mcp-name': 'execute_sql', 'mcp-param-region': 'us-west1', 'mcp-param-n': '42.0', 'mcp-param-flag': 'false' };

  test('matching headers pass; integers compare numerically', () => {
    assert.equal(checkHeaders2026(getter(good), 'tools/call', scan(call, specs), specs), null);
  });

  test('each mismatch or missing header is one HeaderMismatch problem naming the header (400, -32020)', () => {
    const cases: [string, Record<string, string>][] = [
      ['mcp-method', { ...good, 'mcp-method': '' }],
      ['mcp-method', { ...good, 'mcp-method': 'tools/list' }],
      ['mcp-method', { ...good, 'mcp-method': 'Tools/Call' }],
      ['mcp-name', { ...good, 'mcp-name': '' }],
      ['mcp-name', { ...good, 'mcp-name': 'other' }],
      ['mcp-name', { ...good, 'mcp-name': '=?base64?!!?=' }],
      ['mcp-param-region', { ...good, 'mcp-param-region': '' }],
      ['mcp-param-region', { ...good, 'mcp-param-region': 'eu-west1' }],
      ['mcp-param-n', { ...good, 'mcp-param-n': '43' }],
      ['mcp-param-n', { ...good, 'mcp-param-n': '0x2a' }],
      ['mcp-param-flag', { ...good, 'mcp-param-flag': 'False' }],
      ['mcp-param-absent', { ...good, 'mcp-param-absent': 'x' }],
    ];
    for (const [header, h] of cases) {
      const p = checkHeaders2026(getter(h), 'tools/call', scan(call, specs), specs);
      assert.ok(p, JSON.stringify(h));
      assert.equal(p.header, header, JSON.stringify(h));
      assert.equal(p.code, ErrorCode.HeaderMismatch);
      assert.match(p.message, /^Header mismatch: /);
    }
    assert.deepEqual(WIRE[ErrorCode.HeaderMismatch], { status: 400, rpc: -32020 });
  });

  test('a null argument needs no header; a body value of the wrong type never matches', () => {
    const b = body2026(2, 'tools/call', { name: 't', arguments: { region: null, n: '42' } });
    const sp: ParamHeaderSpec[] = [{ name: 'Region', path: ['region'], type: 'string' }, { name: 'N', path: ['n'], type: 'integer' }];
    assert.equal(checkHeaders2026(getter({ 'mcp-method': 'tools/call', 'mcp-name': 't', 'mcp-param-n': '42' }), 'tools/call', scan(b, sp), sp)?.header, 'mcp-param-n');
    assert.equal(checkHeaders2026(getter({ 'mcp-method': 'tools/call', 'mcp-name': 't' }), 'tools/call', scan(b, sp), sp)?.header, 'mcp-param-n');
  });

  test('Mcp-Name comes from params.uri on resources/read and is not required on other methods', () => {
    const uri = 'file:///projects/é.json';
    const s = scan(body2026(3, 'resources/read', { uri }));
    assert.equal(checkHeaders2026(getter({ 'mcp-method': 'resources/read', 'mcp-name': encodeHeaderValue(uri) }), 'resources/read', s), null);
    assert.equal(checkHeaders2026(getter({ 'mcp-method': 'resources/read', 'mcp-name': 'file:///projects/e.json' }), 'resources/read', s)?.header, 'mcp-name');
    assert.equal(checkHeaders2026(getter({ 'mcp-method': 'tools/list' }), 'tools/list', scan(body2026(4, 'tools/list'))), null);
    const noName = scan(body2026(5, 'prompts/get', {}));
    assert.equal(checkHeaders2026(getter({ 'mcp-method': 'prompts/get', 'mcp-name': 'x' }), 'prompts/get', noName)?.header, 'mcp-name');
  });
});

describe('paramHeadersOf (x-mcp-header in a tool inputSchema)', () => {
  test('the spec example and a nested property', () => {
    const r = paramHeadersOf({
      type: 'object',
      properties: {
        region: { type: 'string', 'x-mcp-header': 'Region' },
        query: { type: 'string' },
        opts: { type: 'object', properties: { tenant: { type: 'integer', 'x-mcp-header': 'Tenant' }, dry: { type: 'boolean', 'x-mcp-header': 'Dry-Run' } } },
      },
    });
    assert.deepEqual(r, {
      ok: true,
      params: [
        { name: 'Dry-Run', path: ['opts', 'dry'], type: 'boolean' },
        { name: 'Region', path: ['region'], type: 'string' },
        { name: 'Tenant', path: ['opts', 'tenant'], type: 'integer' },
      ],
    });
    assert.deepEqual(paramHeadersOf({ type: 'object' }), { ok: true, params: [] });
  });

  test('invalid annotations make the tool invalid', () => {
    const bad: unknown[] = [
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': '' } } },
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'Bad Name' } } },
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'X' }, b: { type: 'string', 'x-mcp-header': 'x' } } },
      { type: 'object', properties: { a: { type: 'number', 'x-mcp-header': 'A' } } },
      { type: 'object', properties: { a: { type: 'array', items: { type: 'string', 'x-mcp-header': 'A' } } } },
      { type: 'object', oneOf: [{ properties: { a: { type: 'string', 'x-mcp-header': 'A' } } }] },
      { type: 'object', $defs: { d: { type: 'string', 'x-mcp-header': 'A' } } },
      { type: 'string', 'x-mcp-header': 'Root' },
    ];
    for (const s of bad) assert.equal(paramHeadersOf(s).ok, false, JSON.stringify(s));
  });

  test('a huge or very deep schema is refused by bounds, not by a stack overflow', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let k = 0; k < 100_000; k++) deep = { type: 'object', properties: { p: deep } };
    assert.equal(paramHeadersOf(deep).ok, false);
    let wide: unknown = {};
    for (let k = 0; k < MAX_SCHEMA_NODES + 10; k++) wide = { items: wide };
    assert.equal(paramHeadersOf(wide).ok, false);
  });
});

describe('headers derived from the body are what a 2026 server accepts (raw fixture over loopback)', () => {
  let up: Raw2026Upstream;
  before(async () => {
    up = await startRaw2026Upstream();
  });
  after(async () => {
    await up.close();
  });

  test('specs learned from its tools/list and headers built from the body pass its validation', async () => {
    const list = (await (await post2026(up.url, body2026(1, 'tools/list'), headers2026('tools/list'))).json()) as { result: { tools: { name: string; inputSchema: unknown }[] } };
    const route = list.result.tools.find((t) => t.name === 'route');
    const learned = paramHeadersOf(route?.inputSchema);
    assert.ok(learned.ok);
    assert.deepEqual(learned.params, [{ name: 'Region', path: ['region'], type: 'string' }]);

    const requests: [string, Record<string, unknown>][] = [
      ['tools/call', { name: 'route', arguments: { region: 'eu-north-1', query: 'q' } }],
      ['resources/read', { uri: 'mem://café' }],
      ['prompts/get', { name: 'greet', arguments: { who: 'Ada' } }],
    ];
    for (const [method, params] of requests) {
      const body = body2026(2, method, params);
      const specs: readonly ParamHeaderSpec[] = method === 'tools/call' ? learned.params : [];
      const s = scan(body, specs);
      const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' };
      for (const [k, v] of headersFromBody2026(method, s, specs)) h[k.toLowerCase()] = v;
      // Our own check agrees with the server's.
      assert.equal(checkHeaders2026(getter(h), method, s, specs), null, method);
      const res = await post2026(up.url, body, h);
      assert.equal(res.status, 200, method);
      await res.arrayBuffer();
    }
    const rec = up.requests.find((r) => r.rpcMethod === 'resources/read');
    assert.equal(rec?.headers['mcp-name'], '=?base64?' + Buffer.from('mem://café').toString('base64') + '?=');
  });
});
