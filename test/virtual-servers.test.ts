/**
 * Virtual servers end to end: one virtual server whose members are real SDK servers over all
 * three upstream transports (stdio counter child, Streamable HTTP, legacy SSE), reached by real
 * SDK clients through the proxy.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';
import { createLogger } from '../src/observability/log.js';
import { counterServerPath } from './helpers/counter-upstream.js';
import { callText, connectStreamable, connectSse } from './helpers/mcp-client.js';
import { INIT_BODY, configFromYaml, httpYaml, rawPost, startTestProxy, stdioCounterYaml, waitFor } from './helpers/proxy.js';
import { type SdkUpstream, buildPagedServer, buildRichServer, cancelSeen, startLegacySseUpstream, startStreamableUpstream } from './helpers/sdk-upstream.js';

const VIRTUAL = `virtual_servers:
  team:
    destinations: [cnt, web, old]
  narrow:
    destinations: [cnt, web]
    tools: { allow: ["cnt__*", "web__echo"], deny: ["cnt__whoami"] }
  flaky:
    destinations: [cnt, gone]
  paged:
    destinations: [pg, web, pg2]
  dead_only:
    destinations: [dead]
  half:
    destinations: [dead, web]
`;

describe('virtual servers', () => {
  let web: SdkUpstream;
  let old: SdkUpstream;
  let gone: SdkUpstream;
  let pg: SdkUpstream;
  let pg2: SdkUpstream;
  let proxy: ProxyHandle;
  let destsYaml = '';

  before(async () => {
    web = await startStreamableUpstream({ enableJsonResponse: false, build: buildRichServer });
    old = await startLegacySseUpstream({ build: buildRichServer });
    gone = await startStreamableUpstream({ enableJsonResponse: true, build: buildRichServer });
    pg = await startStreamableUpstream({ enableJsonResponse: true, build: buildPagedServer });
    pg2 = await startStreamableUpstream({ enableJsonResponse: false, build: buildPagedServer });
    destsYaml = stdioCounterYaml('cnt', counterServerPath()) + httpYaml('web', web.url) + httpYaml('old', old.url, 'sse') + httpYaml('gone', gone.url) +
      httpYaml('pg', pg.url) + httpYaml('pg2', pg2.url) + httpYaml('dead', 'http://127.0.0.1:1/mcp');
    proxy = await startTestProxy(destsYaml, VIRTUAL);
  });
  after(async () => {
    await proxy.close();
    await web.close();
    await old.close();
    await gone.close().catch(() => undefined);
    await pg.close();
    await pg2.close();
  });

  it('initialize answers with the proxy as server and the members merged', async () => {
    const c = await connectStreamable(`${proxy.url}/team/mcp`);
    try {
      assert.equal(c.client.getServerVersion()?.name, 'mithril-proxy');
      const caps = c.client.getServerCapabilities();
      assert.ok(caps?.tools, 'tools offered');
      assert.ok(caps?.prompts, 'prompts offered (the HTTP members offer them, the counter does not)');
      assert.ok(caps?.resources, 'resources offered');
      assert.ok(caps?.logging, 'logging offered');
    } finally {
      await c.close();
    }
  });

  it('lists tools of every member over all three transports, prefixed, and calls them by prefix', async () => {
    const c = await connectStreamable(`${proxy.url}/team/mcp`);
    try {
      const names = (await c.client.listTools()).tools.map((t) => t.name).sort();
      for (const n of ['cnt__increment', 'cnt__whoami', 'web__echo', 'web__add_tool', 'old__echo', 'old__notify']) assert.ok(names.includes(n), `${n} listed in ${names.join(',')}`);
      assert.ok(names.every((n) => /^[a-zA-Z0-9_-]{1,64}$/.test(n)), 'names fit the strict rule');
      assert.equal(await callText(c.client, 'web__echo', { text: 'via http' }), 'via http');
      assert.equal(await callText(c.client, 'old__echo', { text: 'via sse' }), 'via sse');
      assert.equal(await callText(c.client, 'cnt__echo', { text: 'via stdio' }), 'via stdio');
      // Routed calls are timed per member, like requests to the destination itself.
      const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
      assert.match(metrics, /mithril_upstream_latency_seconds_count\{dest="old",transport="sse"\} [1-9]/);
      await assert.rejects(c.client.callTool({ name: 'nope__echo', arguments: { text: 'x' } }), /not found/);
    } finally {
      await c.close();
    }
  });

  it('keeps per-member state apart between two clients', async () => {
    const a = await connectStreamable(`${proxy.url}/team/mcp`);
    const b = await connectSse(`${proxy.url}/team/sse`);
    try {
      assert.equal(await callText(a.client, 'cnt__increment'), '1');
      assert.equal(await callText(a.client, 'cnt__increment'), '2');
      assert.equal(await callText(b.client, 'cnt__increment'), '1');
      assert.equal(await callText(a.client, 'cnt__get'), '2');
      const whoA = JSON.parse(await callText(a.client, 'cnt__whoami')) as { pid: number };
      const whoB = JSON.parse(await callText(b.client, 'cnt__whoami')) as { pid: number };
      assert.notEqual(whoA.pid, whoB.pid, 'each downstream session has its own stdio child');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('filters: allowed tools are listed and callable, denied ones neither', async () => {
    const c = await connectStreamable(`${proxy.url}/narrow/mcp`);
    try {
      const names = (await c.client.listTools()).tools.map((t) => t.name).sort();
      assert.ok(names.includes('cnt__increment'));
      assert.ok(names.includes('web__echo'));
      assert.ok(!names.includes('cnt__whoami'), 'denied');
      assert.ok(!names.includes('web__notify'), 'not allowed');
      assert.equal(await callText(c.client, 'web__echo', { text: 'ok' }), 'ok');
      await assert.rejects(c.client.callTool({ name: 'cnt__whoami', arguments: {} }), (e: Error & { code?: number }) => e.code === -32602 && /not found/.test(e.message));
      await assert.rejects(c.client.callTool({ name: 'web__notify', arguments: { text: 'x' } }), (e: Error & { code?: number }) => e.code === -32602);
    } finally {
      await c.close();
    }
  });

  it('prompts and resources round-trip through their prefixed names and URIs', async () => {
    const c = await connectStreamable(`${proxy.url}/team/mcp`);
    try {
      const prompts = (await c.client.listPrompts()).prompts.map((p) => p.name).sort();
      assert.deepEqual(prompts, ['old__greet', 'web__greet']);
      const got = await c.client.getPrompt({ name: 'old__greet', arguments: { who: 'ann' } });
      assert.deepEqual(got.messages[0]?.content, { type: 'text', text: 'hello ann' });

      const resources = (await c.client.listResources()).resources.map((r) => r.uri).sort();
      assert.deepEqual(resources, ['mithril+member://old/note://hello', 'mithril+member://web/note://hello']);
      const read = await c.client.readResource({ uri: 'mithril+member://web/note://hello' });
      assert.deepEqual(read.contents, [{ uri: 'mithril+member://web/note://hello', text: 'hello note' }]);

      const templates = (await c.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();
      assert.deepEqual(templates, ['mithril+member://old/note://{name}', 'mithril+member://web/note://{name}']);
      const fromTemplate = await c.client.readResource({ uri: 'mithril+member://old/note://abc' });
      assert.equal((fromTemplate.contents[0] as { text?: string }).text, 'note abc');

      // completion/complete goes to the member its ref names, by prompt name or template URI.
      const byPrompt = await c.client.complete({ ref: { type: 'ref/prompt', name: 'web__greet' }, argument: { name: 'who', value: 'an' } });
      assert.deepEqual(byPrompt.completion.values, ['ann', 'anna']);
      const byTemplate = await c.client.complete({ ref: { type: 'ref/resource', uri: 'mithril+member://old/note://{name}' }, argument: { name: 'name', value: 'ab' } });
      assert.deepEqual(byTemplate.completion.values, ['abc', 'abd']);
      await assert.rejects(c.client.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'who', value: 'a' } }), (e: Error & { code?: number }) => e.code === -32602);
    } finally {
      await c.close();
    }
  });

  it('a sampling request from a member reaches the client and its answer goes back to that member', async () => {
    const seen: string[] = [];
    const c = await connectStreamable(`${proxy.url}/team/mcp`, { onSampling: (p) => {
      seen.push(p);
      return `answer to ${p}`;
    } });
    try {
      // In the request's own stream (stdio counter) and on the standalone stream (Streamable HTTP).
      assert.equal(await callText(c.client, 'cnt__ask', { prompt: 'q1' }), 'client said: answer to q1');
      assert.equal(await callText(c.client, 'web__ask_unrelated', { text: 'q2' }), 'answer to q2');
      assert.deepEqual(seen, ['q1', 'q2']);
    } finally {
      await c.close();
    }
  });

  it('list_changed from a member reaches the client and the merged list shows the change', async () => {
    const c = await connectStreamable(`${proxy.url}/team/mcp`);
    let changed = 0;
    c.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    try {
      assert.equal(await callText(c.client, 'web__add_tool', { name: 'fresh' }), 'added');
      await waitFor(() => changed > 0, 10_000, 'tools/list_changed');
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('web__fresh'));
      assert.equal(await callText(c.client, 'web__fresh'), 'fresh');
    } finally {
      await c.close();
    }
  });

  it('a member that is down at list time is left out; the list still answers', async () => {
    const c = await connectStreamable(`${proxy.url}/flaky/mcp`);
    try {
      const before = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(before.includes('gone__echo'));
      await gone.close();
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('cnt__increment'), 'other member present');
      assert.ok(!names.some((n) => n.startsWith('gone__')), 'down member left out');
      assert.equal(await callText(c.client, 'cnt__increment'), '1');
    } finally {
      await c.close();
    }
  });

  it('pages across members with one opaque cursor, every member continued until done', async () => {
    const c = await connectStreamable(`${proxy.url}/paged/mcp`);
    try {
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const r = await c.client.listTools(cursor === undefined ? {} : { cursor });
        pages.push(r.tools.map((t) => t.name));
        cursor = r.nextCursor;
      } while (cursor !== undefined && pages.length < 10);
      assert.equal(pages.length, 3);
      assert.deepEqual(pages[0]?.filter((n) => n.startsWith('pg')), ['pg__page_0', 'pg__page_1', 'pg2__page_0', 'pg2__page_1']);
      assert.ok(pages[0]?.includes('web__echo'), 'the unpaged member is on the first page');
      assert.deepEqual(pages[1], ['pg__page_2', 'pg__page_3', 'pg2__page_2', 'pg2__page_3']);
      assert.deepEqual(pages[2], ['pg__page_4', 'pg2__page_4']);
      assert.equal(await callText(c.client, 'pg2__page_3'), 'page_3');
      // resources/subscribe goes to the member with its own URI; its resources/updated comes back renamed.
      const updated: string[] = [];
      c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updated.push(n.params.uri);
      });
      await c.client.subscribeResource({ uri: 'mithril+member://pg2/mem://x' });
      await waitFor(() => updated.length > 0, 10_000, 'resources/updated');
      assert.deepEqual(updated, ['mithril+member://pg2/mem://x']);
      await assert.rejects(c.client.listTools({ cursor: 'bm90IG91cnM' }), (e: Error & { code?: number }) => e.code === -32602 && /invalid cursor/.test(e.message));
    } finally {
      await c.close();
    }
  });

  it('progress reaches the client with its own token; a cancellation reaches the member running the request', async () => {
    const c = await connectStreamable(`${proxy.url}/team/mcp`);
    try {
      const progress: number[] = [];
      const r = await c.client.callTool({ name: 'web__progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
      assert.deepEqual(r.content, [{ type: 'text', text: 'done' }]);
      assert.deepEqual(progress, [1, 2]);

      const before = cancelSeen.count;
      const ac = new AbortController();
      const call = c.client.callTool({ name: 'old__wait_cancel', arguments: {} }, undefined, { signal: ac.signal });
      setTimeout(() => ac.abort('test cancels'), 300);
      await assert.rejects(call);
      await waitFor(() => cancelSeen.count > before, 10_000, 'the member saw notifications/cancelled');
    } finally {
      await c.close();
    }
  });

  it('a 2026-07-28 request to a virtual server without the required _meta answers 400 -32602 with its id (bridging: proxy-bridge-virtual.test.ts)', async () => {
    const r = await rawPost(`${proxy.url}/team/mcp`, '{"jsonrpc":"2.0","id":7,"method":"tools/list"}', { 'mcp-protocol-version': '2026-07-28' });
    assert.equal(r.status, 400);
    const body = (await r.json()) as { id: number; error: { code: number } };
    assert.equal(body.id, 7);
    assert.equal(body.error.code, -32602);
  });

  it('a member down at initialize is left out; with every member down initialize fails with its id', async () => {
    const c = await connectStreamable(`${proxy.url}/half/mcp`);
    try {
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('web__echo'));
      assert.ok(!names.some((n) => n.startsWith('dead__')));
      await assert.rejects(c.client.callTool({ name: 'dead__echo', arguments: { text: 'x' } }));
    } finally {
      await c.close();
    }
    const r = await rawPost(`${proxy.url}/dead_only/mcp`, INIT_BODY.replace('"id":1', '"id":"init-9"'));
    assert.equal(r.status, 502);
    const body = (await r.json()) as { id: unknown; error: { data?: { code?: string } } };
    assert.equal(body.id, 'init-9');
    assert.equal(body.error.data?.code, 'E_UPSTREAM_CONNECT');
  });

  it('a member lost while the session lives is initialized again on a later use', async () => {
    const back = await startStreamableUpstream({ enableJsonResponse: true });
    const port = Number(new URL(back.url).port);
    const yaml = `listen: { host: 127.0.0.1, port: 0 }\nworkers: 1\nlog_level: silent\nvirtual_servers:\n  pair: { destinations: [cnt, back] }\ndestinations:\n` +
      stdioCounterYaml('cnt', counterServerPath()) + httpYaml('back', back.url);
    const own = await startProxy(configFromYaml(yaml), { log: createLogger('silent', {}) });
    let again: SdkUpstream | undefined;
    const c = await connectStreamable(`${own.url}/pair/mcp`);
    try {
      assert.equal(await callText(c.client, 'back__echo', { text: 'one' }), 'one');
      await back.close();
      again = await startStreamableUpstream({ enableJsonResponse: true, port });
      // The restarted upstream does not know the old session (404): the member is lost, then
      // re-initialized with the client's initialize on a later use (at most every 2 s).
      await waitFor(async () => (await c.client.listTools()).tools.some((t) => t.name === 'back__echo') &&
        (await callText(c.client, 'back__echo', { text: 'two' }).catch(() => '')) === 'two', 15_000, 'member back');
      assert.equal(await callText(c.client, 'cnt__increment'), '1', 'the other member kept its session');
    } finally {
      await c.close();
      await own.close();
      await again?.close();
    }
  });

  it('a client frame nested deeper than JSON.stringify can go answers 400 with its id; the session keeps working', async () => {
    const c = await connectStreamable(`${proxy.url}/team/mcp`);
    try {
      const sid = c.sessionId() ?? '';
      const depth = 300_000;
      const body = `{"jsonrpc":"2.0","id":"deep-1","method":"tools/call","params":{"name":"web__echo","arguments":{"text":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
      const r = await rawPost(`${proxy.url}/team/mcp`, body, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
      assert.equal(r.status, 400);
      const err = (await r.json()) as { id: unknown; error: { code: number } };
      assert.equal(err.id, 'deep-1');
      assert.equal(err.error.code, -32600);
      assert.equal(await callText(c.client, 'web__echo', { text: 'still here' }), 'still here');
    } finally {
      await c.close();
    }
  });

  it('an unknown name still answers 404; a virtual name is served', async () => {
    const r = await rawPost(`${proxy.url}/nobody/mcp`, '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    assert.equal(r.status, 404);
    await r.text();
  });

  // Last: it reloads the proxy's config.
  it('a reload that changes a member connection ends the virtual server sessions; others keep theirs', async () => {
    const team = await connectStreamable(`${proxy.url}/team/mcp`);
    const paged = await connectStreamable(`${proxy.url}/paged/mcp`);
    try {
      assert.equal(await callText(team.client, 'cnt__increment'), '1');
      assert.equal(await callText(paged.client, 'pg__page_0'), 'page_0');
      const changed = destsYaml.replace(old.url, old.url.replace('/sse', '/sse?v=2'));
      assert.notEqual(changed, destsYaml);
      const r = await proxy.reload(configFromYaml(`listen: { host: 127.0.0.1, port: 0 }\nworkers: 2\nlog_level: silent\n${VIRTUAL}\ndestinations:\n${changed}`));
      assert.ok(r.evicted.includes('old') && r.evicted.includes('team'), `evicted ${r.evicted.join(',')}`);
      assert.ok(!r.evicted.includes('paged'));
      await assert.rejects(team.client.listTools(), /404|not found/i);
      assert.equal(await callText(paged.client, 'pg__page_1'), 'page_1');
    } finally {
      await team.close().catch(() => undefined);
      await paged.close();
    }
  });
});
