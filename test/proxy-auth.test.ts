/**
 * Client authentication on every destination route of a running proxy: real SDK clients (both
 * transports) carrying `Authorization` through `requestInit.headers`, static tokens and real JWTs
 * signed by keys the test serves from a JWKS on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ProxyHandle } from '../src/proxy.js';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { type JwksServer, type TestKey, makeKey, signToken, startJwks } from './helpers/oauth.js';
import { INIT_BODY, configFromYaml, httpYaml, rawPost, startTestProxy } from './helpers/proxy.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef00';
const CAROL = 'carol-token-0123456789abcdef';
process.env.MT_AUTH_ALICE = ALICE;
process.env.MT_AUTH_BOB = BOB;
process.env.MT_AUTH_CAROL = CAROL;
const ISS = 'https://auth.test.example';
const AUD = 'https://mcp.test.example';

let upstream: RunningUpstream;
let jwks: JwksServer;
let key: TestKey;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startCounterHttp();
  key = await makeKey('k1');
  jwks = await startJwks([key.publicJwk]);
  proxy = await startTestProxy(dests(), authYaml(''));
});
after(async () => {
  await proxy.close();
  await upstream.close();
  await jwks.close();
});

const dests = () => `${httpYaml('web', upstream.url)}${httpYaml('other', upstream.url)}`;
const authYaml = (moreClients: string) => `
auth:
  clients:
    alice: { token: "\${env:MT_AUTH_ALICE}", destinations: ["*"] }
    bob: { token: "\${env:MT_AUTH_BOB}", destinations: [web], requests_per_minute: 3 }
    carol: { token: "\${env:MT_AUTH_CAROL}", destinations: [web], max_sessions: 1 }
${moreClients}  jwt:
    issuer: ${ISS}
    audience: ${AUD}
    jwks_url: ${jwks.url}
    destinations: ["*"]
`;

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function metric(name: string, labels: string, on: ProxyHandle = proxy): Promise<number> {
  const text = await (await fetch(`${on.url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('every destination route asks for credentials', () => {
  test('no credentials: 401 with a Bearer challenge on POST/GET/DELETE /mcp, GET /sse, POST /message', async () => {
    const before401 = await metric('mithril_auth_failures_total', 'reason="missing"');
    const answers = await Promise.all([
      rawPost(`${proxy.url}/web/mcp`, INIT_BODY),
      fetch(`${proxy.url}/web/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': 'x' } }),
      fetch(`${proxy.url}/web/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': 'x' } }),
      fetch(`${proxy.url}/web/sse`, { headers: { accept: 'text/event-stream' } }),
      rawPost(`${proxy.url}/web/message?sessionId=x`, '{"jsonrpc":"2.0","id":1,"method":"ping"}'),
    ]);
    for (const r of answers) {
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer .*resource_metadata="https:\/\/mcp\.test\.example\/\.well-known\/oauth-protected-resource\/web\/mcp"/);
      const body = (await r.json()) as { error: { data: { code: string } } };
      assert.equal(body.error.data.code, 'E_UNAUTHORIZED');
    }
    assert.equal(await metric('mithril_auth_failures_total', 'reason="missing"'), before401 + 5);
  });

  test('an unknown name answers 401 without credentials (no enumeration), 404 with them', async () => {
    const anon = await rawPost(`${proxy.url}/nope/mcp`, INIT_BODY);
    assert.equal(anon.status, 401);
    await anon.text();
    const wrongMethod = await fetch(`${proxy.url}/nope/mcp`, { method: 'PUT', body: '{}' });
    assert.equal(wrongMethod.status, 405, 'a wrong method says nothing about the name either');
    await wrongMethod.text();
    const authed = await rawPost(`${proxy.url}/nope/mcp`, INIT_BODY, bearer(ALICE));
    assert.equal(authed.status, 404);
    assert.equal(((await authed.json()) as { destination: string }).destination, 'nope');
  });

  test('a bad token is 401 invalid_token; a destination the client may not use is 403', async () => {
    const bad = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer('not-a-known-token-0123456789'));
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    await bad.text();
    const forbidden = await rawPost(`${proxy.url}/other/mcp`, INIT_BODY, bearer(CAROL));
    assert.equal(forbidden.status, 403);
    assert.equal(((await forbidden.json()) as { error: { data: { code: string } } }).error.data.code, 'E_FORBIDDEN_DESTINATION');
  });

  test('a CORS preflight is not authenticated, and replies expose WWW-Authenticate to the page', async () => {
    const origin = 'http://localhost:6274';
    const pre = await fetch(`${proxy.url}/web/mcp`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const r = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, { origin });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('access-control-expose-headers') ?? '', /www-authenticate/);
    await r.text();
  });

  test('a 2026-07-28 browser client may send Mcp-Method, Mcp-Name and the Mcp-Param-* names it asks for (and nothing else it asks for)', async () => {
    const pre = await fetch(`${proxy.url}/web/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST', 'access-control-request-headers': 'mcp-method, mcp-name, Mcp-Param-Region, mcp-param-x_y, mcp-param-, x-evil' },
    });
    assert.equal(pre.status, 204);
    const allowed = (pre.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim());
    for (const h of ['mcp-method', 'mcp-name', 'mcp-protocol-version', 'mcp-param-region']) assert.ok(allowed.includes(h), `${h} in ${allowed.join(',')}`);
    assert.ok(allowed.includes('mcp-param-x_y'), 'any token character may follow the prefix');
    // An empty parameter name and other headers are not echoed.
    assert.ok(!allowed.includes('mcp-param-') && !allowed.includes('x-evil'));
  });
});

describe('authenticated clients are served', () => {
  test('the SDK Streamable HTTP client with a static token lists and calls tools', async () => {
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/web/mcp`), { requestInit: { headers: bearer(ALICE) } }));
    const tools = await client.listTools();
    assert.ok(tools.tools.length > 0);
    const r = await client.callTool({ name: 'increment', arguments: {} });
    assert.equal(r.isError, undefined);
    await client.close();
  });

  test('the SDK legacy SSE client with a static token works on GET /sse and POST /message', async () => {
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new SSEClientTransport(new URL(`${proxy.url}/web/sse`), { requestInit: { headers: bearer(ALICE) } }));
    const tools = await client.listTools();
    assert.ok(tools.tools.length > 0);
    await client.close();
  });

  test('a JWT seen for the first time is verified while its body uploads; later requests reuse the verdict', async () => {
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'dana', scope: 'mcp:web' });
    const fetchesBefore = jwks.fetches;
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/web/mcp`), { requestInit: { headers: bearer(token) } }));
    assert.ok((await client.listTools()).tools.length > 0);
    await client.close();
    assert.ok(jwks.fetches - fetchesBefore <= 1, 'the JWKS was fetched at most once');
    // The token's scope names web only: other is refused with the scope it would need.
    const r = await rawPost(`${proxy.url}/other/mcp`, INIT_BODY, bearer(token));
    assert.equal(r.status, 403);
    assert.match(r.headers.get('www-authenticate') ?? '', /error="insufficient_scope", .*scope="mcp:other"/);
    await r.text();
  });

  test('a large body behind a new JWT is read while the key is fetched (413 still applies after auth)', async () => {
    const token = await signToken(key, { iss: ISS, aud: AUD, sub: 'erin', scope: 'mcp:*' });
    const big = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'initialize', params: { pad: 'x'.repeat(5 * 1024 * 1024) } });
    const r = await rawPost(`${proxy.url}/web/mcp`, big, bearer(token));
    assert.equal(r.status, 413);
    await r.text();
    const ok = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(await signToken(key, { iss: ISS, aud: AUD, sub: 'erin2', scope: 'mcp:*' })));
    assert.equal(ok.status, 200);
    await ok.text();
  });
});

describe('per-client limits', () => {
  test('requests_per_minute: 429 with the computed Retry-After, not the table default', async () => {
    const before429 = await metric('mithril_rate_limited_total', 'scope="requests_per_minute"');
    const statuses: number[] = [];
    let retryAfter = '';
    for (let i = 0; i < 4; i++) {
      const r = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(BOB));
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after') ?? '';
      await r.text();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    // 3 per minute: the next token arrives in 20 s (the error table's default would say 1).
    assert.ok(Number(retryAfter) > 1 && Number(retryAfter) <= 20, `Retry-After ${retryAfter}`);
    assert.equal(await metric('mithril_rate_limited_total', 'scope="requests_per_minute"'), before429 + 1);
  });

  test('max_sessions: a second live session is 429 until the first ends', async () => {
    const first = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(CAROL));
    assert.equal(first.status, 200);
    await first.text();
    const sid = first.headers.get('mcp-session-id')!;
    const second = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(CAROL));
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('retry-after'), '10');
    assert.equal(((await second.json()) as { error: { data: { code: string } } }).error.data.code, 'E_TOO_MANY_SESSIONS');
    const del = await fetch(`${proxy.url}/web/mcp`, { method: 'DELETE', headers: { ...bearer(CAROL), 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    await del.text();
    const third = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(CAROL));
    assert.equal(third.status, 200, 'DELETE gave the slot back');
    await third.text();
  });
});

describe('config reload', () => {
  test('rebuilds the authenticator (a new client works) and keeps live-session counts (max_sessions still holds)', async () => {
    const FRANK = 'frank-token-0123456789abcdef';
    process.env.MT_AUTH_FRANK = FRANK;
    const before = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(FRANK));
    assert.equal(before.status, 401);
    await before.text();
    const yaml = `listen: { host: 127.0.0.1, port: 0 }\nworkers: 2\nlog_level: silent\n${authYaml('    frank: { token: "${env:MT_AUTH_FRANK}", destinations: [web] }\n')}\ndestinations:\n${dests()}`;
    await proxy.reload(configFromYaml(yaml));
    const frank = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(FRANK));
    assert.equal(frank.status, 200);
    await frank.text();
    // carol still holds the session from the max_sessions test: the count survived the reload.
    const carol = await rawPost(`${proxy.url}/web/mcp`, INIT_BODY, bearer(CAROL));
    assert.equal(carol.status, 429);
    await carol.text();
  });
});

describe('the JWKS unreachable', () => {
  test('a new JWT answers 503 E_AUTH_UNAVAILABLE with Retry-After, not a 401 that would send the client to log in again', async () => {
    const down = await startJwks([key.publicJwk]);
    down.failWith = 500;
    const p = await startTestProxy(httpYaml('web', upstream.url), `auth:\n  jwt: { issuer: ${ISS}, audience: ${AUD}, jwks_url: ${down.url}, destinations: ["*"] }\n`);
    try {
      const before503 = await metric('mithril_auth_failures_total', 'reason="unavailable"', p);
      const r = await rawPost(`${p.url}/web/mcp`, INIT_BODY, bearer(await signToken(key, { iss: ISS, aud: AUD, scope: 'mcp:web' })));
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('retry-after'), '5');
      assert.match(await r.text(), /E_AUTH_UNAVAILABLE/);
      assert.equal(await metric('mithril_auth_failures_total', 'reason="unavailable"', p), before503 + 1);
    } finally {
      await p.close();
      await down.close();
    }
  });
});

describe('protected resource metadata (RFC 9728)', () => {
  test('the root and the path-specific documents name the issuer', async () => {
    const root = await fetch(`${proxy.url}/.well-known/oauth-protected-resource`);
    assert.equal(root.status, 200);
    const doc = (await root.json()) as { resource: string; authorization_servers: string[] };
    assert.deepEqual(doc.authorization_servers, [ISS]);
    const one = await fetch(`${proxy.url}/.well-known/oauth-protected-resource/web/mcp`);
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { resource: string }).resource, `${AUD}/web/mcp`);
  });
});
