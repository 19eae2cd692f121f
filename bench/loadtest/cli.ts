/**
 * `npm run loadtest -- --url URL [...]`: one bounded load run, progress on stderr, a text table on
 * stdout, report.json + report.html in --out (default bench/results/<timestamp>/).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { USAGE, parseCli } from './options.js';
import { textTable, writeReport } from './report.js';
import { runLoad } from './run.js';

/** dist/bench/loadtest/cli.js -> the repository root. */
const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const { help: _help, ...options } = args;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = options.out ?? join(REPO_ROOT, 'bench', 'results', stamp);
  const report = await runLoad({ ...options, out: undefined });
  process.stdout.write(textTable(report));
  const files = writeReport(out, report);
  process.stdout.write(`report: ${files.json}\n        ${files.html}\n`);
  const c = report.counts;
  // A run with wrong or missing replies is a failed run for scripts, whatever its speed.
  if (c.errors + c.lost + c.mismatched > 0 || c.ok === 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exitCode = 2;
});
