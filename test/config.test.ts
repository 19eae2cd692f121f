import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { demoConfig } from '../src/config/demo.js';
import { formatProblems, loadConfigFile, parseConfigText, type LoadResult } from '../src/config/load.js';
import type { HttpDestination, ProxyConfig, StdioDestination } from '../src/config/types.js';
import { ProxyError } from '../src/errors.js';

let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mithril-config-'));
  mkdirSync(join(dir, 'servers'));
  mkdirSync(join(dir, 'bin'));
  const script = join(dir, 'bin', 'server.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n');
  chmodSync(script, 0o755);
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function parse(text: string, env: NodeJS.ProcessEnv = {}): LoadResult {
  return parseConfigText(text, { source: join(dir, 'config.yml'), baseDir: dir, env });
}

function ok(text: string, env: NodeJS.ProcessEnv = {}): ProxyConfig {
  const r = parse(text, env);
  if (!r.ok) assert.fail(`expected a valid config, got:\n${formatProblems(r.problems)}`);
  return r.config;
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  const r = parse(text, env);
  if (r.ok) assert.fail('expected problems, the config was accepted');
  return r.problems;
}

function http(c: ProxyConfig, name: string): HttpDestination {
  const d = c.destinations[name];
  assert.ok(d && d.transport !== 'stdio', `${name} is an http destination`);
  return d;
}

function stdio(c: ProxyConfig, name: string): StdioDestination {
  const d = c.destinations[name];
  assert.ok(d && d.transport === 'stdio', `${name} is a stdio destination`);
  return d;
}

const MINIMAL = `
destinations:
  api:
    transport: streamable_http
    url: http://127.0.0.1:9001/mcp
`;

