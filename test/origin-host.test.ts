/**
 * DNS-rebinding defences (issue 9): the Origin check decides loopback by IP parsing, not by the
 * prefix "127." (`http://127.0.0.1.evil.example` is a name an attacker owns), and refuses every
 * spelling no browser sends; the Host allow-list refuses names that are not this server's.
 * Origin through a real proxy; Host through the predicate and a real uWS app using the
 * route-side check (the lead wires it into app.ts admit()).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { hostAllowed, refuseForeignHost, splitHost } from '../src/acceptor/host-check.js';
import { writeResponse } from '../src/acceptor/http-util.js';
import { isLoopbackOrigin, originAllowed } from '../src/acceptor/origin.js';
import type { ProxyHandle } from '../src/proxy.js';
import { type RunningUpstream, startCounterHttp } from './helpers/counter-upstream.js';
import { INIT_BODY, configFromYaml, httpYaml, rawPost, startTestProxy } from './helpers/proxy.js';
import { rawHttp, requestText } from './helpers/raw-http.js';

/** Origins that must never count as loopback, each a known rebinding or parser trick. */
const HOSTILE_ORIGINS = [
  'http://127.0.0.1.evil.example', // issue 9: a DNS name that starts with "127."
  'http://127.attacker.net',
  'https://127.0.0.1.nip.io',
  'http://evil.example@127.0.0.1', // userinfo: no browser sends it
  'http://127.0.0.1@evil.example',
  'http://2130706433', // decimal: URL normalises it to 127.0.0.1, browsers send the dotted form
  'http://0x7f.1', // hex + short form, same
  'http://127.1',
  'http://0177.0.0.1', // octal
  'http://127.0.0.1.', // trailing dot
  'http://localhost.',
  'http://foo.localhost',
  'http://LOCALHOST',
  'http://0.0.0.0', // "any address", reaches loopback on Linux ("0.0.0.0 day")
  'http://0',
  'http://[::]',
  'http://[::ffff:127.0.0.1]', // URL rewrites it to [::ffff:7f00:1]: not what a browser sends
  'http://127.0.0.1:3000/path',
  'ftp://127.0.0.1',
  'file://',
  'null',
  'http://%31%32%37.0.0.1',
];
const LOOPBACK_ORIGINS = ['http://localhost:6274', 'http://127.0.0.1:3000', 'http://127.5.6.7', 'https://localhost', 'http://[::1]:8080'];

