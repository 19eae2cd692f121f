import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_INPUT_REQUESTS, clientAllows, idFromInputKey, inputKeyFor, inputResponsesFrom, responsesFromInput, toInputRequests, toServerRequests,
} from '../src/era/mrtr-bridge.js';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';

const elicit = { id: 5, method: 'elicitation/create', params: { mode: 'form', message: 'name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } } };
const sample = { id: 'abc', method: 'sampling/createMessage', params: { messages: [], maxTokens: 10 } };

describe('B1: parked session-era requests <-> inputRequests / inputResponses', () => {
  test('keys are reversible and keep 1 and "1" apart', () => {
    for (const id of [0, 1, -3, '1', '', 'x y']) assert.deepEqual(idFromInputKey(inputKeyFor(id)), id);
    assert.notEqual(inputKeyFor(1), inputKeyFor('1'));
    assert.equal(idFromInputKey('n'), undefined);
    assert.equal(idFromInputKey('zz'), undefined);
  });

  test('capabilities decide what may be asked; URL elicitation needs elicitation.url', () => {
    assert.equal(clientAllows(elicit, { elicitation: {} }), true);
    assert.equal(clientAllows(elicit, { elicitation: { url: {} } }), false, 'url-only client');
    assert.equal(clientAllows({ ...elicit, params: { mode: 'url', url: 'https://x' } }, { elicitation: {} }), false);
    assert.equal(clientAllows({ ...elicit, params: { mode: 'url', url: 'https://x' } }, { elicitation: { url: {} } }), true);
    assert.equal(clientAllows(sample, {}), false);
    assert.equal(clientAllows(sample, { sampling: {} }), true);
    assert.equal(clientAllows({ id: 1, method: 'roots/list' }, { roots: {} }), true);
    assert.equal(clientAllows({ id: 1, method: 'ping' }, { roots: {} }), false);
  });

  test('allowed requests become inputRequests; the rest are refused to the upstream with -32601', () => {
    const round = toInputRequests([elicit, sample, { id: 9, method: 'ping' }], { elicitation: {} });
    assert.deepEqual(round.inputRequests, { n5: { method: 'elicitation/create', params: elicit.params } });
    assert.deepEqual(round.refused.map((r) => r.id), ['abc', 9]);
    for (const r of round.refused) assert.equal((JSON.parse(r.body) as { error: { code: number } }).error.code, -32601);
    const many = Array.from({ length: MAX_INPUT_REQUESTS + 3 }, (_, k) => ({ ...elicit, id: k }));
    const bounded = toInputRequests(many, { elicitation: {} });
    assert.equal(Object.keys(bounded.inputRequests).length, MAX_INPUT_REQUESTS);
    assert.equal(bounded.refused.length, 3);
  });

  test('inputResponses answer the parked ids; missing ones are reported, unknown keys ignored', () => {
    const r = responsesFromInput({ n5: { action: 'accept', content: { name: 'Ada' } }, sabc: 'not an object', n77: {} }, [5, 'abc']);
    assert.deepEqual(r.bodies.map((b) => JSON.parse(b.body)), [{ jsonrpc: '2.0', id: 5, result: { action: 'accept', content: { name: 'Ada' } } }]);
    assert.deepEqual(r.missing, ['abc']);
    assert.deepEqual(responsesFromInput(undefined, [1]).missing, [1]);
  });
});

describe('B2: a 2026 upstream input_required <-> server->client requests (raw fixture round trip)', () => {
  let up: Raw2026Upstream;
  before(async () => {
    up = await startRaw2026Upstream();
  });
  after(async () => {
    await up.close();
  });

  test('the elicitation becomes a request with a proxy id; the client answer rebuilds inputResponses and the retry completes', async () => {
    const caps = { elicitation: {} };
    const first = (await (await post2026(up.url, body2026(1, 'tools/call', { name: 'ask', arguments: { question: 'q?' } }, caps), headers2026('tools/call', 'ask'))).json()) as {
      result: { inputRequests: unknown; requestState: string };
    };
    let next = 100;
    const t = toServerRequests(first.result.inputRequests, () => `mithril-${next++}`);
    assert.ok('requests' in t);
    assert.equal(t.requests.length, 1);
    const req = JSON.parse(t.requests[0]?.body ?? '') as { id: string; method: string; params: { message: string } };
    assert.deepEqual([req.id, req.method, req.params.message], ['mithril-100', 'elicitation/create', 'q?']);

    // What the session-era client POSTs back: a JSON-RPC response to the proxy's id (plus noise).
    const inputResponses = inputResponsesFrom(t.requests, [
      { id: 'mithril-100', result: { action: 'accept', content: { answer: 'green' } } },
      { id: 'other', result: { x: 1 } },
      { id: 'mithril-100x', error: { code: 1 } } as { id: string; result?: unknown },
    ]);
    assert.deepEqual(Object.keys(inputResponses), ['answer']);
    const retry = body2026(2, 'tools/call', { name: 'ask', arguments: { question: 'q?' }, requestState: first.result.requestState, inputResponses }, caps);
    const done = (await (await post2026(up.url, retry, headers2026('tools/call', 'ask'))).json()) as { id: number; result: { content: unknown } };
    assert.equal(done.id, 2);
    assert.deepEqual(done.result.content, [{ type: 'text', text: 'answer: green' }]);
  });

  test('malformed or oversized inputRequests are refused', () => {
    assert.ok('problem' in toServerRequests([], () => 1));
    assert.ok('problem' in toServerRequests({ k: { method: 'tools/call' } }, () => 1));
    const big = Object.fromEntries(Array.from({ length: MAX_INPUT_REQUESTS + 1 }, (_, k) => [`k${k}`, { method: 'roots/list' }]));
    assert.ok('problem' in toServerRequests(big, () => 1));
  });
});
