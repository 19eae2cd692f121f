/**
 * A stdio reply longer than `stdio.max_line_bytes` (issue 8, defect 12) used to be dropped with a
 * log line only, leaving the client to its own timeout. The proxy now reads the reply's JSON-RPC
 * id from the ends of the dropped line and fails that request at once with
 * E_UPSTREAM_MESSAGE_TOO_LARGE; the session goes on.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { INIT_BODY, rawPost, startTestProxy } from './helpers/proxy.js';
import { oversizedLineId } from '../src/upstream/oversize-id.js';
import type { ProxyHandle } from '../src/proxy.js';

const HUGE = fileURLToPath(new URL('../../test/fixtures/stdio/huge-reply.mjs', import.meta.url));
let proxy: ProxyHandle;

before(async () => {
  proxy = await startTestProxy(
    `  big:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(HUGE)}, '300000']\n` +
    `    timeouts: { request_ms: 30000 }\n    stdio: { max_line_bytes: 65536 }\n`,
  );
});
after(async () => {
  await proxy.close();
});

async function session(url: string): Promise<Record<string, string>> {
  const r = await rawPost(url, INIT_BODY);
  assert.equal(r.status, 200, await r.clone().text());
  await r.text();
  const h = { 'mcp-session-id': r.headers.get('mcp-session-id') as string, 'mcp-protocol-version': '2025-06-18' };
  await (await rawPost(url, '{"jsonrpc":"2.0","method":"notifications/initialized"}', h)).text();
  return h;
}

const call = (id: unknown, name: string): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

for (const [name, id] of [['id-last', 11], ['id-first', 'req-12']] as const) {
  test(`a stdio reply over max_line_bytes fails its request at once (${name})`, async () => {
    const url = `${proxy.url}/big/mcp`;
    const h = await session(url);
    const started = Date.now();
    const r = await rawPost(url, call(id, name), h);
    const body = (await r.json()) as { id: unknown; error?: { message: string; data: { code: string } } };
    assert.ok(Date.now() - started < 10_000, 'answered at once, not at request_ms');
    assert.equal(r.status, 502);
    assert.equal(body.id, id);
    assert.equal(body.error?.data.code, 'E_UPSTREAM_MESSAGE_TOO_LARGE');
    assert.match(body.error?.message ?? '', /max_line_bytes/);
    const next = await rawPost(url, call(13, 'small'), h);
    assert.equal(next.status, 200, 'the session goes on');
    assert.match(await next.text(), /small/);
  });
}

test('oversizedLineId reads only the top-level id', () => {
  assert.equal(oversizedLineId('{"jsonrpc":"2.0","id":5,"result":{"x":"yyy', 'yyy"}}'), 5);
  assert.equal(oversizedLineId('{"result":{"a":{"id":1},"t":"yy', 'yy"},"jsonrpc":"2.0","id":"k"}'), 'k');
  assert.equal(oversizedLineId('{"result":{"id":1,"t":"yy', 'yy","id":2}}'), undefined, 'a nested id at the end is not the id');
  assert.equal(oversizedLineId('{"method":"notifications/message","params":{"data":"yy', 'yy"}}'), undefined);
  assert.equal(oversizedLineId('{"s":"\\"id\\":3","id":4,', 'x'), 4, 'an "id" inside a string is skipped');
});
