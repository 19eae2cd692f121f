/**
 * Mcp-Param-* validation on the 2026-07-28 pass-through (streamable-http "Custom Headers from Tool
 * Parameters", server/tools "x-mcp-header"): the proxy learns each tool's mirrored parameters from
 * the tools/list results it passes back (worker -> ToMain.ToolHeaders -> the acceptor's cache), and
 * from then on refuses a tools/call whose Mcp-Param-* headers are missing, extra or different with
 * 400 -32020 before routing. Before any tools/list, for unknown tools and for tools with invalid
 * annotations, the headers are forwarded and the upstream (the raw 2026 fixture, which checks
 * route/shard itself) decides. Real proxy with 2 workers; the cache is on main, so a list through
 * one worker validates calls through the other. Unit tests of the cache and the tap come last.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Raw2026Upstream, startRaw2026Upstream } from './fixtures/raw-2026-upstream.js';
import { configFromYaml, waitFor } from './helpers/proxy.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { MAX_TOOLS_PER_DEST, ToolHeaderCache } from '../src/acceptor/tool-header-cache.js';
import { encodeHeaderValue } from '../src/era/headers2026.js';
import { ErrorCode, ProxyError } from '../src/errors.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { ToolListTap, type ToolSpecs, asksLaterPage, toolSpecsOf } from '../src/upstream/tool-list-tap.js';
import type { ReplySink } from '../src/upstream/types.js';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

let up: Raw2026Upstream;
let up2: Raw2026Upstream;
let proxy: ProxyHandle;

const yaml = (movingUrl: string): string => `listen: { host: 127.0.0.1, port: 0 }
workers: 2
log_level: silent
destinations:
  modern:
    transport: streamable_http
    url: ${up.url}
    protocol: 2026
  other:
    transport: streamable_http
    url: ${up.url}
    protocol: 2026
  moving:
    transport: streamable_http
    url: ${movingUrl}
    protocol: 2026
`;

before(async () => {
  up = await startRaw2026Upstream({ headerTools: true });
  up2 = await startRaw2026Upstream({ headerTools: true });
  proxy = await startProxy(configFromYaml(yaml(up.url)));
});
after(async () => {
  await proxy.close();
  await up.close();
  await up2.close();
});

const urlOf = (dest: string): string => `${proxy.url}/${dest}/mcp`;
const seenUpstream = (u: Raw2026Upstream, id: unknown): number => u.requests.filter((r) => r.id === id).length;

async function rpc(res: Response): Promise<Rpc> {
  return (await res.json()) as Rpc;
}

/** tools/list through the proxy, then wait until the acceptor has the specs (they follow the reply). */
async function listTools(dest: string, id: string): Promise<void> {
  const res = await post2026(urlOf(dest), body2026(id, 'tools/list'), headers2026('tools/list'));
  assert.equal(res.status, 200);
  const j = await rpc(res);
  assert.ok(Array.isArray(j.result?.tools), 'the list reached the client');
  await waitFor(() => proxy.core.toolHeaders.size(dest) > 0, 5000, `x-mcp-header specs of ${dest}`);
}

function call(dest: string, id: string, name: string, args: Record<string, unknown>, params: Record<string, string | null> = {}): Promise<Response> {
  return post2026(urlOf(dest), body2026(id, 'tools/call', { name, arguments: args }), headers2026('tools/call', name, params));
}

/** The refusal the proxy answers for a header mismatch, and the upstream never saw the request. */
async function refused(res: Response, id: string, u: Raw2026Upstream = up): Promise<Rpc> {
  assert.equal(res.status, 400);
  const j = await rpc(res);
  assert.equal(j.id, id, 'the refusal carries the request id');
  assert.equal(j.error?.code, -32020);
  assert.equal(j.error?.data?.code, ErrorCode.HeaderMismatch, 'decided by the proxy (the fixture sends no data.code)');
  assert.equal(seenUpstream(u, id), 0, 'the upstream never saw it');
  return j;
}

/** Per-worker count of upstream replies for `dest` (worker stats latency histograms). */
async function servedCounts(dest: string): Promise<number[]> {
  const stats = await proxy.core.workerStats();
  return stats.map((s) => {
    let n = 0;
    for (const [d, , h] of s?.latency ?? []) if (d === dest) n += h.count;
    return n;
  });
}

/** The worker that served `run` (its count rose by one); nothing else may run meanwhile. */
async function servedBy(dest: string, run: () => Promise<void>): Promise<number> {
  const before = await servedCounts(dest);
  await run();
  const after = await servedCounts(dest);
  const rose = after.map((n, i) => n - (before[i] ?? 0));
  assert.equal(rose.reduce((a, b) => a + b, 0), 1, `exactly one upstream reply: ${JSON.stringify(rose)}`);
  return rose.findIndex((d) => d === 1);
}