describe('valid configs', () => {
  test('a minimal config gets every default', () => {
    const c = ok(MINIMAL);
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(c.workers, availableParallelism());
    assert.equal(c.maxSessions, 10_000);
    assert.equal(c.sessionIdleMs, 1_800_000);
    assert.equal(c.healthProbeAfterMs, 60_000);
    assert.equal(c.sseKeepaliveMs, 15_000);
    assert.deepEqual(c.allowedOrigins, []);
    assert.equal(c.logLevel, 'info');
    assert.deepEqual(c.limits, {
      maxBodyBytes: 4 * 1024 * 1024,
      maxBufferedBytes: 8 * 1024 * 1024,
      slowReaderMs: 60_000,
      maxPendingPushes: 256,
      maxInflightPerWorker: 4096,
      replayBufferBytes: 131072,
      maxChildren: 32,
    });
    assert.equal(c.source, join(dir, 'config.yml'));
    const api = http(c, 'api');
    assert.equal(api.name, 'api');
    assert.equal(api.url, 'http://127.0.0.1:9001/mcp');
    assert.deepEqual(api.headers, {});
    assert.deepEqual(api.timeouts, { connectMs: 5000, firstByteMs: 30_000, idleMs: 300_000, endpointMs: 10_000, requestMs: 120_000, maxRequestMs: 1_800_000 });
    assert.match(api.connectKey, /^[0-9a-f]{64}$/);
  });

  test('a full config maps every key', () => {
    const c = ok(`
listen: { host: 0.0.0.0, port: 0 }
auth: { anonymous: true }
workers: 3
max_sessions: 500
session_idle_ms: 1000
health_probe_after_ms: 2000
sse_keepalive_ms: 3000
allowed_origins: ['https://inspector.example/', '*']
log_level: debug
limits: { max_body_bytes: 10, max_buffered_bytes: 20, slow_reader_ms: 25, max_pending_pushes: 30, max_inflight_per_worker: 40 }
destinations:
  legacy:
    transport: sse
    url: https://example.test/sse
    headers: { X-Team: blue, X-Version: 2 }
    timeouts: { connect_ms: 1, first_byte_ms: 2, idle_ms: 3, endpoint_ms: 4, request_ms: 5, max_request_ms: 6 }
  local_1:
    transport: stdio
    command: node
    args: [server.js, --port, 3000]
    env: { MODE: test, DEBUG: true }
    cwd: servers
    timeouts: { connect_ms: 7 }
    stdio: { max_line_bytes: 100, max_restarts: 0, restart_window_ms: 1, restart_backoff_ms: 2, kill_grace_ms: 3, stderr_lines_per_sec: 4, on_exit: restart }
`);
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 0 });
    assert.equal(c.workers, 3);
    assert.equal(c.maxSessions, 500);
    assert.equal(c.sessionIdleMs, 1000);
    assert.equal(c.healthProbeAfterMs, 2000);
    assert.equal(c.sseKeepaliveMs, 3000);
    assert.deepEqual(c.allowedOrigins, ['https://inspector.example', '*']);
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.limits, { maxBodyBytes: 10, maxBufferedBytes: 20, slowReaderMs: 25, maxPendingPushes: 30, maxInflightPerWorker: 40, maxChildren: 32, replayBufferBytes: 131072 });
    const legacy = http(c, 'legacy');
    assert.equal(legacy.transport, 'sse');
    assert.deepEqual(legacy.headers, { 'x-team': 'blue', 'x-version': '2' });
    assert.deepEqual(legacy.timeouts, { connectMs: 1, firstByteMs: 2, idleMs: 3, endpointMs: 4, requestMs: 5, maxRequestMs: 6 });
    const local = stdio(c, 'local_1');
    assert.equal(local.command, 'node');
    assert.deepEqual(local.args, ['server.js', '--port', '3000']);
    assert.deepEqual(local.env, { MODE: 'test', DEBUG: 'true' });
    assert.equal(local.cwd, join(dir, 'servers'));
    assert.equal(local.timeouts.connectMs, 7);
    assert.equal(local.timeouts.requestMs, 120_000);
    assert.deepEqual(local.stdio, {
      maxLineBytes: 100, maxRestarts: 0, restartWindowMs: 1, restartBackoffMs: 2, killGraceMs: 3, stderrLinesPerSec: 4, onExit: 'restart',
      maxChildren: null, sessionIdleMs: 600_000,
    });
  });

  test('stdio defaults: no args, no env, no cwd, default limits', () => {
    const s = stdio(ok('destinations: { s: { transport: stdio, command: node } }'), 's');
    assert.deepEqual(s.args, []);
    assert.deepEqual(s.env, {});
    assert.equal(s.cwd, undefined);
    assert.deepEqual(s.stdio, {
      maxLineBytes: 4 * 1024 * 1024, maxRestarts: 3, restartWindowMs: 60_000, restartBackoffMs: 200, killGraceMs: 2000, stderrLinesPerSec: 20, onExit: 'end_session',
      maxChildren: null, sessionIdleMs: 600_000,
    });
  });

  test('an unconfigured name such as "constructor" is not found among destinations', () => {
    const c = ok(MINIMAL);
    assert.equal(c.destinations['constructor'], undefined);
    assert.deepEqual(Object.keys(c.destinations), ['api']);
  });
});

