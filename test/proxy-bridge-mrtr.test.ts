/**
 * B1 bridge MRTR (docs/mcp-2026-07-28.md 1.5): raw 2026-07-28 clients through a real proxy with 2
 * workers to session-era SDK servers whose tools ask for input (test/fixtures/mrtr-upstream.ts),
 * over Streamable HTTP and as a stdio child. The upstream's server request is parked on the worker
 * that owns the bridged session; the client gets `input_required` with inputRequests and a
 * proxy-minted requestState; its retry (new id, new connection) is verified by the acceptor,
 * routed to that worker, answers the upstream request, and gets the tool's result under its id.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { type MrtrHttp, startMrtrHttp } from './fixtures/mrtr-upstream.js';
import { configFromYaml } from './helpers/proxy.js';
import { body2026, headers2026, post2026 } from './helpers/raw-2026.js';
import { type ProxyHandle, startProxy } from '../src/proxy.js';

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: { code?: string } } };
type InputRequests = Record<string, { method: string; params?: { message?: string } }>;

const TOKENS: Record<string, string> = {
  alice: 'mrtr-alice-0123456789abcdef0000',
  bob: 'mrtr-bob-0123456789abcdef000000',
  carol: 'mrtr-carol-0123456789abcdef0000',
  dave: 'mrtr-dave-0123456789abcdef00000',
};
for (const [n, t] of Object.entries(TOKENS)) process.env[`MT_MRTR_${n.toUpperCase()}`] = t;
process.env.MT_MRTR_SECRET = 'mrtr-secret-0123456789abcdef0123456789';
const ELICIT = { elicitation: {} };
const stdioPath = fileURLToPath(new URL('./fixtures/mrtr-upstream.js', import.meta.url));

function yamlFor(url: string, extra = ''): string {
  return `listen: { host: 127.0.0.1, port: 0 }
workers: 2
log_level: info
${extra}
auth:
  clients:
${Object.keys(TOKENS).map((n) => `    ${n}: { token: "\${env:MT_MRTR_${n.toUpperCase()}}", destinations: ["*"] }`).join('\n')}
destinations:
  web:
    transport: streamable_http
    url: ${url}
  child:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(stdioPath)}, --stdio]
`;
}

/** The main thread's request log lines (each 2026 exchange names its worker). */
const logLines: { worker?: number; method?: string; status?: number; msg?: string }[] = [];
function captureLog(): pino.Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          logLines.push(JSON.parse(line) as (typeof logLines)[number]);
        } catch {
          // partial line: not one of ours
        }
      }
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

let upstream: MrtrHttp;
let proxy: ProxyHandle;

before(async () => {
  upstream = await startMrtrHttp();
  proxy = await startProxy(configFromYaml(yamlFor(upstream.url)), { log: captureLog() });
});
after(async () => {
  await proxy.close();
  await upstream.close();
});

interface Answer { status: number; rpc: Rpc }

async function call(base: string, dest: string, who: string, id: string | number, method: string, params: Record<string, unknown>, caps: Record<string, unknown> = ELICIT): Promise<Answer> {
  const name = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined;
  const res = await post2026(`${base}/${dest}/mcp`, body2026(id, method, params, caps), { ...headers2026(method, name), authorization: `Bearer ${TOKENS[who]}` });
  const text = await res.text();
  const json = text.startsWith('{') ? text : (text.split('\n').filter((l) => l.startsWith('data: ')).at(-1) ?? 'data: {}').slice(6);
  return { status: res.status, rpc: JSON.parse(json) as Rpc };
}

const toolText = (r: Rpc): string => (r.result?.content as { text: string }[] | undefined)?.[0]?.text ?? `no result: ${JSON.stringify(r)}`;

/** An input_required result: its one input request key/message and its token. */
function inputRound(a: Answer): { key: string; message: string; token: string; requests: InputRequests } {
  assert.equal(a.status, 200, JSON.stringify(a.rpc));
  assert.equal(a.rpc.result?.resultType, 'input_required', JSON.stringify(a.rpc));
  const requests = a.rpc.result?.inputRequests as InputRequests;
  const token = a.rpc.result?.requestState as string;
  assert.match(token, /^m1\./);
  const [key, req] = Object.entries(requests)[0]!;
  return { key, message: req.params?.message ?? '', token, requests };
}

