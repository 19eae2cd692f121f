/**
 * virtual_servers in the config (validation, reload) and the naming rules of src/virtual/names.ts
 * and glob.ts: the pure parts the end-to-end test relies on.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { planReload } from '../src/config/reload.js';
import { isServedName } from '../src/config/served.js';
import type { ProxyConfig } from '../src/config/types.js';
import { globToRegExp, toolFilter } from '../src/virtual/glob.js';
import { mergeInitialize } from '../src/virtual/merge.js';
import { decodeCursor, encodeCursor, memberUri, splitName, virtualUri } from '../src/virtual/names.js';

const DESTS = `destinations:
  github: { transport: streamable_http, url: "http://127.0.0.1:9001/mcp" }
  files: { transport: sse, url: "http://127.0.0.1:9002/sse" }
  my__odd: { transport: streamable_http, url: "http://127.0.0.1:9003/mcp" }
`;

function parse(virtual: string, dests = DESTS): { ok: true; config: ProxyConfig } | { ok: false; problems: string[] } {
  return parseConfigText(`${dests}${virtual}`, { source: null, baseDir: process.cwd(), env: {} });
}

function problems(virtual: string): string[] {
  const r = parse(virtual);
  if (r.ok) assert.fail('expected problems, the config was accepted');
  return r.problems;
}

describe('virtual_servers config', () => {
  it('loads members and filters; the name is served, like a destination', () => {
    const r = parse('virtual_servers:\n  team:\n    destinations: [github, files]\n    tools: { allow: ["github__*"], deny: ["*delete*"] }\n');
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.deepEqual(r.config.virtualServers.team, { name: 'team', members: ['github', 'files'], toolsAllow: ['github__*'], toolsDeny: ['*delete*'] });
    assert.ok(isServedName(r.config, 'team'));
    assert.ok(isServedName(r.config, 'github'));
    assert.ok(!isServedName(r.config, 'constructor'));
    assert.ok(!isServedName(r.config, 'nobody'));
  });

  it('a config without virtual_servers has none', () => {
    const r = parse('');
    assert.ok(r.ok);
    assert.deepEqual(Object.keys(r.config.virtualServers), []);
  });

  it('names each problem at its YAML path', () => {
    const p = problems(`virtual_servers:
  github:
    destinations: [files]
  team:
    destinations: [files, nobody, team2, my__odd, files]
    tools: { allow: ["ok*", "bad glob!"] }
  team2:
    destinations: []
  Bad_Name:
    destinations: [files]
    extra: 1
`);
    const want = [
      'virtual_servers.github: is also a destination name (they share one namespace)',
      'virtual_servers.team.destinations[1]: names no configured destination ("nobody")',
      'virtual_servers.team.destinations[2]: names a virtual server ("team2"); members must be destinations',
      'virtual_servers.team.destinations[3]: contains "__", the member separator of prefixed names',
      'virtual_servers.team.destinations[4]: names "files" twice',
      'virtual_servers.team.tools.allow[1]: must be a glob of letters, digits, _ - * ?',
      'virtual_servers.team2.destinations: must name at least one destination',
      'virtual_servers.Bad_Name: is not a valid virtual server name (must match ^[a-z0-9][a-z0-9_-]{0,62}$)',
      'virtual_servers.Bad_Name.extra: unknown key',
    ];
    for (const w of want) assert.ok(p.includes(w), `missing "${w}" in:\n${p.join('\n')}`);
  });

  it('reload evicts a virtual server whose member changed, or whose members changed, not an untouched one', () => {
    const v = 'virtual_servers:\n  a: { destinations: [github] }\n  b: { destinations: [files] }\n  c: { destinations: [files] }\n';
    const cur = parse(v);
    const next = parse(
      'virtual_servers:\n  a: { destinations: [github] }\n  b: { destinations: [files] }\n  c: { destinations: [files, github] }\n',
      DESTS.replace('9001', '9011'),
    );
    assert.ok(cur.ok, cur.ok ? '' : cur.problems.join('\n'));
    assert.ok(next.ok, next.ok ? '' : next.problems.join('\n'));
    const plan = planReload(cur.config, next.config);
    // github's url changed -> github and a (its member) go; c's member list changed -> c goes; b stays.
    assert.deepEqual([...plan.evict].sort(), ['a', 'c', 'github']);
  });
});

describe('virtual names', () => {
  it('splits at the first separator; the member part never contains one', () => {
    assert.deepEqual(splitName('github__create__issue'), { member: 'github', name: 'create__issue' });
    assert.equal(splitName('github_create'), undefined);
    assert.equal(splitName('__x'), undefined);
    assert.equal(splitName('github__'), undefined);
  });

  it('URIs and templates round-trip verbatim', () => {
    for (const uri of ['file:///a/b%20c.txt', 'note://{name}', 'https://x.example/?q=1#f']) {
      const v = virtualUri('files', uri);
      assert.ok(v.startsWith('mithril+member://files/'));
      assert.deepEqual(memberUri(v), { member: 'files', uri });
    }
    assert.equal(memberUri('file:///etc/passwd'), undefined);
    assert.equal(memberUri('mithril+member:///x'), undefined);
  });

  it('cursors round-trip and anything not minted here is refused', () => {
    const c: Array<[number, string]> = [[0, 'abc'], [2, '']];
    assert.deepEqual(decodeCursor(encodeCursor(c), 3), c);
    for (const bad of ['', 'not base64 !', Buffer.from('{}').toString('base64url'), encodeCursor([[3, 'x']]), encodeCursor([[0, 'a'], [1, 'b'], [2, 'c'], [0, 'd']]),
      Buffer.from('[[0.5,"x"]]').toString('base64url'), Buffer.from('[[0,1]]').toString('base64url'), 'x'.repeat(70_000)]) {
      assert.equal(decodeCursor(bad, 3), undefined, `refused: ${bad.slice(0, 40)}`);
    }
  });

  it('globs: * and ? only, anchored, everything else literal; deny wins', () => {
    assert.ok(globToRegExp('git*').test('github__x'));
    assert.ok(!globToRegExp('git*').test('xgithub'));
    assert.ok(globToRegExp('a?c').test('abc'));
    assert.ok(!globToRegExp('a?c').test('abbc'));
    assert.ok(!globToRegExp('a-c').test('abc'));
    const keep = toolFilter({ name: 't', members: [], toolsAllow: ['github__*', 'files__read*'], toolsDeny: ['*delete*'] });
    assert.ok(keep('github__list'));
    assert.ok(keep('files__read_file'));
    assert.ok(!keep('files__write_file'));
    assert.ok(!keep('github__delete_repo'));
    assert.ok(toolFilter({ name: 't', members: [], toolsAllow: [], toolsDeny: [] })('anything'));
  });
});

describe('merged initialize', () => {
  it('offers what any member offers, joins instructions by member, answers as the proxy', () => {
    const r = mergeInitialize([
      { member: 'a', result: { protocolVersion: '2025-06-18', capabilities: { tools: { listChanged: false }, logging: {} }, instructions: 'use a', serverInfo: { name: 'A', version: '1' } } },
      { member: 'b', result: { protocolVersion: '2025-06-18', capabilities: { tools: { listChanged: true }, resources: { subscribe: true } }, serverInfo: { name: 'B', version: '1' } } },
      { member: 'c', result: { protocolVersion: '2025-06-18', capabilities: {}, instructions: 'use c' } },
    ], '2025-06-18');
    assert.deepEqual(r.capabilities, { tools: { listChanged: true }, logging: {}, resources: { subscribe: true } });
    assert.equal(r.instructions, '[a] use a\n\n[c] use c');
    assert.equal((r.serverInfo as { name: string }).name, 'mithril-proxy');
    assert.equal(r.protocolVersion, '2025-06-18');
  });

  it('a member that chose an older version makes the lowest common one the answer', () => {
    const r = mergeInitialize([
      { member: 'a', result: { protocolVersion: '2025-06-18', capabilities: {} } },
      { member: 'b', result: { protocolVersion: '2025-03-26', capabilities: {} } },
    ], '2025-06-18');
    assert.equal(r.protocolVersion, '2025-03-26');
    assert.equal(r.instructions, undefined);
  });
});