describe('problems', () => {
  test('unknown key at top level', () => {
    assert.deepEqual(problems(`${MINIMAL}\nbogus: 1\n`), ['bogus: unknown key']);
  });

  test('unknown keys inside a destination and inside its sections', () => {
    assert.deepEqual(
      problems('destinations: { x: { transport: sse, url: "http://h/", foo: 1, timeouts: { zz: 2 } } }'),
      ['destinations.x.foo: unknown key', 'destinations.x.timeouts.zz: unknown key'],
    );
  });

  test('bad URL', () => {
    assert.deepEqual(problems('destinations: { github: { transport: streamable_http, url: "ftp://h/x" } }'), [
      'destinations.github.url: must be an http(s) URL',
    ]);
    assert.deepEqual(problems('destinations: { github: { transport: streamable_http, url: "not a url" } }'), [
      'destinations.github.url: must be an http(s) URL',
    ]);
  });

  test('allowed_origins entries must be origins', () => {
    assert.deepEqual(problems(`${MINIMAL}\nallowed_origins: ['https://ok.example', 'https://x.example/path', 'ftp://h']\n`), [
      "allowed_origins[1]: must be an origin like 'https://host:port' or '*'",
      "allowed_origins[2]: must be an origin like 'https://host:port' or '*'",
    ]);
  });

  test('bad destination name', () => {
    const p = problems('destinations: { Bad.Name: { transport: stdio, command: node } }');
    assert.equal(p.length, 1);
    assert.match(p[0] ?? '', /^destinations\.Bad\.Name: is not a valid destination name/);
  });

  test('stdio without command, and url on stdio', () => {
    assert.deepEqual(problems('destinations: { s: { transport: stdio, url: "http://h/" } }'), [
      'destinations.s.command: is required for transport stdio',
      'destinations.s.url: is not allowed for transport stdio',
    ]);
  });

  test('http transport without url, and stdio keys on it', () => {
    assert.deepEqual(problems('destinations: { h: { transport: sse, command: node, args: [] } }'), [
      'destinations.h.args: is not allowed for transport sse',
      'destinations.h.command: is not allowed for transport sse',
      'destinations.h.url: is required for transport sse',
    ]);
  });

  test('bad port and wrong types', () => {
    assert.deepEqual(problems(`${MINIMAL}\nlisten: { port: 70000 }\n`), ['listen.port: must be <= 65535']);
    assert.deepEqual(problems(`${MINIMAL}\nlisten: { port: "80" }\nworkers: 1.5\n`), [
      'listen.port: must be an integer (got a string)',
      'workers: must be an integer (got a number)',
    ]);
  });

  test('missing and empty destinations', () => {
    assert.deepEqual(problems('workers: 1'), ['destinations: is required']);
    assert.deepEqual(problems('destinations: {}'), ['destinations: must define at least one destination']);
  });

  test('missing env var', () => {
    assert.deepEqual(problems('destinations: { s: { transport: stdio, command: node, env: { TOKEN: "${env:NOT_SET_HERE}" } } }'), [
      'destinations.s.env.TOKEN: environment variable "NOT_SET_HERE" is not set',
    ]);
  });

  test('missing secret, and a secret without a secrets_file', () => {
    writeFileSync(join(dir, 'secrets-a.yml'), 'other: x\n');
    const header = 'Authorization: "Bearer ${secret:gh_token}"';
    assert.deepEqual(problems(`secrets_file: secrets-a.yml\ndestinations: { gh: { transport: sse, url: "http://h/", headers: { ${header} } } }`), [
      'destinations.gh.headers.Authorization: secret "gh_token" is not defined in secrets_file',
    ]);
    assert.deepEqual(problems(`destinations: { gh: { transport: sse, url: "http://h/", headers: { ${header} } } }`), [
      'destinations.gh.headers.Authorization: secret "gh_token" is referenced but no secrets_file is set',
    ]);
  });

  test('malformed reference', () => {
    const p = problems('destinations: { s: { transport: stdio, command: node, env: { A: "${token}" } } }');
    assert.equal(p.length, 1);
    assert.match(p[0] ?? '', /^destinations\.s\.env\.A: contains a malformed reference/);
  });

  test('unreadable secrets_file is one problem line', () => {
    assert.deepEqual(problems(`secrets_file: nope.yml\n${MINIMAL}`), [
      `secrets_file: cannot read ${join(dir, 'nope.yml')} (ENOENT)`,
    ]);
  });

  test('no secret value appears in any problem line', () => {
    const value = 'S3CRET-value-7f3a';
    writeFileSync(
      join(dir, 'secrets-leak.yml'),
      [`tok: "${value}"`, `crlf: "${value}\\r\\nInjected: 1"`, `nested: { inner: ${value} }`, ''].join('\n'),
    );
    // `nested` is not a string: the file is refused, naming only the key.
    const p1 = problems(`secrets_file: secrets-leak.yml\n${MINIMAL}`);
    assert.deepEqual(p1, ['secrets_file: the value of "nested" must be a string (quote it in YAML)']);

    writeFileSync(join(dir, 'secrets-leak.yml'), [`tok: "${value}"`, `crlf: "${value}\\r\\nInjected: 1"`, ''].join('\n'));
    const p2 = problems(`
secrets_file: secrets-leak.yml
destinations:
  a:
    transport: streamable_http
    url: http://h/
    headers: { X-Ok: "\${secret:tok}", X-Crlf: "\${secret:crlf}", X-Miss: "\${secret:missing} \${secret:tok}" }
  b: { transport: stdio, command: node, env: { GOOD: "\${secret:tok}", Bad-Name: "\${secret:tok}" } }
`);
    assert.deepEqual(p2, [
      'destinations.a.headers.X-Crlf: must not contain CR, LF or NUL',
      'destinations.a.headers.X-Miss: secret "missing" is not defined in secrets_file',
      'destinations.b.env.Bad-Name: is not a valid environment variable name',
    ]);

    // A syntax error on the line holding the secret: yaml's own message would quote that line.
    writeFileSync(join(dir, 'secrets-leak.yml'), `tok: "${value}" bad: [\n`);
    const p3 = problems(`secrets_file: secrets-leak.yml\n${MINIMAL}`);
    assert.equal(p3.length, 1);
    assert.match(p3[0] ?? '', /^secrets_file: YAML syntax error at line 1/);

    for (const line of [...p1, ...p2, ...p3, formatProblems(p2)]) assert.ok(!line.includes(value), `leaked in: ${line}`);
  });

  test('YAML syntax error is one line with its line number', () => {
    const p = problems('listen:\n  port: 1\ndestinations: { a: b: c }\n');
    assert.equal(p.length, 1);
    assert.match(p[0] ?? '', /^line 3, column \d+: YAML syntax error: /);
    assert.ok(!(p[0] ?? '').includes('\n'));
  });

  test('empty file and a non-mapping root', () => {
    assert.deepEqual(problems(''), ['(root): the config is empty']);
    assert.deepEqual(problems('- a\n- b\n'), ['(root): must be a mapping (got a list)']);
  });

  test('several problems are reported at once, sorted by path', () => {
    const p = problems(`
bogus: true
listen: { port: -1 }
log_level: loud
destinations:
  github: { transport: streamable_http, url: "gopher://x" }
  Bad: { transport: stdio, command: node }
  s: { transport: stdio, url: "http://h/", env: { K: "\${env:MISSING_ONE}" }, stdio: { max_restarts: 1.5 } }
`);
    assert.deepEqual(p, [
      'bogus: unknown key',
      'destinations.Bad: is not a valid destination name (must match ^[a-z0-9][a-z0-9_-]{0,62}$)',
      'destinations.github.url: must be an http(s) URL',
      'destinations.s.command: is required for transport stdio',
      'destinations.s.env.K: environment variable "MISSING_ONE" is not set',
      'destinations.s.stdio.max_restarts: must be an integer (got a number)',
      'destinations.s.url: is not allowed for transport stdio',
      'listen.port: must be >= 0',
      'log_level: must be one of: fatal, error, warn, info, debug, trace, silent',
    ]);
    assert.equal(formatProblems(p).split('\n').length, p.length);
  });

  test('header names: invalid, reserved, duplicate ignoring case', () => {
    assert.deepEqual(
      problems('destinations: { a: { transport: sse, url: "http://h/", headers: { "Bad Name": x, Content-Length: 1, Expect: 100-continue, X-A: 1, x-a: 2 } } }'),
      [
        'destinations.a.headers.Bad Name: is not a valid header name',
        'destinations.a.headers.Content-Length: is set by the proxy and cannot be configured',
        'destinations.a.headers.Expect: is set by the proxy and cannot be configured',
        'destinations.a.headers.x-a: is a duplicate (header names ignore case)',
      ],
    );
  });

  test('header values the HTTP client cannot send are refused at load, not on every request', () => {
    assert.deepEqual(
      problems('destinations: { a: { transport: streamable_http, url: "http://h/", headers: { X-Ok: "a b\\tc", X-Latin: "café", X-Ctl: "a\\x01" } } }'),
      [
        'destinations.a.headers.X-Ctl: must be visible ASCII, spaces or tabs (no other byte can be sent in a header)',
        'destinations.a.headers.X-Latin: must be visible ASCII, spaces or tabs (no other byte can be sent in a header)',
      ],
    );
  });
});

