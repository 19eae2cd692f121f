/**
 * B2's MRTR driver (src/upstream/modern-call.ts) against a scripted host: each upstream round is
 * answered by the test through the RoundSink it was given, so the paths the raw fixture never
 * takes (requestState-only rounds, bad inputRequests, error answers from the client, SSE answers,
 * cancel while waiting, the client leaving) are pinned down.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProxyError } from '../src/errors.js';
import { Call, type CallHost, MAX_ROUNDS } from '../src/upstream/modern-call.js';
import type { ReplySink } from '../src/upstream/types.js';

class Down implements ReplySink {
  closed = false;
  log: string[] = [];
  closeFn: (() => void) | undefined;
  json(body: string): void { this.log.push(`json ${body}`); this.closed = true; }
  startStream(): void { this.log.push('stream'); }
  event(json: string): boolean { this.log.push(`event ${json}`); return true; }
  onResume(): void {}
  end(): void { this.log.push('end'); this.closed = true; }
  accepted(): void { this.log.push('accepted'); this.closed = true; }
  fail(err: ProxyError): void {
    this.log.push(`fail ${err.code} ${err.message}`);
    this.closed = true;
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }
  onClose(fn: () => void): void { this.closeFn = fn; }
  /** The client went away. */
  leave(): void {
    this.closed = true;
    const fn = this.closeFn;
    this.closeFn = undefined;
    fn?.();
  }
}

class Host implements CallHost {
  sent: Array<{ body: string; sink: ReplySink; aborted: boolean }> = [];
  awaiting = new Map<string, Call>();
  activities: string[] = [];
  answeredBodies: string[] = [];
  finishedCalls = 0;
  private n = 0;
  send(body: string, _headers: readonly [string, string][], sink: ReplySink): void {
    const entry = { body, sink, aborted: false };
    sink.onClose?.(() => { entry.aborted = true; });
    this.sent.push(entry);
  }
  mintId(): string { return JSON.stringify(`m-${++this.n}`); }
  awaitResponse(key: string, call: Call): boolean { this.awaiting.set(key, call); return true; }
  forget(key: string): void { this.awaiting.delete(key); }
  activity(json: string): void { this.activities.push(json); }
  answered(_m: string, body: string): string { this.answeredBodies.push(body); return body; }
  finished(): void { this.finishedCalls++; }
  /** The client answers server request `id` (as the session's post() would route it). */
  reply(id: string, result: unknown): void {
    const key = 's' + id;
    const call = this.awaiting.get(key);
    this.awaiting.delete(key);
    call?.onClientResponse(JSON.stringify({ jsonrpc: '2.0', id, result }));
  }
  last(): { body: string; sink: ReplySink; aborted: boolean } {
    return this.sent.at(-1) as { body: string; sink: ReplySink; aborted: boolean };
  }
}

const BASE = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"_meta":{"v":1}}}';
const inputRequired = (id: string, extra: Record<string, unknown>): string => JSON.stringify({ jsonrpc: '2.0', id, result: { resultType: 'input_required', ...extra } });
const elicit = (msg: string): unknown => ({ method: 'elicitation/create', params: { message: msg, requestedSchema: { type: 'object', properties: {} } } });

function start(mrtr = true): { host: Host; down: Down; call: Call } {
  const host = new Host();
  const down = new Down();
  const call = new Call(host, 'n7', down, '7', 'tools/call', BASE, [['mcp-method', 'tools/call']], mrtr);
  call.start();
  return { host, down, call };
}