const accept = (name: string): Record<string, unknown> => ({ action: 'accept', content: { name } });

function claimsOf(token: string): { worker: number; principal: string } {
  return JSON.parse(Buffer.from(token.slice(3, token.lastIndexOf('.')), 'base64url').toString('utf8')) as { worker: number; principal: string };
}

function flip(token: string): string {
  const i = 10;
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

for (const dest of ['web', 'child']) {
  describe(`B1 MRTR over ${dest === 'web' ? 'Streamable HTTP' : 'stdio'}`, () => {
    test('an elicitation round trip ends in the tool result under the retry id', async () => {
      const first = await call(proxy.url, dest, 'alice', 'c1', 'tools/call', { name: 'ask', arguments: { q: 'who?' } });
      assert.equal(first.rpc.id, 'c1');
      const r = inputRound(first);
      assert.equal(r.requests[r.key]?.method, 'elicitation/create');
      assert.equal(r.message, 'who?');
      const done = await call(proxy.url, dest, 'alice', 'c2', 'tools/call', {
        name: 'ask', arguments: { q: 'who?' }, inputResponses: { [r.key]: accept('Ada') }, requestState: r.token,
      });
      assert.equal(done.status, 200);
      assert.equal(done.rpc.id, 'c2', 'the rest of the call is answered under the retry id');
      assert.equal(done.rpc.result?.resultType, 'complete');
      assert.equal(toolText(done.rpc), 'answer:Ada');
    });

    test('a round its client abandoned does not take the questions of the same client\'s next call', async () => {
      // Left parked (nobody retries): its token lives for the whole TTL.
      const abandoned = inputRound(await call(proxy.url, dest, 'carol', 'a1', 'tools/call', { name: 'ask', arguments: { q: 'left behind' } }));
      assert.equal(abandoned.message, 'left behind');
      const next = inputRound(await call(proxy.url, dest, 'carol', 'a2', 'tools/call', { name: 'ask', arguments: { q: 'next one' } }));
      assert.equal(next.message, 'next one', 'the new call got its own question, not a hang');
      const done = await call(proxy.url, dest, 'carol', 'a3', 'tools/call', {
        name: 'ask', arguments: { q: 'next one' }, inputResponses: { [next.key]: accept('Cy') }, requestState: next.token,
      });
      assert.equal(toolText(done.rpc), 'answer:Cy');
    });

    test('two rounds: the tool asks twice, each round gets its own token', async () => {
      const r1 = inputRound(await call(proxy.url, dest, 'alice', 1, 'tools/call', { name: 'ask2', arguments: { q: 'x' } }));
      assert.equal(r1.message, 'x#1');
      const second = await call(proxy.url, dest, 'alice', 2, 'tools/call', { name: 'ask2', arguments: { q: 'x' }, inputResponses: { [r1.key]: accept('one') }, requestState: r1.token });
      assert.equal(second.rpc.id, 2);
      const r2 = inputRound(second);
      assert.equal(r2.message, 'x#2');
      assert.notEqual(r2.token, r1.token);
      const done = await call(proxy.url, dest, 'alice', 3, 'tools/call', { name: 'ask2', arguments: { q: 'x' }, inputResponses: { [r2.key]: accept('two') }, requestState: r2.token });
      assert.equal(done.rpc.id, 3);
      assert.equal(toolText(done.rpc), 'one+two');
    });

    test('a retry without the answer is asked again (new token); the old token is spent', async () => {
      const r1 = inputRound(await call(proxy.url, dest, 'bob', 'm1', 'tools/call', { name: 'ask', arguments: { q: 'again?' } }));
      const again = inputRound(await call(proxy.url, dest, 'bob', 'm2', 'tools/call', { name: 'ask', arguments: { q: 'again?' }, inputResponses: {}, requestState: r1.token }));
      assert.equal(again.key, r1.key, 'the same parked request');
      assert.equal(again.message, 'again?');
      assert.notEqual(again.token, r1.token);
      const replay = await call(proxy.url, dest, 'bob', 'm3', 'tools/call', { name: 'ask', arguments: { q: 'again?' }, inputResponses: { [r1.key]: accept('x') }, requestState: r1.token });
      assert.equal(replay.status, 400);
      assert.equal(replay.rpc.error?.code, -32602);
      const done = await call(proxy.url, dest, 'bob', 'm4', 'tools/call', { name: 'ask', arguments: { q: 'again?' }, inputResponses: { [again.key]: accept('Bo') }, requestState: again.token });
      assert.equal(toolText(done.rpc), 'answer:Bo');
    });

    test('a request the client did not declare: 400 -32021 with data.requiredCapabilities, the upstream call is refused and cancelled', async () => {
      const refused = upstream.stats.refused;
      const r = await call(proxy.url, dest, 'alice', 'n1', 'tools/call', { name: 'ask', arguments: { q: 'hidden' } }, {});
      assert.equal(r.status, 400, JSON.stringify(r.rpc));
      assert.equal(r.rpc.id, 'n1');
      assert.equal(r.rpc.error?.code, -32021);
      assert.deepEqual((r.rpc.error?.data as { requiredCapabilities?: unknown } | undefined)?.requiredCapabilities, { elicitation: { form: {} } });
      const s = await call(proxy.url, dest, 'alice', 'n2', 'tools/call', { name: 'sample', arguments: { q: 'hi' } }, ELICIT);
      assert.equal(s.status, 400, 'elicitation declared, sampling not');
      assert.deepEqual((s.rpc.error?.data as { requiredCapabilities?: unknown } | undefined)?.requiredCapabilities, { sampling: {} });
      // The upstream's request was refused (not left waiting): the HTTP fixture's tool saw the error.
      if (dest === 'web') {
        for (let i = 0; i < 50 && upstream.stats.refused === refused; i++) await sleep(20);
        assert.equal(upstream.stats.refused, refused + 1);
      }
      // The session still serves the next call.
      const next = inputRound(await call(proxy.url, dest, 'alice', 'n3', 'tools/call', { name: 'ask', arguments: { q: 'after' } }));
      assert.equal(next.message, 'after');
      // Answered, so no parked call of alice's stdio session takes the next test's server request.
      const done = await call(proxy.url, dest, 'alice', 'n4', 'tools/call', { name: 'ask', arguments: { q: 'after' }, inputResponses: { [next.key]: accept('A') }, requestState: next.token });
      assert.equal(toolText(done.rpc), 'answer:A');
    });

    test('two requests at once are one round; a client that declared only one of them is asked only that one', async () => {
      const SAMPLE = { role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'm' };
      const r = inputRound(await call(proxy.url, dest, 'bob', 'b1', 'tools/call', { name: 'both', arguments: { q: 'two' } }, { elicitation: {}, sampling: {} }));
      assert.deepEqual(Object.values(r.requests).map((q) => q.method).sort(), ['elicitation/create', 'sampling/createMessage']);
      const keyOf = (m: string): string => Object.entries(r.requests).find(([, q]) => q.method === m)![0];
      const done = await call(proxy.url, dest, 'bob', 'b2', 'tools/call', {
        name: 'both', arguments: { q: 'two' }, requestState: r.token,
        inputResponses: { [keyOf('elicitation/create')]: accept('E'), [keyOf('sampling/createMessage')]: SAMPLE },
      }, { elicitation: {}, sampling: {} });
      assert.equal(toolText(done.rpc), 'E|hi');
      // Sampling only: the elicitation is refused upstream, the round asks for sampling alone (no -32021).
      const s = inputRound(await call(proxy.url, dest, 'bob', 'b3', 'tools/call', { name: 'both', arguments: { q: 'one' } }, { sampling: {} }));
      assert.deepEqual(Object.values(s.requests).map((q) => q.method), ['sampling/createMessage']);
      const end = await call(proxy.url, dest, 'bob', 'b4', 'tools/call', { name: 'both', arguments: { q: 'one' }, requestState: s.token, inputResponses: { [s.key]: SAMPLE } }, { sampling: {} });
      assert.equal(toolText(end.rpc), 'no-elicit|hi');
    });

    test('a call left parked (never retried) does not take the next call\'s question', async () => {
      const first = inputRound(await call(proxy.url, dest, 'bob', 'k1', 'tools/call', { name: 'ask', arguments: { q: 'left' } }));
      assert.equal(first.message, 'left');
      const second = inputRound(await call(proxy.url, dest, 'bob', 'k2', 'tools/call', { name: 'ask', arguments: { q: 'next' } }));
      assert.equal(second.message, 'next');
      for (const [r, id, q] of [[second, 'k3', 'next'], [first, 'k4', 'left']] as const) {
        const done = await call(proxy.url, dest, 'bob', id, 'tools/call', { name: 'ask', arguments: { q }, inputResponses: { [r.key]: accept(q) }, requestState: r.token });
        assert.equal(toolText(done.rpc), `answer:${q}`);
      }
    });

    test('in-call progress reaches the client on the call with that progressToken', async () => {
      const res = await post2026(`${proxy.url}/${dest}/mcp`, body2026('p1', 'tools/call', { name: 'progress', arguments: { n: 3 }, _meta: { progressToken: 'tok-p1' } }, ELICIT), {
        ...headers2026('tools/call', 'progress'), authorization: `Bearer ${TOKENS.bob}`,
      });
      assert.equal(res.status, 200);
      const msgs = (await res.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as Rpc & { method?: string; params?: { progressToken?: unknown; progress?: number } });
      const progress = msgs.filter((m) => m.method === 'notifications/progress');
      assert.deepEqual(progress.map((m) => [m.params?.progressToken, m.params?.progress]), [['tok-p1', 1], ['tok-p1', 2], ['tok-p1', 3]], JSON.stringify(msgs));
      assert.equal(toolText(msgs.at(-1)!), 'progressed:3');
    });

    test('Mcp-Param-* of a bridged tool are checked once its tools/list went through the bridge', async () => {
      const route = (id: string, region: string, header: string): Promise<Response> => post2026(`${proxy.url}/${dest}/mcp`, body2026(id, 'tools/call', { name: 'route', arguments: { region } }, ELICIT), {
        ...headers2026('tools/call', 'route', { 'mcp-param-region': header }), authorization: `Bearer ${TOKENS.bob}`,
      });
      const list = await call(proxy.url, dest, 'bob', 'tl1', 'tools/list', {});
      assert.ok((list.rpc.result?.tools as { name: string }[]).some((t) => t.name === 'route'));
      for (let i = 0; i < 100 && proxy.core.toolHeaders.size(dest) === 0; i++) await sleep(20);
      assert.ok(proxy.core.toolHeaders.size(dest) > 0, 'the bridged tools/list taught the acceptor');
      const bad = await route('rt1', 'eu-west', 'us-east');
      assert.equal(bad.status, 400);
      const rpc = (await bad.json()) as Rpc;
      assert.equal(rpc.id, 'rt1');
      assert.equal(rpc.error?.code, -32020);
      const good = await route('rt2', 'eu-west', 'eu-west');
      assert.equal(good.status, 200);
      const text = await good.text();
      assert.match(text, /routed:eu-west/);
    });

    test('log messages only with _meta logLevel, and only at or above it', async () => {
      const logsAt = async (id: string, level?: string): Promise<{ levels: string[]; last: Rpc }> => {
        const res = await post2026(`${proxy.url}/${dest}/mcp`, body2026(id, 'tools/call', { name: 'logs', arguments: {}, ...(level ? { _meta: { 'io.modelcontextprotocol/logLevel': level } } : {}) }, ELICIT), {
          ...headers2026('tools/call', 'logs'), authorization: `Bearer ${TOKENS.bob}`,
        });
        const text = await res.text();
        const msgs = text.startsWith('{') ? [JSON.parse(text) as Rpc & { method?: string; params?: { level?: string } }] : text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as Rpc & { method?: string; params?: { level?: string } });
        return { levels: msgs.filter((m) => m.method === 'notifications/message').map((m) => m.params?.level ?? '?'), last: msgs.at(-1)! };
      };
      const none = await logsAt('lg1');
      assert.deepEqual(none.levels, []);
      assert.equal(toolText(none.last), 'logged');
      assert.deepEqual((await logsAt('lg2', 'warning')).levels, ['warning', 'error']);
      assert.deepEqual((await logsAt('lg3', 'debug')).levels, ['debug', 'info', 'warning', 'error']);
    });

    test('prompts/get parks and resumes the same way', async () => {
      const r = inputRound(await call(proxy.url, dest, 'alice', 'g1', 'prompts/get', { name: 'greet' }));
      assert.equal(r.message, 'name?');
      const done = await call(proxy.url, dest, 'alice', 'g2', 'prompts/get', { name: 'greet', inputResponses: { [r.key]: accept('Grace') }, requestState: r.token });
      assert.equal(done.rpc.id, 'g2');
      assert.equal(done.rpc.result?.resultType, 'complete');
      assert.equal((done.rpc.result?.messages as { content: { text: string } }[])[0]?.content.text, 'hello Grace');
    });

    test('resources/read parks and resumes the same way (the token is bound to the uri)', async () => {
      const uri = 'mrtr://vault';
      const r = inputRound(await call(proxy.url, dest, 'alice', 'v1', 'resources/read', { uri }));
      assert.equal(r.message, 'key?');
      const done = await call(proxy.url, dest, 'alice', 'v2', 'resources/read', { uri, inputResponses: { [r.key]: accept('K') }, requestState: r.token });
      assert.equal(done.rpc.id, 'v2');
      assert.equal(done.rpc.result?.resultType, 'complete');
      assert.equal((done.rpc.result?.contents as { text: string }[])[0]?.text, 'vault for K');
    });

    test('sampling goes through the same way', async () => {
      const r = inputRound(await call(proxy.url, dest, 'alice', 's1', 'tools/call', { name: 'sample', arguments: { q: 'hi' } }, { sampling: {} }));
      assert.equal(r.requests[r.key]?.method, 'sampling/createMessage');
      const done = await call(proxy.url, dest, 'alice', 's2', 'tools/call', {
        name: 'sample', arguments: { q: 'hi' }, requestState: r.token,
        inputResponses: { [r.key]: { role: 'assistant', content: { type: 'text', text: 'hello' }, model: 'm' } },
      }, { sampling: {} });
      assert.equal(toolText(done.rpc), 'sampled:hello');
    });
  });
}

