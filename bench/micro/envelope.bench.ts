/**
 * Envelope parsing: the top-level scanner (parseEnvelope) against JSON.parse + the same
 * classification (parseEnvelopeSimple), on the three message sizes the proxy sees most.
 */
import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Bench, type Task } from 'tinybench';
import { type Row, opsRow } from './rows.js';
import { parseEnvelope, parseEnvelopeSimple, MsgKind } from '../../src/upstream/jsonrpc-envelope.js';

export type { Row } from './rows.js';

/** ~200 B: a progress notification. */
export const NOTIFICATION_200B = JSON.stringify({
  jsonrpc: '2.0', method: 'notifications/progress',
  params: { progressToken: 'tok-4711-a8f3', progress: 42, total: 100, message: 'Indexing repository files (42 of 100 done)…' },
});

/** ~1 KiB: a tools/call with a typical argument object (short strings, an array, nesting, escapes). */
export const TOOLS_CALL_1K = JSON.stringify({
  jsonrpc: '2.0', id: 4711, method: 'tools/call',
  params: {
    name: 'create_issue',
    arguments: {
      owner: 'octo-org', repo: 'mithril-proxy', title: 'Session table rebuild drops entries under churn',
      labels: ['bug', 'threads', 'p1'], assignees: ['alice', 'bob'], milestone: 3, draft: false,
      body: 'Steps to reproduce:\n1. start 2 workers\n2. open 5000 sessions\n3. kill worker 1\n'
        + 'Expected: 404 for its sessions. Actual: 502 for some of them, see “worker lost” at 12:03:04Z.\n'
        + 'More context: the table was at 50% fill, rebuilds happened every few seconds. '.repeat(6),
      metadata: { priority: 1, estimate: 2.5e0, tags: { area: 'threads', team: 'core' } },
    },
    _meta: { progressToken: 'tok-4711' },
  },
});

/** ~64 KiB: a tools/call result with many text blocks. */
export const RESPONSE_64K = JSON.stringify({
  jsonrpc: '2.0', id: 4711,
  result: {
    content: Array.from({ length: 290 }, (_, i) => ({ type: 'text', text: `line ${i}: ` + 'lorem ipsum dolor sit amet, consectetur adipiscing elit '.repeat(3) + '"quoted" \\ done' })),
    isError: false,
  },
});

let sink = 0;


export async function run(time = 500): Promise<Row[]> {
  const cases = [['200B notification', NOTIFICATION_200B], ['1KiB tools/call', TOOLS_CALL_1K], ['64KiB response', RESPONSE_64K]] as const;
  const bench = new Bench({ name: 'envelope', time, warmupTime: 100 });
  for (const [label, text] of cases) {
    if (parseEnvelope(text).kind === MsgKind.Invalid) throw new Error(`bench input ${label} does not parse`);
    // Without the depth walk: the baseline is what JSON.parse + classification costs (bench/README.md).
    bench.add(`JSON.parse ${label} (${text.length} B)`, () => { sink += parseEnvelopeSimple(text, false).kind; });
    bench.add(`scanner ${label} (${text.length} B)`, () => { sink += parseEnvelope(text).kind; });
  }
  await bench.run();
  const rows = bench.tasks.map((t) => opsRow(t as Task));
  // Each scanner row is compared with the JSON.parse row just before it (same input, same run).
  for (let i = 0; i + 1 < rows.length; i += 2) {
    const base = rows[i] as Row, scan = rows[i + 1] as Row;
    base['x JSON.parse'] = 1;
    scan['x JSON.parse'] = Number(((scan['ops/s'] as number) / (base['ops/s'] as number)).toFixed(2));
  }
  if (sink === -1) console.log(sink); // keeps the results observable so the work is not optimized away
  return rows;
}

if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table(await run());
}
