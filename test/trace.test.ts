/**
 * W3C trace context rules (observability/trace.ts): what counts as a valid traceparent, what the
 * proxy sends upstream as a hop, where a traceparent in the body is found, how tracestate is kept.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_TRACESTATE_CHARS, TRACEPARENT_LENGTH, boundedTracestate, spanIdOf, startedTrace, traceIdOf, traceparentFromBody, upstreamTrace,
  validTraceparent, withTrace,
} from '../src/observability/trace.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TP = `00-${TRACE_ID}-${PARENT}-01`;

test('validTraceparent: the spec example passes; every malformed shape fails', () => {
  assert.ok(validTraceparent(TP));
  assert.ok(validTraceparent(`00-${TRACE_ID}-${PARENT}-00`), 'unsampled');
  assert.ok(validTraceparent(`01-${TRACE_ID}-${PARENT}-01-extra`), 'a higher version may carry more after a dash');
  const bad = [
    '', 'garbage', TP.slice(0, -1), `${TP}0`, `${TP}-x`, // version 00 is exactly 55 chars
    `00-${'0'.repeat(32)}-${PARENT}-01`, // all-zero trace-id
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // all-zero parent-id
    `ff-${TRACE_ID}-${PARENT}-01`, // version ff is forbidden
    TP.toUpperCase(), `00-${TRACE_ID.toUpperCase()}-${PARENT}-01`, // hex is lowercase
    `00_${TRACE_ID}-${PARENT}-01`, `00-${TRACE_ID}-${PARENT}-1g`, ` ${TP}`.slice(0, 55),
    `01-${TRACE_ID}-${PARENT}-01x`, // higher version: the extra part must start with '-'
    `${TP}, ${TP}`, // two headers joined: invalid, as the spec says
  ];
  for (const b of bad) assert.equal(validTraceparent(b), false, b);
});

test('upstreamTrace: a hop keeps trace-id and flags, puts its own span as parent-id, keeps tracestate', () => {
  const out = upstreamTrace(TP, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', '');
  const tp = out.slice(0, TRACEPARENT_LENGTH);
  assert.ok(validTraceparent(tp));
  assert.equal(traceIdOf(out), TRACE_ID);
  assert.notEqual(spanIdOf(out), PARENT);
  assert.match(spanIdOf(out), /^[0-9a-f]{16}$/);
  assert.equal(tp.slice(53), '01');
  assert.equal(out.slice(TRACEPARENT_LENGTH), 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  // Higher versions are forwarded as the version this proxy speaks, same ids and flags.
  const v1 = upstreamTrace(`cc-${TRACE_ID}-${PARENT}-03-what-ever`, '', '');
  assert.equal(v1.length, TRACEPARENT_LENGTH);
  assert.ok(v1.startsWith(`00-${TRACE_ID}-`) && v1.endsWith('-03'));
  // Span ids are fresh per request.
  const spans = new Set(Array.from({ length: 2000 }, () => spanIdOf(upstreamTrace(TP, '', ''))));
  assert.equal(spans.size, 2000);
});

test('upstreamTrace: absent or malformed starts a new sampled trace and drops the tracestate', () => {
  for (const header of ['', `00-${'0'.repeat(32)}-${PARENT}-01`, TP.toUpperCase()]) {
    const out = upstreamTrace(header, 'congo=t61rcWkgMzE', '');
    assert.equal(out.length, TRACEPARENT_LENGTH, 'no tracestate without a valid incoming traceparent');
    assert.ok(validTraceparent(out), out);
    assert.notEqual(traceIdOf(out), TRACE_ID);
    assert.ok(out.endsWith('-01'));
  }
  const ids = new Set(Array.from({ length: 2000 }, () => traceIdOf(startedTrace())));
  assert.equal(ids.size, 2000, 'new trace ids are random');
});

test('traceparentFromBody: _meta.traceparent is found without parsing; look-alikes are not', () => {
  const body = (meta: string): string => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":1},"_meta":${meta}}}`;
  assert.equal(traceparentFromBody(body(`{"traceparent":"${TP}"}`)), TP);
  assert.equal(traceparentFromBody(body(`{"progressToken":3, "traceparent" : "${TP}"}`)), TP, 'spaces around the colon');
  assert.equal(traceparentFromBody(body(`{"traceparent":"${TP.toUpperCase()}"}`)), '', 'invalid value');
  assert.equal(traceparentFromBody(body(`{"traceparent":"${TP}x"}`)), '', 'value longer than a traceparent');
  assert.equal(traceparentFromBody(body(`{"traceparent":42}`)), '');
  assert.equal(traceparentFromBody(body(`{"traceparent":"${TP.slice(0, 20)}"}`)), '', 'cut short at the end');
  assert.equal(traceparentFromBody(`{"jsonrpc":"2.0","id":1,"method":"m","params":{"traceparent":"${TP}"}}`), '', 'not under _meta');
  assert.equal(traceparentFromBody('{"jsonrpc":"2.0","id":1,"method":"m"}'), '');
  assert.equal(traceparentFromBody(body(`{"k":"${'x'.repeat(600)}","traceparent":"${TP}"}`)), '', '"_meta" too far before the key');
  // Large bodies are searched at their ends only (bounded cost): where clients put _meta.
  const big = 'y'.repeat(64 * 1024);
  assert.equal(traceparentFromBody(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":"${big}"},"_meta":{"traceparent":"${TP}"}}}`), TP, 'at the end');
  assert.equal(traceparentFromBody(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"${TP}"},"name":"x","arguments":{"a":"${big}"}}}`), TP, 'at the start');
  assert.equal(traceparentFromBody(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"a":"${big}","_meta":{"traceparent":"${TP}"},"b":"${big}"}}`), '', 'buried in the middle: not searched');
  // The header wins over the body; the body is used when the header is absent or malformed.
  const other = `00-${'a'.repeat(32)}-${PARENT}-00`;
  assert.equal(traceIdOf(upstreamTrace(other, '', body(`{"traceparent":"${TP}"}`))), 'a'.repeat(32));
  assert.equal(traceIdOf(upstreamTrace('', '', body(`{"traceparent":"${TP}"}`))), TRACE_ID);
  assert.equal(traceIdOf(upstreamTrace('bogus', '', body(`{"traceparent":"${TP}"}`))), TRACE_ID);
});

test('boundedTracestate: kept as is up to 512 chars, cut at a member boundary beyond, refused if not header-safe', () => {
  assert.equal(boundedTracestate('a=1, b=2'), 'a=1, b=2');
  const members = Array.from({ length: 60 }, (_, i) => `k${i}=${'v'.repeat(8)}`);
  const long = members.join(',');
  assert.ok(long.length > MAX_TRACESTATE_CHARS);
  const cut = boundedTracestate(long);
  assert.ok(cut.length <= MAX_TRACESTATE_CHARS && cut.length > MAX_TRACESTATE_CHARS - 20, String(cut.length));
  assert.ok(long.startsWith(cut) && long[cut.length] === ',', 'whole members only');
  assert.equal(boundedTracestate('x'.repeat(MAX_TRACESTATE_CHARS + 1)), '', 'one oversized member: dropped');
  assert.equal(boundedTracestate('a=\u00e9'), '');
  assert.equal(boundedTracestate('a=1\tb'), '');
});

test('withTrace: no copy without a trace; traceparent and tracestate split from the wire string', () => {
  const base = { accept: 'application/json' };
  assert.equal(withTrace(base, ''), base);
  assert.deepEqual(withTrace(base, TP), { accept: 'application/json', traceparent: TP });
  assert.deepEqual(withTrace(base, `${TP}a=1,b=2`), { accept: 'application/json', traceparent: TP, tracestate: 'a=1,b=2' });
  assert.deepEqual(base, { accept: 'application/json' }, 'base is never changed');
});
