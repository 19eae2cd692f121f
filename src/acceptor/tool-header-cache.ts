/**
 * The x-mcp-header specs the acceptor knows per destination a 2026 client reaches, learned from
 * pass-through and B1-bridged `tools/list` results (workers send ToMain.ToolHeaders;
 * upstream/tool-list-tap.ts, bridge-sessions.ts), so a tools/call's
 * `Mcp-Param-*` headers are checked against its arguments before routing (streamable-http-2026.ts).
 * It lives on the main thread: the list may go through one worker and the call through another.
 *
 * Bounded: one entry per configured destination (Core checks the name), at most
 * MAX_TOOLS_PER_DEST tools each, and only tools that mirror at least one parameter are kept (a
 * tool with none needs no lookup result). A first page of tools/list replaces the destination's
 * entries as a whole (tools the upstream dropped go with it); a later page (`cursor`) adds to them.
 * A reload that changes or removes the destination forgets it: the new upstream must be listed again.
 *
 * What is not here is not checked: before any tools/list (or for a tool it did not list) a call
 * is forwarded as before and the 2026 upstream validates its own headers (a bridged session-era
 * upstream does not know them: its calls are checked only once the proxy saw the tool listed).
 */
import type { ProxyConfig } from '../config/types.js';
import { MAX_ARG_PATHS, MAX_ARG_PATH_DEPTH } from '../era/envelope2026.js';
import type { ParamHeaderSpec } from '../era/headers2026.js';

export const MAX_TOOLS_PER_DEST = 1024;

/** One tool's mirrored parameters, with the argument paths scanRequest2026 needs in the same order. */
export interface ToolHeaderEntry {
  readonly params: readonly ParamHeaderSpec[];
  readonly paths: readonly (readonly string[])[];
}

function entryOf(params: readonly ParamHeaderSpec[]): ToolHeaderEntry | undefined {
  // The worker built these with paramHeadersOf (already bounded); the scan's own bounds are
  // checked again so a spec the scan would refuse never turns every call of a tool into a 400.
  if (params.length === 0 || params.length > MAX_ARG_PATHS) return undefined;
  for (const p of params) {
    if (typeof p.name !== 'string' || p.path.length === 0 || p.path.length > MAX_ARG_PATH_DEPTH) return undefined;
  }
  return { params, paths: params.map((p) => p.path) };
}

export class ToolHeaderCache {
  private readonly byDest = new Map<string, Map<string, ToolHeaderEntry>>();

  /** What one tools/list result declared (`dest` must be a configured destination). */
  learn(dest: string, tools: readonly [string, readonly ParamHeaderSpec[]][], append: boolean): void {
    let m = append ? this.byDest.get(dest) : undefined;
    if (m === undefined) {
      m = new Map();
      this.byDest.set(dest, m);
    }
    for (const [name, params] of tools) {
      if (m.size >= MAX_TOOLS_PER_DEST && !m.has(name)) break;
      const e = entryOf(params);
      if (e) m.set(name, e);
      else m.delete(name);
    }
  }

  /** The mirrored parameters of `tool` on `dest`, or undefined (unknown tool: nothing to check). */
  lookup(dest: string, tool: string): ToolHeaderEntry | undefined {
    return this.byDest.get(dest)?.get(tool);
  }

  /** Tools known for `dest` (tests, operators). */
  size(dest: string): number {
    return this.byDest.get(dest)?.size ?? 0;
  }

  forget(dest: string): void {
    this.byDest.delete(dest);
  }

  /**
   * After a reload: drop destinations that are gone, changed era (pass-through <-> bridged), or point elsewhere (their
   * connection settings changed, as config/reload.ts decides eviction).
   */
  retain(prev: ProxyConfig, next: ProxyConfig): void {
    for (const dest of [...this.byDest.keys()]) {
      const a = prev.destinations[dest];
      const b = next.destinations[dest];
      if (!a || !b || a.protocol !== b.protocol || a.connectKey !== b.connectKey) this.byDest.delete(dest);
    }
  }
}