describe('Mcp-Param-* checked against x-mcp-header specs from tools/list', () => {
  test('before any tools/list, a wrong Mcp-Param-* is forwarded: it is the upstream\'s to refuse', async () => {
    assert.equal(proxy.core.toolHeaders.size('modern'), 0);
    const res = await call('modern', 'pre1', 'route', { region: 'eu-west' }, { 'mcp-param-region': 'us' });
    assert.equal(res.status, 400);
    const j = await rpc(res);
    assert.equal(j.error?.code, -32020);
    assert.equal(j.error?.data?.code, undefined, 'the fixture answered, not the proxy');
    assert.equal(seenUpstream(up, 'pre1'), 1, 'the upstream got it');
  });

  test('after tools/list the specs are known: route, shard (integer + nested boolean); loose (invalid annotation) and toolless ones are not', async () => {
    await listTools('modern', 'list1');
    const c = proxy.core.toolHeaders;
    assert.deepEqual(c.lookup('modern', 'route')?.params, [{ name: 'Region', path: ['region'], type: 'string' }]);
    assert.deepEqual(c.lookup('modern', 'shard')?.params, [
      { name: 'Dry-Run', path: ['opts', 'dryRun'], type: 'boolean' },
      { name: 'Shard', path: ['shard'], type: 'integer' },
    ]);
    assert.equal(c.lookup('modern', 'loose'), undefined, 'an invalid annotation makes the tool unchecked');
    assert.equal(c.lookup('modern', 'echo'), undefined, 'no mirrored parameter, no entry');
    assert.equal(c.size('other'), 0, 'per destination');
  });

  test('a missing Mcp-Param-* is 400 -32020 with the id, before routing', async () => {
    const j = await refused(await call('modern', 'miss1', 'route', { region: 'eu-west', query: 'q' }), 'miss1');
    assert.match(j.error?.message ?? '', /Mcp-Param-Region/);
    await refused(await call('modern', 'miss2', 'shard', { shard: 7 }), 'miss2');
  });

  test('a different value is 400, for strings, integers and booleans', async () => {
    await refused(await call('modern', 'diff1', 'route', { region: 'eu-west' }, { 'mcp-param-region': 'us-east' }), 'diff1');
    await refused(await call('modern', 'diff2', 'shard', { shard: 42 }, { 'mcp-param-shard': '43' }), 'diff2');
    await refused(await call('modern', 'diff3', 'shard', { shard: 42 }, { 'mcp-param-shard': 'forty-two' }), 'diff3');
    await refused(await call('modern', 'diff4', 'shard', { shard: 1, opts: { dryRun: true } }, { 'mcp-param-shard': '1', 'mcp-param-dry-run': 'false' }), 'diff4');
    // Case matters in values: the body is the source of truth.
    await refused(await call('modern', 'diff5', 'route', { region: 'eu-west' }, { 'mcp-param-region': 'EU-WEST' }), 'diff5');
  });

  test('an extra Mcp-Param-* for an absent (or null) argument is 400: a router would act on a value the server never sees', async () => {
    await refused(await call('modern', 'extra1', 'shard', { shard: 3 }, { 'mcp-param-shard': '3', 'mcp-param-dry-run': 'true' }), 'extra1');
    await refused(await call('modern', 'extra2', 'shard', { shard: null }, { 'mcp-param-shard': '0' }), 'extra2');
  });

  test('integers compare numerically: "42.0" and "4.2e1" match 42', async () => {
    for (const [id, h] of [['int1', '42.0'], ['int2', '4.2e1'], ['int3', '42']] as const) {
      const res = await call('modern', id, 'shard', { shard: 42 }, { 'mcp-param-shard': h });
      assert.equal(res.status, 200, id);
      assert.deepEqual((await rpc(res)).result?.content, [{ type: 'text', text: 'shard 42' }]);
      assert.equal(up.requests.find((r) => r.id === id)?.headers['mcp-param-shard'], h, 'forwarded as the client wrote it');
    }
  });

  test('a base64-encoded non-ASCII value is decoded and accepted; the encoded form is forwarded', async () => {
    const region = 'Zürich-1';
    const h = encodeHeaderValue(region);
    assert.match(h, /^=\?base64\?/);
    const res = await call('modern', 'b64', 'route', { region, query: 'x' }, { 'mcp-param-region': h });
    assert.equal(res.status, 200);
    assert.deepEqual((await rpc(res)).result?.content, [{ type: 'text', text: `region ${region}: x` }]);
    assert.equal(up.requests.find((r) => r.id === 'b64')?.headers['mcp-param-region'], h);
    // A broken sentinel is malformed, not a plain value.
    await refused(await call('modern', 'b64bad', 'route', { region }, { 'mcp-param-region': '=?base64?not base64?=' }), 'b64bad');
  });

  test('a right request passes with its headers forwarded (nested path, other Mcp-* too)', async () => {
    const res = await call('modern', 'ok1', 'shard', { shard: 5, opts: { dryRun: false } }, { 'mcp-param-shard': '5', 'mcp-param-dry-run': 'false', 'mcp-param-unlisted': 'x' });
    assert.equal(res.status, 200);
    assert.deepEqual((await rpc(res)).result?.content, [{ type: 'text', text: 'shard 5' }]);
    const seen = up.requests.find((r) => r.id === 'ok1');
    assert.equal(seen?.headers['mcp-param-shard'], '5');
    assert.equal(seen?.headers['mcp-param-dry-run'], 'false');
    assert.equal(seen?.headers['mcp-param-unlisted'], 'x', 'an Mcp-Param-* the tool does not declare is forwarded, unchecked');
  });

  test('unknown tools and tools with invalid annotations are forwarded unchecked', async () => {
    const loose = await call('modern', 'loose1', 'loose', { tags: ['a'] }, { 'mcp-param-tag': 'zzz' });
    assert.equal(loose.status, 200);
    assert.deepEqual((await rpc(loose)).result?.content, [{ type: 'text', text: 'loose' }]);
    const unknown = await call('modern', 'unk1', 'nope', { region: 'a' }, { 'mcp-param-region': 'b' });
    assert.equal(unknown.status, 200, 'the upstream answers (unknown tool), the proxy let it through');
    assert.equal((await rpc(unknown)).error?.code, -32602);
    assert.equal(seenUpstream(up, 'unk1'), 1);
  });

  test('a duplicate key on a mirrored argument path is refused (the proxy and the upstream could read different copies)', async () => {
    const body = body2026('dup1', 'tools/call', { name: 'route', arguments: { region: 'eu-west' } }).replace('"region":"eu-west"', '"region":"eu-west","region":"us"');
    const res = await post2026(urlOf('modern'), body, headers2026('tools/call', 'route', { 'mcp-param-region': 'eu-west' }));
    assert.equal(res.status, 400);
    const j = await rpc(res);
    assert.equal(j.id, 'dup1');
    assert.equal(j.error?.data?.code, ErrorCode.InvalidRequest);
    assert.equal(seenUpstream(up, 'dup1'), 0);
  });

  test('2 workers: the tools/list goes through worker A, calls through worker B are still validated (the cache is on main)', async () => {
    assert.equal(proxy.core.toolHeaders.size('other'), 0);
    const a = await servedBy('other', () => listTools('other', 'wlist'));
    // Rotation spreads an idle proxy's requests; within a few calls one lands on the other worker.
    let b = a;
    for (let k = 0; b === a && k < 8; k++) {
      b = await servedBy('other', async () => {
        const res = await call('other', `wgood${k}`, 'route', { region: 'ap' }, { 'mcp-param-region': 'ap' });
        assert.equal(res.status, 200);
        await res.text();
      });
    }
    assert.notEqual(b, a, 'a call was served by the worker that never saw the tools/list');
    await refused(await call('other', 'wbad', 'route', { region: 'ap' }, { 'mcp-param-region': 'eu' }), 'wbad');
    await refused(await call('other', 'wmiss', 'route', { region: 'ap' }), 'wmiss');
  });

  test('a reload that points the destination elsewhere forgets its specs; one that keeps it keeps them', async () => {
    await listTools('moving', 'mlist');
    await refused(await call('moving', 'm1', 'route', { region: 'a' }, { 'mcp-param-region': 'b' }), 'm1');
    await proxy.reload(configFromYaml(yaml(up.url)));
    assert.ok(proxy.core.toolHeaders.size('moving') > 0, 'same connection settings: kept');
    await proxy.reload(configFromYaml(yaml(up2.url)));
    assert.equal(proxy.core.toolHeaders.size('moving'), 0, 'a new upstream must be listed again');
    assert.ok(proxy.core.toolHeaders.size('modern') > 0, 'other destinations keep theirs');
    const res = await call('moving', 'm2', 'route', { region: 'a' }, { 'mcp-param-region': 'b' });
    assert.equal(res.status, 400);
    assert.equal((await rpc(res)).error?.data?.code, undefined, 'forwarded: the new upstream refused it');
    assert.equal(seenUpstream(up2, 'm2'), 1);
  });
});