describe('B1 MRTR: a call that streamed before it asked', () => {
  test('the notification goes out on the SSE reply, then input_required ends that stream', async () => {
    const name = 'ask';
    const res = await post2026(`${proxy.url}/web/mcp`, body2026('l1', 'tools/call', { name, arguments: { q: 'streamed', log: true }, _meta: { 'io.modelcontextprotocol/logLevel': 'info' } }, ELICIT), {
      ...headers2026('tools/call', name), authorization: `Bearer ${TOKENS.alice}`,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const msgs = (await res.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as Rpc & { method?: string });
    assert.equal(msgs.length, 2, JSON.stringify(msgs));
    assert.equal(msgs[0]?.method, 'notifications/message');
    const r = inputRound({ status: 200, rpc: msgs[1]! });
    assert.equal(msgs[1]?.id, 'l1');
    const done = await call(proxy.url, 'web', 'alice', 'l2', 'tools/call', { name, arguments: { q: 'streamed', log: true }, inputResponses: { [r.key]: accept('S') }, requestState: r.token });
    assert.equal(toolText(done.rpc), 'answer:S');
  });
});

describe('B1: replies whose first message is the response', () => {
  test("an upstream's SSE -32601 for an unknown method is answered as JSON with HTTP 404", async () => {
    const res = await post2026(`${proxy.url}/web/mcp`, body2026('u1', 'unknown/method', {}), { ...headers2026('unknown/method'), authorization: `Bearer ${TOKENS.bob}` });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const rpc = JSON.parse(await res.text()) as Rpc;
    assert.equal(rpc.id, 'u1');
    assert.equal(rpc.error?.code, -32601);
  });
});

describe('B1 MRTR: the token', () => {
  test('a forged token (one byte flipped) is refused 400 -32602 E_REQUEST_STATE_INVALID', async () => {
    const r = inputRound(await call(proxy.url, 'web', 'alice', 'f1', 'tools/call', { name: 'ask', arguments: { q: 'f' } }));
    const bad = await call(proxy.url, 'web', 'alice', 'f2', 'tools/call', { name: 'ask', arguments: { q: 'f' }, inputResponses: { [r.key]: accept('x') }, requestState: flip(r.token) });
    assert.equal(bad.status, 400);
    assert.equal(bad.rpc.id, 'f2');
    assert.equal(bad.rpc.error?.code, -32602);
    assert.equal(bad.rpc.error?.data?.code, 'E_REQUEST_STATE_INVALID');
    // The real token still works: the forgery consumed nothing.
    const ok = await call(proxy.url, 'web', 'alice', 'f3', 'tools/call', { name: 'ask', arguments: { q: 'f' }, inputResponses: { [r.key]: accept('real') }, requestState: r.token });
    assert.equal(toolText(ok.rpc), 'answer:real');
  });

  test("another principal's token is refused 400; so is a token for another tool", async () => {
    const r = inputRound(await call(proxy.url, 'web', 'alice', 'o1', 'tools/call', { name: 'ask', arguments: { q: 'o' } }));
    const bob = await call(proxy.url, 'web', 'bob', 'o2', 'tools/call', { name: 'ask', arguments: { q: 'o' }, inputResponses: { [r.key]: accept('bob') }, requestState: r.token });
    assert.equal(bob.status, 400);
    assert.equal(bob.rpc.error?.code, -32602);
    assert.match(bob.rpc.error?.message ?? '', /another client/);
    const other = await call(proxy.url, 'web', 'alice', 'o3', 'tools/call', { name: 'sample', arguments: { q: 'o' }, inputResponses: { [r.key]: accept('x') }, requestState: r.token });
    assert.equal(other.status, 400);
    assert.match(other.rpc.error?.message ?? '', /another request/);
    const ok = await call(proxy.url, 'web', 'alice', 'o4', 'tools/call', { name: 'ask', arguments: { q: 'o' }, inputResponses: { [r.key]: accept('alice') }, requestState: r.token });
    assert.equal(toolText(ok.rpc), 'answer:alice');
  });

  test('a token replayed after success is refused 400', async () => {
    const r = inputRound(await call(proxy.url, 'child', 'alice', 'r1', 'tools/call', { name: 'ask', arguments: { q: 'r' } }));
    const params = { name: 'ask', arguments: { q: 'r' }, inputResponses: { [r.key]: accept('once') }, requestState: r.token };
    assert.equal(toolText((await call(proxy.url, 'child', 'alice', 'r2', 'tools/call', params)).rpc), 'answer:once');
    const again = await call(proxy.url, 'child', 'alice', 'r3', 'tools/call', params);
    assert.equal(again.status, 400);
    assert.equal(again.rpc.id, 'r3');
    assert.equal(again.rpc.error?.code, -32602);
    assert.equal(again.rpc.error?.data?.code, 'E_REQUEST_STATE_INVALID');
  });

  test('an expired token is refused 400 E_REQUEST_STATE_EXPIRED and the upstream request is answered', async () => {
    // Also a configured secret (the other proxy uses a random key).
    const short = await startProxy(configFromYaml(yamlFor(upstream.url, 'request_state_ttl_ms: 300\nrequest_state_secret: "${env:MT_MRTR_SECRET}"')), { log: pino({ level: 'silent' }) });
    try {
      const answered = upstream.stats.answered;
      const refused = upstream.stats.refused;
      const first = await call(short.url, 'web', 'alice', 'e1', 'tools/call', { name: 'ask', arguments: { q: 'late' } });
      const r = inputRound(first);
      await sleep(600);
      const late = await call(short.url, 'web', 'alice', 'e2', 'tools/call', { name: 'ask', arguments: { q: 'late' }, inputResponses: { [r.key]: accept('late') }, requestState: r.token });
      assert.equal(late.status, 400);
      assert.equal(late.rpc.error?.code, -32602);
      assert.equal(late.rpc.error?.data?.code, 'E_REQUEST_STATE_EXPIRED');
      assert.equal(upstream.stats.answered, answered, 'the upstream never got an answer for the expired request');
      // At the TTL the proxy refused the parked request upstream: the tool saw an error, not a hang.
      for (let i = 0; i < 50 && upstream.stats.refused === refused; i++) await sleep(20);
      assert.equal(upstream.stats.refused, refused + 1);
      // The session is still usable: a new call parks again.
      inputRound(await call(short.url, 'web', 'alice', 'e3', 'tools/call', { name: 'ask', arguments: { q: 'next' } }));
    } finally {
      await short.close();
    }
  });

  test('a pass-through of the token to a non-MRTR method is refused, not forwarded', async () => {
    const r = inputRound(await call(proxy.url, 'web', 'alice', 'p1', 'tools/call', { name: 'ask', arguments: { q: 'p' } }));
    const list = await call(proxy.url, 'web', 'alice', 'p2', 'tools/list', { requestState: r.token });
    assert.equal(list.status, 400);
    assert.equal(list.rpc.error?.code, -32602);
    const ok = await call(proxy.url, 'web', 'alice', 'p3', 'tools/call', { name: 'ask', arguments: { q: 'p' }, inputResponses: { [r.key]: accept('p') }, requestState: r.token });
    assert.equal(toolText(ok.rpc), 'answer:p');
  });
});

describe('B1 MRTR: config', () => {
  test('request_state_secret must be at least 32 characters; request_state_ttl_ms defaults to 5 min', () => {
    const base = 'listen: { port: 0 }\ndestinations:\n  a: { transport: streamable_http, url: "http://127.0.0.1:1/mcp" }\n';
    assert.throws(() => configFromYaml(`request_state_secret: short\n${base}`), /request_state_secret: must be at least 32 characters/);
    const ok = configFromYaml(`request_state_secret: "${'k'.repeat(32)}"\n${base}`);
    assert.equal(ok.requestStateSecret, 'k'.repeat(32));
    assert.equal(ok.requestStateTtlMs, 300_000);
    const none = configFromYaml(base);
    assert.equal(none.requestStateSecret, null);
    assert.throws(() => configFromYaml(`request_state_ttl_ms: 0\n${base}`), /request_state_ttl_ms/);
  });
});

describe('B1 MRTR: routing and concurrency', () => {
  test('with 2 workers the retry on a new connection reaches the parking worker; two principals sit on different workers', async () => {
    const mark = logLines.length;
    // Both first calls are in flight together, so the affinity picks (least in flight) differ.
    const [c, d] = await Promise.all([
      call(proxy.url, 'web', 'carol', 'w1', 'tools/call', { name: 'ask', arguments: { q: 'carol' } }),
      call(proxy.url, 'web', 'dave', 'w1', 'tools/call', { name: 'ask', arguments: { q: 'dave' } }),
    ]);
    const rc = inputRound(c);
    const rd = inputRound(d);
    const wc = claimsOf(rc.token).worker;
    const wd = claimsOf(rd.token).worker;
    assert.notEqual(wc, wd, 'carol and dave are bridged on different workers');
    // fetch opens new connections as needed; each retry is its own request with a fresh id.
    const doneC = await call(proxy.url, 'web', 'carol', 'w2', 'tools/call', { name: 'ask', arguments: { q: 'carol' }, inputResponses: { [rc.key]: accept('C') }, requestState: rc.token });
    const doneD = await call(proxy.url, 'web', 'dave', 'w2', 'tools/call', { name: 'ask', arguments: { q: 'dave' }, inputResponses: { [rd.key]: accept('D') }, requestState: rd.token });
    assert.equal(toolText(doneC.rpc), 'answer:C');
    assert.equal(toolText(doneD.rpc), 'answer:D');
    await sleep(50);
    const served = logLines.slice(mark).filter((l) => l.msg === 'request' && l.method === 'tools/call').map((l) => l.worker);
    assert.equal(served.length, 4, JSON.stringify(served));
    assert.equal(served.filter((w) => w === wc).length, 2, 'two exchanges on carol\'s worker');
    assert.equal(served.filter((w) => w === wd).length, 2, 'two exchanges on dave\'s worker');
  });

  test('10 concurrent elicitation calls from one principal each complete with their own answer', async () => {
    const n = 10;
    const firsts = await Promise.all(Array.from({ length: n }, (_, i) => call(proxy.url, 'web', 'bob', 'k', 'tools/call', { name: 'ask', arguments: { q: `q${i}` } })));
    const rounds = firsts.map(inputRound);
    assert.deepEqual(rounds.map((r) => r.message).sort(), Array.from({ length: n }, (_, i) => `q${i}`).sort());
    const done = await Promise.all(rounds.map((r, i) => call(proxy.url, 'web', 'bob', `k${i}`, 'tools/call', {
      name: 'ask', arguments: { q: r.message }, inputResponses: { [r.key]: accept(`A-${r.message}`) }, requestState: r.token,
    })));
    for (const [i, d] of done.entries()) {
      assert.equal(d.rpc.id, `k${i}`);
      assert.equal(toolText(d.rpc), `answer:A-${rounds[i]!.message}`);
    }
  });
});
