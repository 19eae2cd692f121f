import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mithril-auth-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, MITHRIL_CONFIG: '' } });
}

const DEST = 'destinations:\n  d: { transport: streamable_http, url: "http://127.0.0.1:9/mcp" }\n';

describe('the proxy refuses to serve off loopback without credentials', () => {
  test('check-config reports it as one line at listen.host', () => {
    const file = join(dir, 'open.yml');
    writeFileSync(file, `listen: { host: 0.0.0.0, port: 0 }\n${DEST}`);
    const r = run(['check-config', '--config', file]);
    assert.equal(r.status, 1);
    assert.match(r.stdout + r.stderr, /^listen\.host: 0\.0\.0\.0 is not a loopback address and auth has no clients or jwt/m);
  });

  test('serve --host 0.0.0.0 on a loopback-only file is refused before listening', () => {
    const file = join(dir, 'local.yml');
    writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }\n${DEST}`);
    const r = run(['serve', '--config', file, '--host', '0.0.0.0']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^--host: 0\.0\.0\.0 is not a loopback address/m);
    assert.doesNotMatch(r.stderr, /listening on/);
  });

  test('serve (the demo) --host 0.0.0.0 is refused with the same reason, not a stack trace', () => {
    const r = run(['serve', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /listen\.host: 0\.0\.0\.0 is not a loopback address/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  });
});