describe('ToolHeaderCache', () => {
  const spec = (name: string): [string, { name: string; path: string[]; type: 'string' }[]] => [name, [{ name: 'H', path: ['h'], type: 'string' }]];

  test('a first page replaces the destination, a later page adds to it', () => {
    const c = new ToolHeaderCache();
    c.learn('d', [spec('a'), spec('b')], false);
    c.learn('d', [spec('c')], true);
    assert.equal(c.size('d'), 3);
    c.learn('d', [spec('x')], false);
    assert.equal(c.size('d'), 1);
    assert.equal(c.lookup('d', 'a'), undefined, 'a tool the upstream no longer lists goes');
    assert.deepEqual(c.lookup('d', 'x')?.paths, [['h']]);
  });

  test(`at most ${MAX_TOOLS_PER_DEST} tools per destination, also across pages`, () => {
    const c = new ToolHeaderCache();
    c.learn('d', Array.from({ length: MAX_TOOLS_PER_DEST + 10 }, (_, i) => spec(`t${i}`)), false);
    assert.equal(c.size('d'), MAX_TOOLS_PER_DEST);
    c.learn('d', [spec('late')], true);
    assert.equal(c.size('d'), MAX_TOOLS_PER_DEST);
    assert.equal(c.lookup('d', 'late'), undefined);
  });

  test('specs the scan would refuse (empty or too deep paths) are not kept', () => {
    const c = new ToolHeaderCache();
    c.learn('d', [['deep', [{ name: 'H', path: Array.from({ length: 17 }, () => 'p'), type: 'string' }]], ['empty', [{ name: 'H', path: [], type: 'string' }]]], false);
    assert.equal(c.size('d'), 0);
  });
});

