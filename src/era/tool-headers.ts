/**
 * The `Mcp-Param-*` headers a tool declares: its inputSchema's `x-mcp-header` annotations
 * (server/tools "x-mcp-header", streamable-http "Schema Extension"). The proxy learns them from the
 * upstream's tools/list and uses them to check a tools/call's headers against its arguments.
 *
 * A valid annotation: non-empty RFC 9110 token, unique case-insensitively within the schema, on a
 * property of type string, integer or boolean, reachable from the root through `properties` keys
 * only. An annotation anywhere else (under items, oneOf, $ref, ...) makes the whole tool invalid;
 * clients drop such tools, so the proxy does too (it cannot check what it cannot map).
 *
 * The walk is iterative with an explicit, bounded stack: schemas come from upstreams, and the
 * proxy recurses on nobody's data.
 */
import type { ParamHeaderSpec } from './headers2026.js';
import { isFieldName } from '../upstream/h1/headers.js';

/** Bounds on one schema walk; a schema past them is treated as invalid for header purposes. */
export const MAX_SCHEMA_NODES = 10_000;
export const MAX_PROPERTY_DEPTH = 16;
export const MAX_PARAM_HEADERS = 64;

export type ToolHeaders = { ok: true; params: ParamHeaderSpec[] } | { ok: false; reason: string };

interface Item {
  node: unknown;
  /** The properties chain when this node is reachable through `properties` only; null otherwise. */
  path: string[] | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Mirrored parameters of one tool's inputSchema, or why the tool must be treated as invalid. */
export function paramHeadersOf(inputSchema: unknown): ToolHeaders {
  const params: ParamHeaderSpec[] = [];
  const seenNames = new Set<string>();
  const stack: Item[] = [{ node: inputSchema, path: [] }];
  let nodes = 0;
  while (stack.length > 0) {
    const { node, path } = stack.pop() as Item;
    if (++nodes > MAX_SCHEMA_NODES) return { ok: false, reason: 'schema too large' };
    if (Array.isArray(node)) {
      for (const v of node) if (typeof v === 'object' && v !== null) stack.push({ node: v, path: null });
      continue;
    }
    if (!isObject(node)) continue;
    if (Object.hasOwn(node, 'x-mcp-header')) {
      const name = node['x-mcp-header'];
      if (path === null || path.length === 0) return { ok: false, reason: 'x-mcp-header on a property not reachable through properties' };
      if (typeof name !== 'string' || !isFieldName(name)) return { ok: false, reason: 'x-mcp-header is not an HTTP token' };
      const lower = name.toLowerCase();
      if (seenNames.has(lower)) return { ok: false, reason: `x-mcp-header "${name}" is not unique` };
      seenNames.add(lower);
      const type = node.type;
      if (type !== 'string' && type !== 'integer' && type !== 'boolean') {
        return { ok: false, reason: `x-mcp-header "${name}" is on a property that is not string, integer or boolean` };
      }
      if (params.length >= MAX_PARAM_HEADERS) return { ok: false, reason: 'too many x-mcp-header annotations' };
      params.push({ name, path, type });
    }
    for (const [key, value] of Object.entries(node)) {
      if (typeof value !== 'object' || value === null) continue;
      if (key === 'properties' && isObject(value) && path !== null) {
        if (path.length >= MAX_PROPERTY_DEPTH) return { ok: false, reason: 'properties nested too deep' };
        for (const [prop, sub] of Object.entries(value)) stack.push({ node: sub, path: [...path, prop] });
      } else {
        // Anything else (items, oneOf, $defs, ...) leaves the statically reachable part.
        stack.push({ node: value, path: null });
      }
    }
  }
  // Stable order (schema order is not guaranteed by the stack walk): by header name.
  params.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ok: true, params };
}