describe('substitution and paths', () => {
  test('${env:} and ${secret:} in headers and env; $${ is a literal', () => {
    writeFileSync(join(dir, 'secrets-b.yml'), 'gh_token: abc123\napi_key: "k:e y"\n');
    const c = ok(
      `
secrets_file: ./secrets-b.yml
destinations:
  gh:
    transport: streamable_http
    url: https://api.example.test/mcp
    headers:
      Authorization: "Bearer \${secret:gh_token}"
      X-Region: "\${env:REGION}-\${env:ZONE}"
      X-Literal: "a$\${b}"
  s:
    transport: stdio
    command: node
    env: { API_KEY: "\${secret:api_key}", HOME_DIR: "\${env:REGION}", EMPTY: "\${env:EMPTY}" }
`,
      { REGION: 'eu', ZONE: '1', EMPTY: '' },
    );
    assert.deepEqual(http(c, 'gh').headers, { authorization: 'Bearer abc123', 'x-region': 'eu-1', 'x-literal': 'a${b}' });
    assert.deepEqual(stdio(c, 's').env, { API_KEY: 'k:e y', HOME_DIR: 'eu', EMPTY: '' });
  });

  test('relative cwd, path commands and secrets_file resolve against the config folder', () => {
    writeFileSync(join(dir, 'servers', 'secrets.yml'), 'k: v\n');
    const c = ok(`
secrets_file: servers/secrets.yml
destinations:
  rel: { transport: stdio, command: ./bin/server.sh, cwd: ./servers, env: { K: "\${secret:k}" } }
  up: { transport: stdio, command: ../${basename(dir)}/bin/server.sh, cwd: ../${basename(dir)} }
  plain: { transport: stdio, command: node }
  abs: { transport: stdio, command: ${process.execPath}, cwd: ${dir} }
`);
    assert.equal(stdio(c, 'rel').command, join(dir, 'bin', 'server.sh'));
    assert.equal(stdio(c, 'rel').cwd, join(dir, 'servers'));
    assert.deepEqual(stdio(c, 'rel').env, { K: 'v' });
    assert.equal(stdio(c, 'up').command, join(dir, 'bin', 'server.sh'));
    assert.equal(stdio(c, 'up').cwd, dir);
    assert.equal(stdio(c, 'plain').command, 'node');
    assert.equal(stdio(c, 'abs').command, process.execPath);
    assert.equal(stdio(c, 'abs').cwd, dir);
  });

  test('a missing cwd or command file is reported with its resolved path', () => {
    assert.deepEqual(problems('destinations: { s: { transport: stdio, command: ./bin/none.sh, cwd: ./nowhere } }'), [
      `destinations.s.command: does not exist: ${join(dir, 'bin', 'none.sh')}`,
      `destinations.s.cwd: does not exist: ${join(dir, 'nowhere')}`,
    ]);
  });
});

