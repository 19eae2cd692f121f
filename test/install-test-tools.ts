/**
 * Install the test tools that need Node 22 (the official Node 22 binary, the conformance suite,
 * the MCP Inspector) into .cache/ ahead of `npm test`, and print how long each took, so CI can
 * budget the first install and the test files' own time stays inside their per-file timeout.
 *   node dist/test/install-test-tools.js
 * (Not a *.test.js file: npm test does not run it; the tests install on first use anyway.)
 */
import { nodeBinary } from './helpers/node-bin.js';
import { conformanceCli, conformanceInstallMs } from './helpers/conformance.js';
// The 0.2.0-alpha.12 prerelease for the 2026-07-28 scenarios (test/conformance-2026.test.ts).
import { conformance2026Cli, conformance2026InstallMs } from './helpers/conformance2026.js';
import { inspectorInstallMs, inspectorLauncher } from './helpers/inspector.js';

const t0 = Date.now();
const node22 = nodeBinary(22);
const nodeMs = Date.now() - t0;
conformanceCli();
conformance2026Cli();
inspectorLauncher();
console.log(`test tools ready in ${Date.now() - t0} ms: node 22 ${nodeMs} ms (${node22}), `
  + `conformance ${conformanceInstallMs()} ms, inspector ${inspectorInstallMs()} ms (0 = already installed)`);
console.log(`conformance 2026 (0.2.0-alpha.12) ${conformance2026InstallMs()} ms (0 = already installed)`);
