/**
 * The answers a virtual server composes from its members' answers: initialize and the lists.
 * Inputs are member responses (upstream bodies, bounded by the transports' reply limits) parsed
 * with JSON.parse; only the fields this file names are rebuilt, every item passes otherwise as is.
 */
import { readFileSync } from 'node:fs';
import { MAX_TOOL_NAME, prefixed, virtualUri } from './names.js';

export type Json = Record<string, unknown>;

export function asObject(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const SERVER_INFO = { name: 'mithril-proxy', version: readVersion() };

export interface MemberInit {
  member: string;
  result: Json;
}

/**
 * Capabilities: a capability is offered when any member offers it; its boolean flags
 * (listChanged, subscribe) are true when any member's is. protocolVersion: the client's if every
 * member accepted it, else the lowest any member chose (dated versions sort as text), so every
 * member can speak it.
 */
export function mergeInitialize(inits: MemberInit[], requested: string): Json {
  const capabilities: Json = {};
  const instructions: string[] = [];
  const versions: string[] = [];
  for (const { member, result } of inits) {
    const caps = asObject(result.capabilities) ?? {};
    for (const [k, v] of Object.entries(caps)) {
      const sub = asObject(v);
      if (sub === undefined) continue;
      const into = (asObject(capabilities[k]) ?? {});
      for (const [sk, sv] of Object.entries(sub)) {
        if (typeof sv === 'boolean') into[sk] = into[sk] === true || sv;
        else if (!(sk in into)) into[sk] = sv;
      }
      capabilities[k] = into;
    }
    if (typeof result.instructions === 'string' && result.instructions !== '') instructions.push(`[${member}] ${result.instructions}`);
    if (typeof result.protocolVersion === 'string') versions.push(result.protocolVersion);
  }
  const protocolVersion = versions.every((v) => v === requested) ? requested : [...versions].sort()[0] ?? requested;
  const out: Json = { protocolVersion, capabilities, serverInfo: SERVER_INFO };
  if (instructions.length > 0) out.instructions = instructions.join('\n\n');
  return out;
}

/** The list methods a virtual server merges, the result key holding the items, and how an item is renamed. */
export const LISTS = {
  'tools/list': { key: 'tools', field: 'name' },
  'prompts/list': { key: 'prompts', field: 'name' },
  'resources/list': { key: 'resources', field: 'uri' },
  'resources/templates/list': { key: 'resourceTemplates', field: 'uriTemplate' },
} as const;
export type ListMethod = keyof typeof LISTS;

export function isListMethod(m: string): m is ListMethod {
  return Object.hasOwn(LISTS, m);
}

/**
 * One member's page, renamed. `keep` decides on the prefixed name (tool filters); a tool whose
 * prefixed name is too long for strict clients is dropped and reported through `dropped`.
 */
export function renameItems(method: ListMethod, member: string, result: Json, keep: (name: string) => boolean, dropped: (name: string) => void): Json[] {
  const { key, field } = LISTS[method];
  const items = Array.isArray(result[key]) ? (result[key] as unknown[]) : [];
  const out: Json[] = [];
  for (const raw of items) {
    const item = asObject(raw);
    const v = item?.[field];
    if (item === undefined || typeof v !== 'string') continue;
    const renamed = field === 'name' ? prefixed(member, v) : virtualUri(member, v);
    if (method === 'tools/list' && renamed.length > MAX_TOOL_NAME) {
      dropped(renamed);
      continue;
    }
    if (method === 'tools/list' && !keep(renamed)) continue;
    out.push({ ...item, [field]: renamed });
  }
  return out;
}

/** resources/read: each content's `uri` back into the virtual scheme (nothing else changes). */
export function renameContents(member: string, result: Json): Json {
  if (!Array.isArray(result.contents)) return result;
  const contents = (result.contents as unknown[]).map((c) => {
    const o = asObject(c);
    return o && typeof o.uri === 'string' ? { ...o, uri: virtualUri(member, o.uri) } : c;
  });
  return { ...result, contents };
}