describe('Call: MRTR rounds for a session-era client', () => {
  test('a plain answer passes as the same bytes (round 0 keeps the client id)', () => {
    const { host, down } = start();
    assert.equal(host.sent[0]?.body, BASE);
    const answer = '{"jsonrpc":"2.0","id":7,"result":{"resultType":"complete","content":[]}}';
    host.last().sink.json(answer);
    assert.deepEqual(down.log, [`json ${answer}`]);
    assert.equal(host.finishedCalls, 1);
    assert.deepEqual(host.answeredBodies, [answer]);
  });

  test('input_required with requestState only: retried at once with empty inputResponses, nothing sent down', () => {
    const { host, down } = start();
    host.last().sink.json(inputRequired('7', { requestState: 'S1' }));
    assert.equal(host.sent.length, 2);
    const retry = JSON.parse(host.last().body) as { id: unknown; params: Record<string, unknown> };
    assert.equal(retry.id, 'm-1');
    assert.deepEqual(retry.params.inputResponses, {});
    assert.equal(retry.params.requestState, 'S1');
    assert.deepEqual(retry.params.arguments, { a: 1 });
    assert.deepEqual(down.log, []);
    host.last().sink.json('{"jsonrpc":"2.0","id":"m-1","result":{"content":[]}}');
    assert.deepEqual(down.log, ['json {"jsonrpc":"2.0","id":7,"result":{"content":[]}}'], 'the client id is restored');
  });

  test('two input requests in one round: retried only once both are answered; an error answer leaves its key out', () => {
    const { host, down, call } = start();
    host.last().sink.json(inputRequired('7', { inputRequests: { a: elicit('A?'), b: elicit('B?') }, requestState: 'S' }));
    assert.equal(down.log[0], 'stream');
    assert.equal(down.log.filter((l) => l.startsWith('event ')).length, 2);
    assert.equal(host.activities.length, 2, 'server requests count as activity');
    const ids = [...host.awaiting.keys()].map((k) => k.slice(1));
    host.reply(ids[0] as string, { action: 'accept', content: { x: 1 } });
    assert.equal(host.sent.length, 1, 'still waiting for the second answer');
    call.onClientResponse(JSON.stringify({ jsonrpc: '2.0', id: ids[1], error: { code: -1, message: 'no' } }));
    assert.equal(host.sent.length, 2);
    const retry = JSON.parse(host.last().body) as { params: Record<string, unknown> };
    assert.deepEqual(retry.params.inputResponses, { a: { action: 'accept', content: { x: 1 } } });
    // The answer to the retry arrives on an SSE stream this time, with progress before it.
    const sink = host.last().sink;
    sink.startStream();
    sink.event('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}');
    sink.event('{"jsonrpc":"2.0","id":"m-3","result":{"content":[]}}');
    sink.end();
    assert.deepEqual(down.log.slice(-3), [
      'event {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}',
      'event {"jsonrpc":"2.0","id":7,"result":{"content":[]}}',
      'end',
    ]);
    assert.equal(host.awaiting.size, 0);
  });

  test('inputRequests that are not elicitation/sampling/roots fail the call with E_UPSTREAM_PROTOCOL', () => {
    const { host, down } = start();
    host.last().sink.json(inputRequired('7', { inputRequests: { a: { method: 'tools/call' } } }));
    assert.match(down.log[0] ?? '', /^fail E_UPSTREAM_PROTOCOL input_required: /);
    assert.equal(host.sent.length, 1);
  });

  test(`more than ${MAX_ROUNDS} rounds fail the call; input_required is only honoured for MRTR methods`, () => {
    const { host, down } = start();
    for (let i = 0; i <= MAX_ROUNDS; i++) host.last().sink.json(inputRequired('x', { requestState: `S${i}` }));
    assert.equal(host.sent.length, MAX_ROUNDS + 1);
    assert.match(down.log.at(-1) ?? '', /^fail E_UPSTREAM_PROTOCOL .*more than 8 times/);
    const other = start(false);
    const body = inputRequired('7', { requestState: 'S' });
    other.host.last().sink.json(body);
    assert.deepEqual(other.down.log, [`json ${body}`]);
  });

  test('an upstream error status goes down as a 200 JSON-RPC error with the client id', () => {
    const { host, down } = start();
    host.last().sink.errorBody?.(404, '{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"nope"}}');
    assert.deepEqual(down.log, ['json {"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"nope"}}']);
  });

  test('cancel while waiting for the client: waits dropped, reply ended without a response, late answers ignored', () => {
    const { host, down, call } = start();
    host.last().sink.json(inputRequired('7', { inputRequests: { a: elicit('A?') } }));
    const id = [...host.awaiting.keys()][0]?.slice(1) as string;
    call.cancel();
    assert.equal(host.awaiting.size, 0);
    assert.deepEqual(down.log.slice(-1), ['end']);
    assert.ok(!down.log.some((l) => l.includes('"id":7')));
    call.onClientResponse(JSON.stringify({ jsonrpc: '2.0', id, result: { action: 'accept' } }));
    assert.equal(host.sent.length, 1, 'no retry after cancel');
  });

  test('the client leaving mid-round aborts the upstream exchange; a stream without an answer fails', () => {
    const a = start();
    a.down.leave();
    assert.equal(a.host.last().aborted, true);
    assert.equal(a.host.finishedCalls, 1);
    const b = start();
    b.host.last().sink.startStream();
    b.host.last().sink.end();
    assert.match(b.down.log.at(-1) ?? '', /^fail E_UPSTREAM_PROTOCOL reply stream ended without a response/);
  });
});
