/**
 * CI smoke load: a bounded load through a real proxy, with Streamable HTTP and legacy SSE clients
 * against HTTP and stdio upstreams. It fails if any reply is lost, mismatched, an error, or lands
 * in another session. No timing thresholds: speed lives in bench/.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { type FastUpstream, startFastUpstream } from '../examples/fast-upstream.js';
import { runLoad } from '../bench/loadtest/run.js';
import type { LoadReport } from '../bench/loadtest/report.js';
import { httpYaml, pidAlive, startTestProxy, waitFor } from './helpers/proxy.js';
import type { ProxyHandle } from '../src/proxy.js';

const FAST = fileURLToPath(new URL('../examples/fast-upstream.js', import.meta.url));
let upstream: FastUpstream;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startFastUpstream({ port: 0, host: '127.0.0.1' });
  const stdio = `  faststdio:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(FAST)}, --stdio]\n`;
  proxy = await startTestProxy(httpYaml('fast', upstream.url) + stdio);
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

function assertClean(r: LoadReport, expected: number): void {
  const c = r.counts;
  assert.equal(c.lost, 0, 'no reply lost');
  assert.equal(c.mismatched, 0, `no reply mismatched (wrong id ${c.wrongId}, wrong token ${c.wrongToken}, crossed ${c.crossedSession})`);
  assert.equal(c.errors, 0, 'no error replies');
  assert.equal(c.ok, expected, 'every request answered');
}

const cases = [
  { name: 'Streamable HTTP clients -> HTTP upstream', path: 'fast/mcp', transport: 'streamable' as const, sessions: 24 },
  { name: 'Streamable HTTP clients -> stdio upstream', path: 'faststdio/mcp', transport: 'streamable' as const, sessions: 12 },
  { name: 'legacy SSE clients -> HTTP upstream', path: 'fast/sse', transport: 'sse' as const, sessions: 16 },
  { name: 'legacy SSE clients -> stdio upstream', path: 'faststdio/sse', transport: 'sse' as const, sessions: 8 },
];

/** Every stdio child seen while the load ran, so the end can check each one is gone. */
const seenPids = new Set<number>();

for (const c of cases) {
  test(`smoke load: ${c.name}`, async () => {
    const sampler = setInterval(() => {
      for (const p of proxy.supervisor.childPids()) seenPids.add(p);
    }, 20);
    const requests = c.sessions * 100;
    const report = await runLoad({
      url: `${proxy.url}/${c.path}`,
      transport: c.transport,
      sessions: c.sessions,
      concurrency: 4,
      requests,
      payload: 512,
      threads: 1,
      timeoutMs: 20_000,
      progress: false,
    });
    clearInterval(sampler);
    assertClean(report, requests);
  });
}

test('after the load every session can be closed and no stdio child is left', async () => {
  const pids = [...seenPids];
  assert.ok(pids.length > 0, 'the stdio cases ran children');
  for (const s of [...proxy.core.store.all()]) await proxy.core.endSession(s, 'delete');
  assert.equal(proxy.core.store.size, 0);
  // The processes themselves are gone; the acceptor's pid bookkeeping follows by message.
  await waitFor(() => pids.every((p) => !pidAlive(p)), 10_000, 'every stdio child to exit');
  await waitFor(() => proxy.supervisor.childCount() === 0, 5000, 'child bookkeeping to drain');
});
