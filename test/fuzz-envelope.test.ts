/**
 * Property-based fuzzing of the envelope scanner with fast-check (fixed seeds, so a failure is
 * reproducible; 31,000 cases in all, a few seconds). What must hold for any input:
 *  - it never throws, and agrees exactly with the JSON.parse reference (parseEnvelopeSimple);
 *  - nesting deeper than MAX_DEPTH is Invalid (E_NESTING_TOO_DEEP) with the request's id echoed;
 *  - a usable id is echoed as JSON.parse reads it;
 *  - replaceId changes the top-level id and nothing else.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  MAX_DEPTH, MsgKind, TOO_DEEP, depthOf, parseEnvelope, parseEnvelopeSimple, replaceId,
} from '../src/upstream/jsonrpc-envelope.js';

const SEED = 0x5eed_f00d;
/** Bounds each property's wall time on a loaded 2-core machine (fast-check stops early, not silently: see below). */
const TIME_LIMIT_MS = 60_000;

function check<T>(arb: fc.Arbitrary<T>, numRuns: number, pred: (v: T) => void, seedOffset = 0): void {
  const out = fc.check(fc.property(arb, (v) => {
    pred(v);
  }), { seed: SEED + seedOffset, numRuns, interruptAfterTimeLimit: TIME_LIMIT_MS });
  if (out.failed) throw new Error(`${fc.defaultReportMessage(out) ?? 'property failed'}\n${String(out.errorInstance)}`);
  // An interrupted run would prove less than claimed: count what actually ran.
  assert.equal(out.numRuns, numRuns, `only ${out.numRuns} of ${numRuns} cases ran within ${TIME_LIMIT_MS} ms`);
}

function same(text: string): void {
  const got = parseEnvelope(text);
  const want = parseEnvelopeSimple(text);
  assert.deepStrictEqual(got, want, text.length > 300 ? `${text.slice(0, 300)}…` : text);
}

const ws = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n', '  ');
const KEYS = ['jsonrpc', 'id', 'method', 'params', 'result', 'error'] as const;
/** A key as text: plain, or with a \u escape the scanner must decode to recognise it. */
function keyText(k: string, escaped: boolean): string {
  if (!escaped || k.length === 0) return JSON.stringify(k);
  return `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k.slice(1)).slice(1)}`;
}
const idArb = fc.oneof(
  fc.string({ maxLength: 12 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);
const valueFor: Record<(typeof KEYS)[number], fc.Arbitrary<unknown>> = {
  jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('2.0'), fc.constant('1.0'), fc.jsonValue({ maxDepth: 1 })),
  id: idArb,
  method: fc.oneof(fc.constantFrom('initialize', 'tools/call', 'notifications/initialized', 'ping'), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
  params: fc.jsonValue({ maxDepth: 6 }),
  result: fc.jsonValue({ maxDepth: 6 }),
  error: fc.oneof(fc.record({ code: fc.integer(), message: fc.string() }), fc.jsonValue({ maxDepth: 2 })),
};
const member = fc.oneof(
  ...KEYS.map((k) => fc.tuple(fc.constant(k), valueFor[k])),
  fc.tuple(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 })),
);
/** A JSON-RPC-ish object as text: any subset of envelope keys, any order, duplicates, escapes, whitespace. */
const messageText = fc.array(fc.tuple(member, fc.boolean(), ws, ws), { maxLength: 7 }).map((members) => {
  const parts = members.map(([[k, v], esc, a, b]) => `${a}${keyText(k, esc)}${b}:${a}${JSON.stringify(v)}${b}`);
  return `{${parts.join(',')}}`;
});
const anyJsonText = fc.oneof({ weight: 4, arbitrary: messageText }, { weight: 1, arbitrary: fc.json({ maxDepth: 5 }) });