describe('connectKey', () => {
  const base = {
    url: 'http://h/mcp',
    headers: 'X-A: "1"',
    timeouts: 'connect_ms: 100',
  };
  const httpKey = (o: Partial<typeof base>) => {
    const v = { ...base, ...o };
    return http(ok(`destinations: { d: { transport: streamable_http, url: "${v.url}", headers: { ${v.headers} }, timeouts: { ${v.timeouts} } } }`), 'd').connectKey;
  };
  const stdioKey = (args: string, timeouts = 'idle_ms: 5', env = 'A: "1"') =>
    stdio(ok(`destinations: { d: { transport: stdio, command: node, args: [${args}], env: { ${env} }, timeouts: { ${timeouts} } } }`), 'd').connectKey;

  test('equal for equal connection fields', () => {
    assert.equal(httpKey({}), httpKey({}));
    assert.equal(stdioKey('a, b'), stdioKey('a, b'));
    // Header names ignore case and order.
    assert.equal(httpKey({ headers: 'X-A: "1", X-B: "2"' }), httpKey({ headers: 'x-b: "2", x-a: "1"' }));
  });

  test('different when a header, the url, an arg or env changes', () => {
    assert.notEqual(httpKey({}), httpKey({ headers: 'X-A: "2"' }));
    assert.notEqual(httpKey({}), httpKey({ url: 'http://h/other' }));
    assert.notEqual(stdioKey('a, b'), stdioKey('a, c'));
    assert.notEqual(stdioKey('a, b'), stdioKey('a, b', 'idle_ms: 5', 'A: "2"'));
  });

  test('a changed secret changes the key', () => {
    writeFileSync(join(dir, 'secrets-c.yml'), 't: one\n');
    const text = 'secrets_file: secrets-c.yml\ndestinations: { d: { transport: sse, url: "http://h/", headers: { A: "${secret:t}" } } }';
    const k1 = http(ok(text), 'd').connectKey;
    writeFileSync(join(dir, 'secrets-c.yml'), 't: two\n');
    assert.notEqual(http(ok(text), 'd').connectKey, k1);
  });

  test('not different when only a timeout changes', () => {
    assert.equal(httpKey({ timeouts: 'connect_ms: 100' }), httpKey({ timeouts: 'connect_ms: 999, request_ms: 5' }));
    assert.equal(stdioKey('a', 'idle_ms: 5'), stdioKey('a', 'idle_ms: 6'));
  });
});

