/**
 * Picks the transport class for a destination. The only place that knows all of them, so adding a
 * transport touches this file and the config schema, nothing in the session layer.
 */
import type { Logger } from 'pino';
import type { Destination } from '../config/types.js';
import { ModernUpstream } from './modern-upstream.js';
import { SseClient } from './sse-client.js';
import { StdioChild } from './stdio-child.js';
import { StreamableHttpClient } from './streamable-http-client.js';
import type { ChannelHandlers, ExchangeClient, ExchangeHandlers, MessageChannel } from './types.js';

export type Transport =
  | { kind: 'channel'; channel: MessageChannel }
  | { kind: 'exchange'; exchange: ExchangeClient };

export function createTransport(dest: Destination, handlers: ChannelHandlers & ExchangeHandlers, log: Logger): Transport {
  switch (dest.transport) {
    case 'stdio':
      return { kind: 'channel', channel: new StdioChild(dest, handlers, log) };
    case 'sse':
      return { kind: 'channel', channel: new SseClient(dest, handlers, log) };
    case 'streamable_http':
      // B2: a session-era client's session on a 2026-07-28-only upstream (modern-upstream.ts).
      if (dest.protocol === '2026') return { kind: 'exchange', exchange: new ModernUpstream(dest, handlers, log) };
      return { kind: 'exchange', exchange: new StreamableHttpClient(dest, handlers, log) };
  }
}