const MUTATION_CHARS = ['{', '}', '[', ']', '"', '\\', ',', ':', '0', '-', 'e', '.', 't', 'n', ' ', '\u0000', '\u001f', 'é', '\ud800', 'u', '1'];
const mutation = fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'delete', 'replace'), ch: fc.constantFrom(...MUTATION_CHARS) });
function mutate(text: string, ms: ReadonlyArray<{ at: number; op: string; ch: string }>): string {
  let s = text;
  for (const m of ms) {
    const i = s.length === 0 ? 0 : m.at % (s.length + 1);
    if (m.op === 'insert') s = s.slice(0, i) + m.ch + s.slice(i);
    else if (m.op === 'delete') s = s.slice(0, i) + s.slice(i + 1);
    else s = s.slice(0, i) + m.ch + s.slice(i + 1);
  }
  return s;
}

/** `levels` containers (objects or arrays, by the pattern) around an innermost value. */
function nest(levels: number, objects: readonly boolean[], inner: string): string {
  let open = '';
  let close = '';
  for (let l = 0; l < levels; l++) {
    const obj = objects.length > 0 && objects[l % objects.length] === true;
    open += obj ? '{"k":' : '[';
    close = (obj ? '}' : ']') + close;
  }
  // An object level needs a value; '{"k":' + inner + '}' does, and an empty innermost still counts.
  return open + inner + close;
}

describe('fuzz: envelope scanner (fast-check)', () => {
  test('agrees with the JSON.parse reference on arbitrary JSON-RPC-shaped and arbitrary JSON texts (10,000)', () => {
    check(anyJsonText, 10_000, (text) => same(text), 1);
  });

  test('never throws and agrees on mutated texts (10,000)', () => {
    check(fc.tuple(anyJsonText, fc.array(mutation, { minLength: 1, maxLength: 4 })), 10_000, ([text, ms]) => same(mutate(text, ms)), 2);
  });

  test('nesting deeper than MAX_DEPTH is Invalid with the id echoed; at or below it is not (3,000)', () => {
    const arb = fc.record({
      levels: fc.oneof(fc.integer({ min: MAX_DEPTH - 4, max: MAX_DEPTH + 4 }), fc.integer({ min: 1, max: 4000 })),
      objects: fc.array(fc.boolean(), { maxLength: 5 }),
      inner: fc.constantFrom('[]', '{}', '1', '"x"', 'null'),
      id: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
      idFirst: fc.boolean(),
    });
    check(arb, 3000, ({ levels, objects, inner, id, idFirst }) => {
      const params = nest(levels, objects, inner);
      const idPart = `"id":${JSON.stringify(id)}`;
      const text = idFirst
        ? `{"jsonrpc":"2.0",${idPart},"method":"tools/call","params":${params}}`
        : `{"method":"tools/call","params":${params},"jsonrpc":"2.0",${idPart}}`;
      const depth = depthOf(JSON.parse(text));
      const env = parseEnvelope(text);
      same(text);
      if (depth > MAX_DEPTH) {
        assert.deepStrictEqual(env, { kind: MsgKind.Invalid, id, method: 'tools/call', problem: TOO_DEEP });
      } else {
        assert.deepStrictEqual(env, { kind: MsgKind.Request, id, method: 'tools/call' });
      }
    }, 3);
  });

  test('a request id is echoed exactly as JSON.parse reads it (3,000)', () => {
    const arb = fc.tuple(fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })), valueFor.params, fc.boolean());
    check(arb, 3000, ([id, params, esc]) => {
      const text = `{${keyText('id', esc)}:${JSON.stringify(id)},"jsonrpc":"2.0","method":"m","params":${JSON.stringify(params)}}`;
      const env = parseEnvelope(text);
      assert.equal(env.kind, MsgKind.Request);
      assert.ok(Object.is(env.id, (JSON.parse(text) as { id: unknown }).id), text);
    }, 4);
  });

  test('replaceId rewrites only the top-level id (5,000)', () => {
    check(fc.tuple(messageText, idArb), 5000, ([text, newId]) => {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const out = replaceId(text, JSON.stringify(newId));
      if (!Object.hasOwn(parsed, 'id')) {
        assert.equal(out, undefined);
        return;
      }
      assert.ok(out !== undefined);
      // Through JSON text, as the child reads it (-0 is written "0").
      assert.deepStrictEqual(JSON.parse(out), { ...parsed, id: JSON.parse(JSON.stringify(newId)) as unknown });
    }, 5);
  });
});