describe('loadConfigFile', () => {
  test('reads a file, records its absolute source and resolves against its folder', async () => {
    const file = join(dir, 'servers', 'proxy.yml');
    writeFileSync(file, 'destinations: { s: { transport: stdio, command: node, cwd: . } }\n');
    const r = await loadConfigFile(file);
    if (!r.ok) assert.fail(formatProblems(r.problems));
    assert.equal(r.config.source, file);
    assert.equal(stdio(r.config, 's').cwd, join(dir, 'servers'));
  });

  test('an unreadable file is one problem line', async () => {
    const missing = join(dir, 'missing.yml');
    const r = await loadConfigFile(missing);
    assert.deepEqual(r, { ok: false, problems: [`${missing}: cannot read config file (ENOENT)`] });
  });

  test('uses the env it is given', async () => {
    const file = join(dir, 'env.yml');
    writeFileSync(file, 'destinations: { s: { transport: stdio, command: node, env: { X: "${env:MITHRIL_TEST_X}" } } }\n');
    const r = await loadConfigFile(file, { MITHRIL_TEST_X: 'yes' });
    if (!r.ok) assert.fail(formatProblems(r.problems));
    assert.deepEqual(stdio(r.config, 's').env, { X: 'yes' });
  });
});

describe('demoConfig', () => {
  test('validates and points at the example counter server', () => {
    const c = demoConfig();
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(c.source, null);
    assert.deepEqual(Object.keys(c.destinations), ['demo']);
    const d = stdio(c, 'demo');
    assert.equal(d.command, process.execPath);
    assert.equal(d.args.length, 2);
    const server = d.args[0] ?? '';
    assert.ok(isAbsolute(server));
    assert.ok(server.endsWith(join('examples', 'counter-server.js')), server);
    assert.equal(d.args[1], '--stdio');
    assert.equal(d.stdio.maxRestarts, 3);
  });

  test('applies overrides through the same validation', () => {
    const c = demoConfig({ port: 0, host: '::1', workers: 1 });
    assert.deepEqual(c.listen, { host: '::1', port: 0 });
    assert.equal(c.workers, 1);
    assert.throws(() => demoConfig({ port: 70_000 }), (err: unknown) => err instanceof ProxyError && /listen\.port: must be <= 65535/.test(err.message));
  });
});
