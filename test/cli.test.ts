/**
 * The operator-facing commands, run as real processes: check-config's exit codes and problem
 * lines, serve --config / MITHRIL_CONFIG, and SIGHUP reload (refused for a bad file).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { counterServerPath } from './helpers/counter-upstream.js';
import { INIT_BODY, pidAlive, rawPost, serveCli, stopChild, waitFor } from './helpers/proxy.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mithril-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const good = (name: string): string => `listen: { host: 127.0.0.1, port: 0 }
workers: 1
destinations:
  ${name}:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(counterServerPath())}, --stdio]
`;

test('check-config: exit 0 for a valid file', () => {
  const file = join(dir, 'ok.yml');
  writeFileSync(file, good('demo'));
  const r = spawnSync(process.execPath, [CLI, 'check-config', '--config', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('check-config: exit 1 with one line per problem naming the YAML path', () => {
  const file = join(dir, 'bad.yml');
  writeFileSync(file, 'listen: { port: 99999 }\nbogus: 1\ndestinations:\n  github:\n    transport: streamable_http\n    url: ftp://x\n');
  const r = spawnSync(process.execPath, [CLI, 'check-config', '--config', file], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith('destinations.github.url: ') && /http\(s\) URL/.test(l)), r.stdout);
  assert.ok(lines.some((l) => l.startsWith('bogus: ')), r.stdout);
  assert.ok(lines.some((l) => l.startsWith('listen.port: ')), r.stdout);
  assert.equal(lines.length, 3);
});

const serve = serveCli;

const stop = (child: ChildProcessWithoutNullStreams): Promise<number | null> => stopChild(child);

test('serve --config FILE and MITHRIL_CONFIG serve the file; SIGHUP reloads it', async () => {
  const file = join(dir, 'serve.yml');
  writeFileSync(file, good('one'));
  const viaEnv = await serve([], { MITHRIL_CONFIG: file });
  assert.equal((await fetch(`${viaEnv.url}/one/mcp`, { method: 'PUT' })).status, 405);
  assert.equal(await stop(viaEnv.child), 0);

  const s = await serve(['--config', file]);
  try {
    // A file with problems is refused; the running config stays.
    writeFileSync(file, 'destinations: {}\n');
    s.child.kill('SIGHUP');
    await waitFor(() => /config reload refused/.test(s.out()), 5000, 'refusal log');
    assert.equal((await fetch(`${s.url}/one/mcp`, { method: 'PUT' })).status, 405);
    // A good file is applied: the new destination exists, the old one is gone.
    writeFileSync(file, good('two'));
    s.child.kill('SIGHUP');
    await waitFor(() => /"msg":"config reloaded"/.test(s.out()), 5000, 'reload log');
    assert.equal((await fetch(`${s.url}/two/mcp`, { method: 'PUT' })).status, 405);
    assert.equal((await fetch(`${s.url}/one/mcp`, { method: 'PUT' })).status, 404);
  } finally {
    assert.equal(await stop(s.child), 0);
  }
});

test('serve never runs on the pure-JS uWS imitation, even when the binding package is told to use it', async () => {
  // UWS_USE_FALLBACK makes the binding package's entry return its JS imitation, as it does on its
  // own when the native binary cannot load; the proxy loads the native binary itself or not at all.
  const s = await serve(['--port', '0'], { UWS_USE_FALLBACK: '1', MITHRIL_CONFIG: '', MITHRIL_FRONT: '' });
  try {
    const h = (await (await fetch(`${s.url}/healthz`)).json()) as { front: string; native: boolean; binding: string };
    if (h.front === 'uws') assert.equal(h.native, true);
    else assert.match(h.binding, /^node:http@/);
    assert.doesNotMatch(s.out() + s.err(), /fallback implementation/);
  } finally {
    assert.equal(await stop(s.child), 0);
  }
});

test('a proxy killed with SIGKILL leaves no stdio child behind (stdin EOF ends them)', async () => {
  const s = await serve(['--port', '0'], { MITHRIL_CONFIG: '' });
  const init = await rawPost(`${s.url}/demo/mcp`, INIT_BODY);
  assert.equal(init.status, 200);
  const sid = init.headers.get('mcp-session-id')!;
  await init.text();
  const call = await rawPost(`${s.url}/demo/mcp`, '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}', { 'mcp-session-id': sid });
  const text = await call.text();
  const json = text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6);
  const who = JSON.parse((JSON.parse(json) as { result: { content: Array<{ text: string }> } }).result.content[0]!.text) as { pid: number };
  assert.ok(pidAlive(who.pid));
  await stopChild(s.child, 'SIGKILL');
  await waitFor(() => !pidAlive(who.pid), 10_000, `child ${who.pid} to exit after its proxy died`);
});
