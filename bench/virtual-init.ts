/**
 * What a virtual server's initialize costs when it opens every member at once (the design in
 * src/virtual/session.ts), against the alternative of opening members on first use. Members are
 * stdio counter children (the costly kind on a Pi: one node process each).
 *
 *   npm run build && node dist/bench/virtual-init.js [--members 1,3,5] [--rounds 5]
 *
 * Columns (medians over rounds, ms): `direct init` one destination's initialize (one child);
 * `virtual init` the virtual server's initialize (N children in parallel); `first list` the
 * tools/list right after it; `again` a second tools/list. First-use would move the N-child open
 * from `virtual init` into `first list` (a client lists right after initialize), so the sum of
 * the two is what either choice costs a client that lists at once.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../src/config/load.js';
import { createLogger } from '../src/observability/log.js';
import { startProxy } from '../src/proxy.js';

const COUNTER = fileURLToPath(new URL('../examples/counter-server.js', import.meta.url));
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function post(url: string, body: string, sid?: string): Promise<{ ms: number; sid: string | null }> {
  const t0 = performance.now();
  const r = await fetch(url, { method: 'POST', headers: sid ? { ...HEADERS, 'mcp-session-id': sid } : HEADERS, body });
  await r.text();
  if (r.status >= 300) throw new Error(`${url}: ${r.status}`);
  return { ms: performance.now() - t0, sid: r.headers.get('mcp-session-id') };
}

async function end(url: string, sid: string): Promise<void> {
  await (await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } })).text();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function measure(n: number, rounds: number): Promise<string> {
  let yaml = 'listen: { host: 127.0.0.1, port: 0 }\nworkers: 1\nlog_level: silent\ndestinations:\n';
  const names = Array.from({ length: n }, (_, i) => `c${i}`);
  for (const name of names) yaml += `  ${name}: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(COUNTER)}, --stdio] }\n`;
  yaml += `virtual_servers:\n  all: { destinations: [${names.join(', ')}] }\n`;
  const r = parseConfigText(yaml, { source: null, baseDir: process.cwd() });
  if (!r.ok) throw new Error(r.problems.join('\n'));
  const proxy = await startProxy(r.config, { log: createLogger('silent', {}) });
  const cols: Record<string, number[]> = { direct: [], init: [], list: [], again: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      const d = await post(`${proxy.url}/c0/mcp`, INIT);
      cols.direct?.push(d.ms);
      if (d.sid) await end(`${proxy.url}/c0/mcp`, d.sid);
      const url = `${proxy.url}/all/mcp`;
      const v = await post(url, INIT);
      const sid = v.sid ?? '';
      cols.init?.push(v.ms);
      await post(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', sid);
      cols.list?.push((await post(url, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', sid)).ms);
      cols.again?.push((await post(url, '{"jsonrpc":"2.0","id":3,"method":"tools/list"}', sid)).ms);
      await end(url, sid);
    }
  } finally {
    await proxy.close();
  }
  const f = (k: string): string => median(cols[k] ?? []).toFixed(1).padStart(12);
  return `${String(n).padStart(7)} ${f('direct')} ${f('init')} ${f('list')} ${f('again')}`;
}

const { values } = parseArgs({ options: { members: { type: 'string', default: '1,3,5' }, rounds: { type: 'string', default: '5' } } });
process.stdout.write(`members  direct init virtual init   first list        again   (ms, median of ${values.rounds})\n`);
for (const n of values.members.split(',').map(Number)) process.stdout.write(`${await measure(n, Number(values.rounds))}\n`);
