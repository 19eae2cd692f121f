import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseEnvelope, parseEnvelopeSimple, idKey, isInitialize, MsgKind, PARSE_ERROR, TOO_DEEP, type Envelope,
} from '../src/upstream/jsonrpc-envelope.js';
import { mulberry32 } from './helpers/prng.js';


class Gen {
  constructor(private readonly r: () => number) {}
  int(n: number): number { return Math.floor(this.r() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)] as T; }
  chance(p: number): boolean { return this.r() < p; }

  ws(): string {
    if (!this.chance(0.3)) return '';
    let out = '';
    const n = 1 + this.int(3);
    for (let k = 0; k < n; k++) out += this.pick([' ', '\n', '\r', '\t', '\r\n']);
    return out;
  }

  /** A JSON string literal, sometimes with escapes (including \u, surrogate pairs and lone ones). */
  str(plain?: string): string {
    const text = plain ?? this.pick(['', 'a', 'tools/call', 'héllo', '日本', '😀', 'x"y', 'back\\slash', 'tab\there', 'line\nbreak', 'ctl\u0001']);
    if (!this.chance(0.4)) return JSON.stringify(text);
    let out = '"';
    for (const ch of text) {
      const code = ch.codePointAt(0) as number;
      const mode = this.int(4);
      if (mode === 0 && code < 0x10000) out += '\\u' + code.toString(16).padStart(4, '0').replace(/[a-f]/g, (h) => (this.chance(0.5) ? h.toUpperCase() : h));
      else if (ch === '/') out += this.pick(['/', '\\/']);
      else out += JSON.stringify(ch).slice(1, -1);
    }
    if (this.chance(0.1)) out += this.pick(['\\ud83d', '\\udc00', '\\b\\f\\r\\n\\t\\/']);
    return out + '"';
  }

  num(): string {
    const parts = [this.pick(['', '-']), this.pick(['0', '1', '7', '42', '123456789', '9007199254740993'])];
    if (this.chance(0.3)) parts.push('.' + this.pick(['0', '5', '25', '000001']));
    if (this.chance(0.3)) parts.push(this.pick(['e', 'E']) + this.pick(['', '+', '-']) + this.pick(['0', '2', '10', '400']));
    return parts.join('');
  }

  value(depth: number): string {
    const k = this.int(depth > 3 ? 5 : 7);
    switch (k) {
      case 0: return this.str();
      case 1: return this.num();
      case 2: return this.pick(['true', 'false', 'null']);
      case 3: return this.str();
      case 4: return this.num();
      case 5: {
        const n = this.int(4);
        const items: string[] = [];
        for (let j = 0; j < n; j++) items.push(this.ws() + this.value(depth + 1) + this.ws());
        return '[' + this.ws() + items.join(',') + ']';
      }
      default: {
        const n = this.int(4);
        const items: string[] = [];
        for (let j = 0; j < n; j++) items.push(this.ws() + this.str(this.pick(['a', 'id', 'method', 'x', 'result'])) + this.ws() + ':' + this.ws() + this.value(depth + 1) + this.ws());
        return '{' + this.ws() + items.join(',') + '}';
      }
    }
  }

  idValue(): string {
    return this.pick([
      () => this.num(), () => this.str(), () => this.str(''), () => '0', () => '-0', () => '"1"', () => '1',
      () => 'null', () => 'true', () => '{}', () => '[1]',
    ])();
  }

  /** A message-shaped object: envelope fields present or not, right or wrong, duplicated, shuffled. */
  message(): string {
    const fields: string[] = [];
    const add = (key: string, value: string): void => {
      const keyText = this.chance(0.1) ? this.str(key) : JSON.stringify(key);
      fields.push(this.ws() + keyText + this.ws() + ':' + this.ws() + value + this.ws());
    };
    if (this.chance(0.92)) add('jsonrpc', this.chance(0.85) ? this.str('2.0') : this.pick(['"1.0"', '2.0', 'null', '"2.0 "']));
    if (this.chance(0.7)) add('id', this.idValue());
    if (this.chance(0.6)) add('method', this.chance(0.9) ? this.str(this.pick(['initialize', 'tools/call', 'notifications/initialized', 'ping', ''])) : this.value(2));
    if (this.chance(0.3)) add('result', this.value(1));
    if (this.chance(0.15)) add('error', this.value(1));
    if (this.chance(0.5)) add('params', this.value(0));
    for (let j = this.int(3); j > 0; j--) add(this.pick(['meta', 'id', 'method', 'jsonrpc', 'x']), this.pick([() => this.idValue(), () => this.value(1)])());
    for (let j = fields.length - 1; j > 0; j--) {
      const o = this.int(j + 1);
      [fields[j], fields[o]] = [fields[o] as string, fields[j] as string];
    }
    return this.ws() + '{' + this.ws() + fields.join(',') + '}' + this.ws();
  }

  mutate(text: string): string {
    const pos = this.int(text.length + 1);
    const junk = this.pick(['"', '\\', ',', ':', '{', '}', '[', ']', '\n', '\u0001', 'e', '-', '.', '0', 'u', ' ', 'x', '\u00a0', '\ufeff', 'tru', 'nul', '+', '\\u12']);
    switch (this.int(4)) {
      case 0: return text.slice(0, pos) + text.slice(pos + 1);
      case 1: return text.slice(0, pos) + junk + text.slice(pos);
      case 2: return text.slice(0, pos) + junk + text.slice(pos + 1);
      default: return text.slice(0, pos);
    }
  }
}

