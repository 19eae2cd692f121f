/**
 * Which destinations a credential may use. A static client or anonymous access has a fixed list; a
 * JWT has `auth.jwt.destinations` narrowed by its scopes: with `require_scope` (the default), scope
 * `<prefix><NAME>` grants NAME and `<prefix>*` grants every destination the list allows. A scope
 * can only narrow the operator's list, never widen it.
 */

/** A destinations list from the config ('*' = any) as a predicate, derived once. */
export class DestinationSet {
  private readonly any: boolean;
  private readonly names: ReadonlySet<string>;
  constructor(list: readonly string[]) {
    this.any = list.includes('*');
    this.names = new Set(list.filter((n) => n !== '*'));
  }
  has(dest: string): boolean {
    return this.any || this.names.has(dest);
  }
}

/** RFC 9068 `scope` (space-separated string) and the common `scp` (list) form, bounded. */
export function scopesOf(payload: Record<string, unknown>): ReadonlySet<string> {
  const out = new Set<string>();
  const add = (s: unknown) => {
    if (typeof s === 'string' && s.length > 0 && s.length <= 256 && out.size < 256) out.add(s);
  };
  if (typeof payload.scope === 'string') for (const s of payload.scope.slice(0, 16_384).split(' ')) add(s);
  if (Array.isArray(payload.scp)) for (const s of payload.scp.slice(0, 256)) add(s);
  return out;
}

export function scopeAllows(scopes: ReadonlySet<string>, prefix: string, dest: string): boolean {
  return scopes.has(`${prefix}*`) || scopes.has(`${prefix}${dest}`);
}
