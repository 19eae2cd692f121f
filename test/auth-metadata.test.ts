import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator } from '../src/auth/authenticator.js';
import { bearerChallenge, metadataUrlFor, resourceFor } from '../src/auth/challenge.js';
import { configWith } from './helpers/auth-config.js';

function jwtAuth(extra = ''): Authenticator {
  return new Authenticator(configWith(`
auth:
  jwt:
    issuer: https://as.example.test/tenant1
    audience: https://mcp.example.test
    jwks_url: https://as.example.test/jwks
    destinations: ['*']
${extra}`).auth);
}

function json(body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>;
}

describe('RFC 9728 protected resource metadata', () => {
  test('root document: the proxy as resource, the issuer as authorization server, header bearer only', () => {
    const m = jwtAuth().metadata('/.well-known/oauth-protected-resource');
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], 'application/json');
    assert.deepEqual(json(m.body), {
      resource: 'https://mcp.example.test',
      authorization_servers: ['https://as.example.test/tenant1'],
      bearer_methods_supported: ['header'],
      resource_name: 'mithril-proxy',
      scopes_supported: ['mcp:*'],
    });
  });

  test('path document for /NAME/mcp names that endpoint as the resource and its scope', () => {
    const m = jwtAuth().metadata('/.well-known/oauth-protected-resource/github/mcp?x=1');
    assert.equal(m.status, 200);
    const doc = json(m.body);
    assert.equal(doc.resource, 'https://mcp.example.test/github/mcp');
    assert.deepEqual(doc.scopes_supported, ['mcp:github', 'mcp:*']);
  });

  test('the 401 challenge URL leads to a document whose resource is the URL the client called (RFC 9728 §3.3)', () => {
    const a = jwtAuth('    resource: https://pi.lan:8443/proxy\n');
    const r = a.authenticate('', 'files', '10.0.0.1');
    assert.ok(!(r instanceof Promise) && !r.ok);
    const url = /resource_metadata="([^"]+)"/.exec(r.wwwAuthenticate ?? '')?.[1];
    assert.equal(url, 'https://pi.lan:8443/.well-known/oauth-protected-resource/proxy/files/mcp');
    const path = new URL(url).pathname;
    const doc = json(a.metadata(path).body);
    assert.equal(doc.resource, 'https://pi.lan:8443/proxy/files/mcp');
    // The proxy itself may see the path with or without the prefix a front proxy strips.
    assert.equal(json(a.metadata('/.well-known/oauth-protected-resource/files/mcp').body).resource, doc.resource);
    assert.equal(json(a.metadata('/.well-known/oauth-protected-resource/proxy').body).resource, 'https://pi.lan:8443/proxy');
  });

  test('any well-formed name gets a document (no destination enumeration); other paths are 404', () => {
    const a = jwtAuth();
    assert.equal(a.metadata('/.well-known/oauth-protected-resource/not-configured/mcp').status, 200);
    for (const p of ['/.well-known/oauth-protected-resource/github', '/.well-known/oauth-protected-resource/Bad Name/mcp',
      '/.well-known/oauth-protected-resource/a/b/mcp', '/.well-known/oauth-protected-resourcex', '/.well-known/other']) {
      assert.equal(a.metadata(p).status, 404, p);
      assert.equal(json(a.metadata(p).body).error !== undefined, true);
    }
  });

  test('without auth.jwt there is no metadata (404)', () => {
    const a = new Authenticator(configWith('').auth);
    assert.equal(a.metadata('/.well-known/oauth-protected-resource').status, 404);
  });

  test('require_scope: false omits scopes_supported', () => {
    assert.equal(json(jwtAuth('    require_scope: false\n').metadata('/.well-known/oauth-protected-resource/github/mcp').body).scopes_supported, undefined);
  });
});

describe('challenge helpers', () => {
  test('metadata URLs insert the well-known segment after the host', () => {
    assert.equal(metadataUrlFor('https://m.example', 'gh'), 'https://m.example/.well-known/oauth-protected-resource/gh/mcp');
    assert.equal(metadataUrlFor('https://m.example/p/q', null), 'https://m.example/.well-known/oauth-protected-resource/p/q');
    assert.equal(resourceFor('https://m.example/p', 'gh'), 'https://m.example/p/gh/mcp');
  });

  test('quoted values cannot break out of the header', () => {
    const h = bearerChallenge({ error: 'invalid_token', description: 'a"b\r\nX-Evil: 1' });
    assert.equal(h, 'Bearer error="invalid_token", error_description="abX-Evil: 1"');
  });
});