describe('ToolListTap', () => {
  const list = JSON.stringify({
    jsonrpc: '2.0', id: 1,
    result: {
      tools: [
        { name: 'r', inputSchema: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } } } },
        { name: 'bad', inputSchema: { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'A' }, b: { type: 'string', 'x-mcp-header': 'a' } } } },
        { name: 'plain', inputSchema: { type: 'object' } },
      ],
    },
  });

  function fakeSink(log: string[]): ReplySink {
    return {
      closed: false,
      json: () => log.push('json'),
      startStream: () => log.push('start'),
      event: () => {
        log.push('event');
        return true;
      },
      onResume: () => {},
      end: () => log.push('end'),
      accepted: () => log.push('accepted'),
      fail: (e: ProxyError) => log.push(`fail ${e.code}`),
    };
  }

  test('toolSpecsOf keeps valid annotated tools only; non-results give undefined', () => {
    assert.deepEqual(toolSpecsOf(list), [['r', [{ name: 'Region', path: ['region'], type: 'string' }]]]);
    assert.equal(toolSpecsOf('{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}'), undefined);
    assert.equal(toolSpecsOf('not json'), undefined);
    assert.deepEqual(toolSpecsOf('{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'), []);
  });

  test('the reply is handed on first; the specs follow, off that call', async () => {
    const log: string[] = [];
    let got: ToolSpecs | undefined;
    const tap = new ToolListTap(fakeSink(log), (t) => {
      log.push('found');
      got = t;
    });
    assert.equal(tap.errorBody, undefined, 'optional members of the inner sink stay absent');
    tap.json(list);
    assert.deepEqual(log, ['json'], 'nothing parsed inside json()');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['json', 'found']);
    assert.equal(got?.[0]?.[0], 'r');
  });

  test('an SSE reply: notifications are skipped, the response event is read once', async () => {
    const log: string[] = [];
    let found = 0;
    const tap = new ToolListTap(fakeSink(log), () => found++);
    tap.startStream();
    tap.event('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}');
    tap.event(list);
    tap.event(list);
    tap.end();
    await new Promise((r) => setImmediate(r));
    assert.equal(found, 1);
    assert.deepEqual(log, ['start', 'event', 'event', 'event', 'end']);
    tap.fail(new ProxyError(ErrorCode.UpstreamClosed, 'x'));
    assert.equal(log.at(-1), `fail ${ErrorCode.UpstreamClosed}`);
  });

  test('asksLaterPage: only a string params.cursor', () => {
    assert.equal(asksLaterPage(body2026(1, 'tools/list', { cursor: 'c1' })), true);
    assert.equal(asksLaterPage(body2026(1, 'tools/list')), false);
    assert.equal(asksLaterPage('{'), false);
  });
});
