/**
 * Runs the proxy-level tests a second time on the node:http front when the default front is
 * native uWS, so both fronts pass the same routes, status rules, limits, Origin/CORS rules,
 * backpressure and drain tests. Where the default already is node:http (no native binding, e.g.
 * Node 22/24 with the truffle build) the main run covered it and this is a no-op.
 *
 *   node dist/test/front-matrix.js      (npm test runs it after the whole suite)
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseFront } from '../src/acceptor/front.js';

/** Tests that start a proxy and talk HTTP to it; unit tests do not depend on the front. */
const PROXY_LEVEL = /^(proxy-.*|shutdown|idle-reaper|reload|demo|smoke-load|logging|peer-everything)\.test\.js$/;

const auto = chooseFront({ ...process.env, MITHRIL_FRONT: 'auto' }).front.kind;
if (auto === 'node') {
  process.stdout.write('# front matrix: the default front already is node:http; the main run covered it\n');
  process.exit(0);
}
const dir = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(dir).filter((f) => PROXY_LEVEL.test(f)).sort().map((f) => join(dir, f));
process.stdout.write(`# front matrix: ${files.length} proxy-level test files again on the node:http front\n`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=120000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, MITHRIL_FRONT: 'node' },
});
process.exit(r.status ?? 1);