describe('Origin: loopback by IP parsing', () => {
  test('the predicate refuses each rebinding trick and accepts browser-serialized loopback origins', () => {
    for (const o of HOSTILE_ORIGINS) assert.equal(isLoopbackOrigin(o), false, o);
    for (const o of LOOPBACK_ORIGINS) assert.equal(isLoopbackOrigin(o), true, o);
    assert.equal(originAllowed('https://inspector.example', ['https://inspector.example']), true);
    assert.equal(originAllowed('http://127.0.0.1.evil.example', ['*']), true, "'*' still means any");
  });

  let upstream: RunningUpstream;
  let proxy: ProxyHandle;
  let url: string;
  before(async () => {
    upstream = await startCounterHttp();
    proxy = await startTestProxy(httpYaml('web', upstream.url));
    url = `${proxy.url}/web/mcp`;
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('through the proxy: every trick is 403 E_FORBIDDEN_ORIGIN with no session and no CORS headers', async () => {
    for (const origin of HOSTILE_ORIGINS) {
      const r = await rawPost(url, INIT_BODY, { origin });
      assert.equal(r.status, 403, origin);
      assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(r.headers.get('mcp-session-id'), null, origin);
      const b = (await r.json()) as { error: { data: { code: string } } };
      assert.equal(b.error.data.code, 'E_FORBIDDEN_ORIGIN', origin);
    }
  });

  test('through the proxy: loopback origins get 200, a session and CORS', async () => {
    for (const origin of LOOPBACK_ORIGINS) {
      const r = await rawPost(url, INIT_BODY, { origin });
      assert.equal(r.status, 200, origin);
      assert.equal(r.headers.get('access-control-allow-origin'), origin);
      assert.ok(r.headers.get('mcp-session-id'));
      await r.arrayBuffer();
    }
  });
});

describe('Host allow-list (hostAllowed)', () => {
  const loop = { listen: { host: '127.0.0.1' }, allowedHosts: [] as string[] };
  const lan = { listen: { host: '0.0.0.0' }, allowedHosts: ['mcp.team.example', 'pi.lan:8443'] };
  const me = hostname().toLowerCase();

  test('IP literals, localhost, this machine and listen.host pass by default, with any port', () => {
    for (const h of ['127.0.0.1', '127.0.0.1:8080', 'localhost', 'LOCALHOST:8080', '[::1]:8080', '[::1]', '192.168.1.20:8080', '10.0.0.5', `${me}:8080`, `${me}.local`]) {
      assert.equal(hostAllowed(h, loop), true, h);
      assert.equal(hostAllowed(h, lan), true, h);
    }
    assert.equal(hostAllowed('pi.example:8080', { listen: { host: 'pi.example' }, allowedHosts: [] }), true);
  });

  test('rebinding names and malformed Host values are refused', () => {
    for (const h of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example', '127.attacker.net:8080', 'localhost.', 'foo.localhost',
      '2130706433', '0x7f.1', '127.1', '', ' ', 'localhost:', 'localhost:abc', 'localhost:8080:1', '::1', '[::1', '[evil]:80',
      'user@localhost', 'localhost/x', 'local host', 'mcp.team.example.', `${me}.evil.example`, 'a'.repeat(300)]) {
      assert.equal(hostAllowed(h, loop), false, JSON.stringify(h));
    }
  });

  test('allowed_hosts: a bare name with any port, name:port only with that port; "*" allows everything', () => {
    assert.equal(hostAllowed('mcp.team.example', lan), true);
    assert.equal(hostAllowed('MCP.Team.Example:443', lan), true);
    assert.equal(hostAllowed('pi.lan:8443', lan), true);
    assert.equal(hostAllowed('pi.lan:8080', lan), false);
    assert.equal(hostAllowed('pi.lan', lan), false);
    assert.equal(hostAllowed('evil.example', { listen: { host: '0.0.0.0' }, allowedHosts: ['*'] }), true);
    assert.equal(splitHost('pi.lan:8443')?.port, '8443');
  });

  test('accepted Host values are remembered per config, boundedly; refusals never are', () => {
    const cfg = { listen: { host: '0.0.0.0' }, allowedHosts: ['pi.lan:8443'] };
    for (let i = 0; i < 200; i++) assert.equal(hostAllowed(`10.0.${i}.1:8080`, cfg), true);
    for (let k = 0; k < 2; k++) {
      assert.equal(hostAllowed('pi.lan:8443', cfg), true);
      assert.equal(hostAllowed('pi.lan:8080', cfg), false);
      assert.equal(hostAllowed('evil.example', cfg), false);
      assert.equal(hostAllowed('10.0.3.1:8080', cfg), true);
    }
    // A reload is a new config object: nothing carries over.
    assert.equal(hostAllowed('pi.lan:8443', { listen: { host: '0.0.0.0' }, allowedHosts: [] }), false);
  });

  test('allowed_hosts is validated by the config schema', () => {
    const base = 'destinations:\n  web: { transport: streamable_http, url: "http://127.0.0.1:9/mcp" }\n';
    assert.deepEqual(configFromYaml(`allowed_hosts: [mcp.team.example, 'pi.lan:8443', '*']\n${base}`).allowedHosts, ['mcp.team.example', 'pi.lan:8443', '*']);
    assert.deepEqual(configFromYaml(base).allowedHosts, []);
    assert.throws(() => configFromYaml(`allowed_hosts: ['http://x.example']\n${base}`), /allowed_hosts/);
  });
});

describe('Host allow-list on a real uWS app (refuseForeignHost)', () => {
  const uws = createRequire(import.meta.url)('@trufflesuite/uws-js-unofficial') as typeof Uws;
  let token: Uws.us_listen_socket | false = false;
  let port = 0;
  before(async () => {
    const cfg = { listen: { host: '0.0.0.0' }, allowedHosts: ['mcp.team.example'] };
    const app = uws.App().any('/*', (res, req) => {
      if (refuseForeignHost(res, req, cfg) === 0) writeResponse(res, 200, 'text/plain', 'served');
    });
    await new Promise<void>((resolve, reject) => app.listen('127.0.0.1', 0, (t) => {
      if (!t) return reject(new Error('listen failed'));
      token = t;
      port = uws.us_socket_local_port(t);
      resolve();
    }));
  });
  after(() => {
    if (token) uws.us_listen_socket_close(token);
  });

  test('a rebinding Host is 421 with a JSON-RPC error; a served Host passes', async () => {
    for (const host of ['evil.example:8080', '127.0.0.1.evil.example']) {
      const r = await rawHttp(port, requestText('POST', '/demo/mcp', [['host', host]], INIT_BODY));
      assert.equal(r.status, 421, host);
      const b = JSON.parse(r.body) as { id: unknown; error: { code: number; message: string; data: { code: string } } };
      assert.equal(b.error.data.code, 'E_FORBIDDEN_HOST');
      assert.equal(b.error.code, -32600);
      assert.match(b.error.message, /not served here/);
    }
    for (const host of ['mcp.team.example', `127.0.0.1:${port}`, 'localhost']) {
      const r = await rawHttp(port, requestText('GET', '/healthz', [['host', host]]));
      assert.equal(r.status, 200, host);
      assert.equal(r.body, 'served');
    }
  });

  test('an empty Host is refused too', async () => {
    // (uWS itself never answers a request with no Host line at all; see the report in SECURITY.md.)
    const r = await rawHttp(port, 'GET /demo/sse HTTP/1.1\r\nhost:\r\nconnection: close\r\n\r\n');
    assert.equal(r.status, 421);
    assert.match(r.body, /missing Host/);
  });
});