function same(text: string): void {
  const got = parseEnvelope(text);
  const want = parseEnvelopeSimple(text);
  assert.deepStrictEqual(got, want, `mismatch for ${JSON.stringify(text)}`);
}

describe('parseEnvelope', () => {
  test('classifies the four message shapes', () => {
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}'), { kind: MsgKind.Request, id: 1, method: 'tools/call' });
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","method":"notifications/initialized"}'), { kind: MsgKind.Notification, id: null, method: 'notifications/initialized' });
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":"a","result":{}}'), { kind: MsgKind.Response, id: 'a', method: undefined });
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}'), { kind: MsgKind.Response, id: null, method: undefined });
    assert.equal(parseEnvelope(' [ {"jsonrpc":"2.0","method":"a"} ] ').kind, MsgKind.Batch);
  });

  test('ids 0 and "" are real ids', () => {
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":0,"method":"ping"}'), { kind: MsgKind.Request, id: 0, method: 'ping' });
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":"","method":"ping"}'), { kind: MsgKind.Request, id: '', method: 'ping' });
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":0,"result":0}'), { kind: MsgKind.Response, id: 0, method: undefined });
  });

  test('invalid JSON is a parse error; other problems are not', () => {
    for (const bad of ['', ' ', '{', '{"jsonrpc":"2.0",}', '{"a":1}x', '{"a":01}', '{"a":"\u0001"}', '{"a":"\\x"}', '[1,]', 'nul', '\ufeff{}', '{"a":1.}', '{"a":-}', '{"a":1e}']) {
      assert.equal(parseEnvelope(bad).problem, PARSE_ERROR, JSON.stringify(bad));
      assert.equal(parseEnvelope(bad).kind, MsgKind.Invalid);
    }
    const notParse: Array<[string, string]> = [
      ['42', 'message must be a JSON object'],
      ['null', 'message must be a JSON object'],
      ['{"id":1,"method":"a"}', 'jsonrpc must be "2.0"'],
      ['{"jsonrpc":"2.0","id":1,"method":7}', 'method must be a string'],
      ['{"jsonrpc":"2.0","id":{},"method":"a"}', 'id must be a string, number or null'],
      ['{"jsonrpc":"2.0","id":null,"method":"a"}', 'request id must not be null'],
      ['{"jsonrpc":"2.0","id":1,"result":1,"error":{}}', 'response must have exactly one of result or error'],
      ['{"jsonrpc":"2.0","id":1}', 'not a request, notification or response'],
    ];
    for (const [text, problem] of notParse) {
      const env = parseEnvelope(text);
      assert.equal(env.kind, MsgKind.Invalid, text);
      assert.equal(env.problem, problem, text);
    }
  });

  test('an invalid message still carries its usable id for the error reply', () => {
    assert.equal(parseEnvelope('{"jsonrpc":"2.0","id":5,"method":7}').id, 5);
    assert.equal(parseEnvelope('{"jsonrpc":"1.0","id":"x","method":"a"}').id, 'x');
  });

  test('escaped keys and values, duplicate keys (last wins), deep nesting', () => {
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2\\u002e0","\\u0069d":"\\u00e9","m\\u0065thod":"a\\/b"}'), { kind: MsgKind.Request, id: 'é', method: 'a/b' });
    assert.deepStrictEqual(parseEnvelope('{"jsonrpc":"2.0","id":1,"method":"a","id":2,"method":"b"}'), { kind: MsgKind.Request, id: 2, method: 'b' });
    assert.equal(parseEnvelope('{"jsonrpc":"1.0","jsonrpc":"2.0","method":"a"}').kind, MsgKind.Notification);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    same(`{"jsonrpc":"2.0","id":1,"result":${deep}}`);
    // Too deep for a client frame (test/envelope-depth.test.ts), still routable from upstream.
    assert.equal(parseEnvelope(`{"jsonrpc":"2.0","id":1,"result":${deep}}`).problem, TOO_DEEP);
    assert.equal(parseEnvelope(`{"jsonrpc":"2.0","id":1,"result":${deep}}`, false).kind, MsgKind.Response);
    same(`{"jsonrpc":"2.0","id":1,"result":${deep.slice(0, -1)}}`);
  });

  test('numbers: exponents, negative zero, huge values', () => {
    for (const n of ['1e2', '-0', '1E+2', '2.5e-3', '1e400', '-1e400', '9007199254740993', '0.1']) same(`{"jsonrpc":"2.0","id":${n},"method":"m"}`);
    assert.ok(Object.is(parseEnvelope('{"jsonrpc":"2.0","id":-0,"method":"m"}').id, -0));
  });

  test('agrees with JSON.parse on generated and mutated messages', () => {
    const seed = 0x5eed;
    const g = new Gen(mulberry32(seed));
    let valid = 0;
    let parseErrors = 0;
    const kinds = new Set<MsgKind>();
    for (let n = 0; n < 20_000; n++) {
      let text = g.chance(0.9) ? g.message() : g.value(0);
      if (g.chance(0.4)) text = g.mutate(text);
      if (g.chance(0.1)) text = g.mutate(text);
      if (g.chance(0.05)) text = '[' + text + ']';
      const env: Envelope = parseEnvelope(text);
      kinds.add(env.kind);
      if (env.problem === PARSE_ERROR) parseErrors++;
      else valid++;
      same(text);
    }
    // The generator must exercise both sides and every kind, or the comparison proves little.
    assert.ok(valid > 5000 && parseErrors > 2000, `valid=${valid} parseErrors=${parseErrors}`);
    assert.deepStrictEqual([...kinds].sort(), [MsgKind.Invalid, MsgKind.Request, MsgKind.Notification, MsgKind.Response, MsgKind.Batch].sort());
  });
});

describe('idKey / isInitialize', () => {
  test('keys are distinct for 1 vs "1", 0 vs "" vs null', () => {
    const ids = [1, '1', 0, '', null, 'n1', '_', 's1', -1, 1.5];
    const keys = new Set(ids.map(idKey));
    assert.equal(keys.size, ids.length);
    assert.equal(idKey(7), idKey(7));
    assert.equal(idKey('abc'), idKey('abc'));
  });

  test('isInitialize only for the initialize request', () => {
    assert.equal(isInitialize(parseEnvelope('{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}')), true);
    assert.equal(isInitialize(parseEnvelope('{"jsonrpc":"2.0","method":"initialize"}')), false);
    assert.equal(isInitialize(parseEnvelope('{"jsonrpc":"2.0","id":1,"method":"initialized"}')), false);
  });
});
