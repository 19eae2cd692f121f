/**
 * What a config reload may change while serving, and what it must disrupt. Destinations are
 * compared by `connectKey` (transport, url, resolved headers, command, args, env, cwd): an equal
 * key keeps its upstream sessions, a changed or removed one loses them. Settings bound at start
 * (listen address, worker count, session table size, instance) need a restart and are kept as they were.
 * A destination's other settings (timeouts, stdio limits) are read by an upstream session when it
 * starts: a change applies to new sessions only and is reported as such. Everything else
 * (limits, log level, origins, idle and keep-alive intervals, auth) applies at once.
 */
import type { ProxyConfig } from './types.js';

export interface ReloadPlan {
  /** The config to serve from now on (start-bound fields copied from the running one). */
  next: ProxyConfig;
  /** Destinations whose upstream sessions must close: connection settings changed, or removed. */
  evict: string[];
  added: string[];
  /** Start-bound settings that differ and were NOT applied. */
  needsRestart: string[];
  /** Per-destination settings that changed and reach new upstream sessions only (YAML paths). */
  newSessionsOnly: string[];
}

export function planReload(current: ProxyConfig, incoming: ProxyConfig): ReloadPlan {
  const needsRestart: string[] = [];
  if (incoming.listen.host !== current.listen.host || incoming.listen.port !== current.listen.port) needsRestart.push('listen');
  if (incoming.workers !== current.workers) needsRestart.push('workers');
  if (incoming.maxSessions !== current.maxSessions) needsRestart.push('max_sessions');
  // Session ids are minted and checked with the instance set at start; a new one would orphan them.
  if (incoming.instance?.id !== current.instance?.id || incoming.instance?.key !== current.instance?.key) needsRestart.push('instance');
  const next: ProxyConfig = {
    ...incoming,
    listen: current.listen,
    workers: current.workers,
    maxSessions: current.maxSessions,
    instance: current.instance,
  };
  const evict: string[] = [];
  for (const [name, d] of Object.entries(current.destinations)) {
    const n = incoming.destinations[name];
    if (!n || n.connectKey !== d.connectKey) evict.push(name);
  }
  // A virtual server goes like a destination when it is removed, its members or filters change,
  // or any member is evicted: its downstream sessions hold one upstream session per member.
  const evicted = new Set(evict);
  for (const [name, v] of Object.entries(current.virtualServers)) {
    const n = incoming.virtualServers[name];
    if (!n || JSON.stringify(n) !== JSON.stringify(v) || v.members.some((m) => evicted.has(m))) evict.push(name);
  }
  const added = [
    ...Object.keys(incoming.destinations).filter((name) => !current.destinations[name]),
    ...Object.keys(incoming.virtualServers).filter((name) => !current.virtualServers[name]),
  ];
  const newSessionsOnly: string[] = [];
  for (const [name, d] of Object.entries(current.destinations)) {
    const n = incoming.destinations[name];
    if (!n || n.connectKey !== d.connectKey) continue;
    if (JSON.stringify(n.timeouts) !== JSON.stringify(d.timeouts)) newSessionsOnly.push(`destinations.${name}.timeouts`);
    if (n.transport === 'stdio' && d.transport === 'stdio' && JSON.stringify(n.stdio) !== JSON.stringify(d.stdio)) {
      newSessionsOnly.push(`destinations.${name}.stdio`);
    }
  }
  return { next, evict, added, needsRestart, newSessionsOnly };
}
