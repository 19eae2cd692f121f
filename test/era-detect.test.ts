import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { type EraDecision, SUPPORTED_VERSIONS, detectEra, methodProblem2026 } from '../src/era/detect.js';
import { scanRequest2026 } from '../src/era/envelope2026.js';
import { ErrorCode, JsonRpcCode, WIRE, jsonRpcErrorBodyFor, rpcCodeFor } from '../src/errors.js';
import { parseEnvelope } from '../src/upstream/jsonrpc-envelope.js';
import { body2026 } from './helpers/raw-2026.js';

function decide(header: string, body: string, hasSessionId = false): { d: EraDecision; scans: number } {
  let scans = 0;
  const d = detectEra({
    header, hasSessionId, env: parseEnvelope(body),
    scan: () => {
      scans++;
      return scanRequest2026(body);
    },
  });
  return { d, scans };
}

function problem(d: EraDecision): { code: string; data?: Record<string, unknown> } {
  if (d.ok) assert.fail(`expected a problem, got era ${d.era}`);
  return d.problem;
}

const legacyCall = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: {} } });
const init = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });

describe('detectEra', () => {
  test('a session-revision header is the 2025 era, without scanning the body', () => {
    for (const v of ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']) {
      const { d, scans } = decide(v, legacyCall, true);
      assert.deepEqual(d, { ok: true, era: '2025', version: v });
      assert.equal(scans, 0);
    }
  });

  test('no header: initialize, a request with a session id, notifications and responses are the 2025 era, unscanned', () => {
    for (const [body, sid] of [[init, false], [legacyCall, true], ['{"jsonrpc":"2.0","method":"notifications/initialized"}', false], ['{"jsonrpc":"2.0","id":3,"result":{}}', false]] as const) {
      const { d, scans } = decide('', body, sid);
      assert.equal(d.ok && d.era, '2025', body);
      assert.equal(scans, 0, body);
    }
  });

  test('no header and no session: scanned once; a 2026 _meta without the header is a HeaderMismatch', () => {
    const plain = decide('', legacyCall);
    assert.equal(plain.d.ok && plain.d.era, '2025');
    assert.equal(plain.scans, 1);
    const modern = decide('', body2026(4, 'tools/list'));
    assert.equal(problem(modern.d).code, ErrorCode.HeaderMismatch);
  });

  test('the 2026 header with a matching _meta is the 2026 era and hands over the scan', () => {
    const { d, scans } = decide('2026-07-28', body2026(5, 'tools/call', { name: 'echo', arguments: { text: 'x' } }), true);
    assert.equal(scans, 1);
    assert.ok(d.ok && d.era === '2026');
    assert.equal(d.version, '2026-07-28');
    assert.equal(d.scan?.name, 'echo');
  });

  test('2026 request problems: meta version differs / absent, capabilities absent, a response', () => {
    const other = JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2025-11-25', 'io.modelcontextprotocol/clientCapabilities': {} } } });
    assert.equal(problem(decide('2026-07-28', other).d).code, ErrorCode.HeaderMismatch);
    assert.equal(problem(decide('2026-07-28', '{"jsonrpc":"2.0","id":7,"method":"tools/list"}').d).code, ErrorCode.InvalidParams);
    const noCaps = JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } });
    assert.equal(problem(decide('2026-07-28', noCaps).d).code, ErrorCode.InvalidParams);
    assert.equal(problem(decide('2026-07-28', '{"jsonrpc":"2.0","id":9,"result":{}}').d).code, ErrorCode.InvalidRequest);
    const dup = '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"a","name":"b"}}';
    assert.equal(problem(decide('2026-07-28', dup).d).code, ErrorCode.InvalidRequest);
  });

  test('a 2026 notification is the 2026 era without a scan (no _meta is required of notifications)', () => {
    const { d, scans } = decide('2026-07-28', '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}');
    assert.ok(d.ok && d.era === '2026');
    assert.equal(scans, 0);
  });

  test('an unknown version is UnsupportedProtocolVersion: 400, -32022, data lists supported and requested', () => {
    const p = problem(decide('1900-01-01', legacyCall).d);
    assert.equal(p.code, ErrorCode.UnsupportedProtocolVersion);
    assert.equal(WIRE[ErrorCode.UnsupportedProtocolVersion].status, 400);
    const body = JSON.parse(jsonRpcErrorBodyFor('2026', 1, ErrorCode.UnsupportedProtocolVersion, 'Unsupported protocol version', p.data)) as {
      id: number; error: { code: number; data: { supported: string[]; requested: string; code: string } };
    };
    assert.equal(body.id, 1);
    assert.equal(body.error.code, -32022);
    assert.deepEqual(body.error.data.supported, [...SUPPORTED_VERSIONS]);
    assert.equal(body.error.data.supported[0], '2026-07-28');
    assert.equal(body.error.data.requested, '1900-01-01');
    assert.equal(body.error.data.code, 'E_UNSUPPORTED_PROTOCOL_VERSION');
  });

  test('removed methods are 404 -32601 on a 2026 request; others (extensions) pass', () => {
    for (const m of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']) {
      const p = methodProblem2026(m);
      assert.equal(p?.code, ErrorCode.MethodNotFound, m);
    }
    assert.equal(WIRE[ErrorCode.MethodNotFound].status, 404);
    assert.equal(WIRE[ErrorCode.MethodNotFound].rpc, -32601);
    assert.equal(methodProblem2026('tools/call'), null);
    assert.equal(methodProblem2026('tasks/get'), null);
  });
});

describe('error codes per era', () => {
  test('the 2026 codes are the spec numbers with status 400', () => {
    assert.deepEqual([JsonRpcCode.HeaderMismatch, JsonRpcCode.MissingRequiredClientCapability, JsonRpcCode.UnsupportedProtocolVersion], [-32020, -32021, -32022]);
    for (const c of [ErrorCode.HeaderMismatch, ErrorCode.MissingClientCapability, ErrorCode.UnsupportedProtocolVersion, ErrorCode.InvalidParams]) {
      assert.equal(WIRE[c].status, 400, c);
    }
  });

  test('a reply to a 2026 request never carries a -32000..-32019 code, nor an unassigned -32020..-32099 one', () => {
    const assigned = new Set([-32020, -32021, -32022]);
    for (const code of Object.values(ErrorCode)) {
      const rpc = rpcCodeFor(code, '2026');
      assert.ok(!(rpc <= -32000 && rpc >= -32019), `${code} -> ${rpc}`);
      if (rpc <= -32020 && rpc >= -32099) assert.ok(assigned.has(rpc), `${code} -> ${rpc}`);
      // The session era keeps today's numbers.
      assert.equal(rpcCodeFor(code, '2025'), WIRE[code].rpc);
    }
  });
});
