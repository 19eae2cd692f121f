/**
 * The names the proxy serves under /NAME/...: destinations and virtual servers (one namespace,
 * schema.ts refuses a name that is both). Every route that resolves a name asks here.
 */
import type { ProxyConfig } from './types.js';

export function isServedName(config: ProxyConfig, name: string): boolean {
  return Object.hasOwn(config.destinations, name) || Object.hasOwn(config.virtualServers, name);
}
