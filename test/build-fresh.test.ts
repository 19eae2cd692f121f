/**
 * `npm test` tests what the sources say: it builds first (pretest), and the build starts from an
 * empty dist/, so a stale or deleted file cannot be what runs. Before this, `npm test` ran
 * whatever dist/ held: an edit to src/ was silently not what got tested, and a deleted test kept
 * running from its old .js.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = join(ROOT, 'dist');
const SOURCES = ['src', 'workers', 'test', 'bench', 'examples'];

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'results' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

test('npm test builds before it runs, from an empty dist/', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.pretest ?? '', /npm run build/);
  assert.match(scripts.build ?? '', /rmSync\('dist'/);
});

test('every built file comes from a current source, and none is older than its source', () => {
  for (const top of SOURCES) {
    for (const src of walk(join(ROOT, top)).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
      const out = join(DIST, relative(ROOT, src)).replace(/\.ts$/, '.js');
      const built = statSync(out, { throwIfNoEntry: false });
      assert.ok(built, `${relative(ROOT, src)} was not built`);
      assert.ok(built.mtimeMs >= statSync(src).mtimeMs, `${relative(ROOT, out)} is older than its source`);
    }
  }
  for (const js of walk(DIST).filter((f) => f.endsWith('.js'))) {
    const src = join(ROOT, relative(DIST, js)).replace(/\.js$/, '.ts');
    assert.ok(statSync(src, { throwIfNoEntry: false }), `${relative(ROOT, js)} has no source (stale build output)`);
  }
});
