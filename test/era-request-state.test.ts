import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_TOKEN_CHARS, type RequestStateClaims, RequestStateSigner } from '../src/era/request-state.js';
import { ErrorCode, WIRE } from '../src/errors.js';

const claims: RequestStateClaims = { worker: 1, session: 'alice|github', parked: 7, principal: 'client:alice', method: 'tools/call', target: 'ask' };
const expect = { principal: 'client:alice', method: 'tools/call', target: 'ask' };

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Flip one character of `s` at `at` to another base64url character. */
function flip(s: string, at: number): string {
  const c = s[at] === 'A' ? 'B' : 'A';
  return s.slice(0, at) + c + s.slice(at + 1);
}

describe('requestState tokens', () => {
  test('a minted token verifies and gives back its claims; it is base64url text and opaque', () => {
    const signer = new RequestStateSigner();
    const token = signer.mint(claims);
    assert.match(token, /^m1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const r = signer.verify(token, expect);
    assert.ok(r.ok);
    assert.deepEqual(r.claims, claims);
    // Two tokens for the same claims differ (nonce), and both verify.
    const again = signer.mint(claims);
    assert.notEqual(again, token);
    assert.ok(signer.verify(again, expect).ok);
  });

  test('a token with any payload or MAC character changed is refused as invalid', () => {
    const signer = new RequestStateSigner();
    const token = signer.mint(claims);
    for (let at = 3; at < token.length; at++) {
      if (token[at] === '.') continue;
      const r = signer.verify(flip(token, at), expect);
      // The last MAC character carries 2 unused bits in base64url: changing only those may decode
      // to the same bytes, which is not a forgery.
      if (r.ok) {
        assert.equal(at, token.length - 1);
        continue;
      }
      assert.equal(r.code, ErrorCode.RequestStateInvalid, `position ${at}`);
    }
  });

  test('a token from another key (another proxy, or before a restart) is refused', () => {
    const token = new RequestStateSigner().mint(claims);
    const r = new RequestStateSigner().verify(token, expect);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, ErrorCode.RequestStateInvalid);
  });

  test('an expired token is refused as expired; just before expiry it verifies', () => {
    const c = clock();
    const signer = new RequestStateSigner(undefined, c.now);
    const token = signer.mint(claims, 1000);
    c.advance(999);
    assert.ok(signer.verify(token, expect).ok);
    c.advance(1);
    const r = signer.verify(token, expect);
    assert.equal(!r.ok && r.code, ErrorCode.RequestStateExpired);
  });

  test('a token presented by another principal or on another request is refused', () => {
    const signer = new RequestStateSigner();
    const token = signer.mint(claims);
    for (const other of [{ ...expect, principal: 'client:bob' }, { ...expect, method: 'prompts/get' }, { ...expect, target: 'echo' }]) {
      const r = signer.verify(token, other);
      assert.equal(!r.ok && r.code, ErrorCode.RequestStateInvalid, JSON.stringify(other));
    }
  });

  test('garbage never throws and is refused; oversized tokens are refused before decoding', () => {
    const signer = new RequestStateSigner();
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const r = signer.verify(s, expect);
      assert.equal(r.ok, false);
    }), { numRuns: 3000, seed: 11 });
    const token = signer.mint(claims);
    for (const s of ['', 'm1.', 'm1..', token + 'A', token.replace('m1.', 'm2.'), 'm1.' + 'A'.repeat(MAX_TOKEN_CHARS)]) {
      assert.equal(signer.verify(s, expect).ok, false, s.slice(0, 40));
    }
    assert.equal(signer.verify(123 as unknown as string, expect).ok, false);
  });

  test('a configured secret makes tokens valid across signers (instances, restarts); short secrets are refused', () => {
    const secret = 'a-configured-secret-of-32-chars!!';
    const token = new RequestStateSigner(secret).mint(claims);
    assert.ok(new RequestStateSigner(secret).verify(token, expect).ok);
    assert.equal(new RequestStateSigner(secret + 'x').verify(token, expect).ok, false);
    assert.throws(() => new RequestStateSigner('short'), /at least 32/);
    assert.throws(() => new RequestStateSigner(new Uint8Array(16)), /at least 32/);
    // Workers get the raw key bytes and mint tokens the acceptor verifies.
    const main = new RequestStateSigner();
    const worker = new RequestStateSigner(main.keyBytes);
    assert.ok(main.verify(worker.mint(claims), expect).ok);
  });

  test('refusals answer 400 with Invalid params (-32602)', () => {
    assert.deepEqual(WIRE[ErrorCode.RequestStateInvalid], { status: 400, rpc: -32602 });
    assert.deepEqual(WIRE[ErrorCode.RequestStateExpired], { status: 400, rpc: -32602 });
  });
});
