/**
 * Tool filters of a virtual server: globs with `*` (any run, possibly empty) and `?` (exactly one
 * character), anchored at both ends, over prefixed tool names (`member__tool`). Every other
 * character is literal (schema.ts only admits [A-Za-z0-9_-*?], so nothing needs escaping beyond
 * `-`, which is literal outside a class anyway). No dependency: two wildcards do not need one.
 */
import type { VirtualServer } from '../config/types.js';

export function globToRegExp(glob: string): RegExp {
  let src = '^';
  for (const ch of glob) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`${src}$`);
}

/** Listed and callable: matches an allow glob (or there are none) and no deny glob. Deny wins. */
export function toolFilter(vs: VirtualServer): (prefixedName: string) => boolean {
  const allow = vs.toolsAllow.map(globToRegExp);
  const deny = vs.toolsDeny.map(globToRegExp);
  return (name) => (allow.length === 0 || allow.some((r) => r.test(name))) && !deny.some((r) => r.test(name));
}
