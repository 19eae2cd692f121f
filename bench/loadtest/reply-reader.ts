/**
 * Reads the reply to one Streamable HTTP POST: a JSON body, or an SSE stream whose event carrying the
 * response to our id is the reply. The SSE case resolves as soon as that event arrives (the latency a
 * client sees) and keeps draining the rest in the background, so a server that holds the stream open
 * after the response does not stall the measurement, and the connection is reused once it ends.
 */
import type { Readable } from 'node:stream';
import { createParser } from 'eventsource-parser';
import type { JsonRpcReply } from './jsonrpc.js';

export interface ReadReply {
  /** The response to `id`; else the first response to another id; undefined when there was none. */
  reply: JsonRpcReply | undefined;
  /** The start of the body, for failure notes. */
  snippet: string;
}

export function readReply(contentType: string | undefined, body: Readable & { text(): Promise<string> }, id: number): Promise<ReadReply> {
  if (contentType === undefined || !contentType.includes('text/event-stream')) {
    return body.text().then((text) => ({
      reply: text.length === 0 ? undefined : (JSON.parse(text) as JsonRpcReply),
      snippet: text.slice(0, 160),
    }));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    let other: JsonRpcReply | undefined;
    let snippet = '';
    const decoder = new TextDecoder();
    const parser = createParser({
      onEvent(ev) {
        if (settled || (ev.event !== undefined && ev.event !== 'message') || ev.data.length === 0) return;
        if (snippet.length === 0) snippet = ev.data.slice(0, 160);
        let msg: JsonRpcReply;
        try {
          msg = JSON.parse(ev.data) as JsonRpcReply;
        } catch {
          return; // not a JSON-RPC message: if nothing else comes, the request is lost, not ok
        }
        if (msg.method !== undefined) return; // a server request or notification, not our response
        if (msg.id === id) {
          settled = true;
          resolve({ reply: msg, snippet });
        } else {
          other ??= msg;
        }
      },
    });
    body.on('data', (chunk: Buffer) => parser.feed(decoder.decode(chunk, { stream: true })));
    body.on('end', () => {
      parser.feed('\n\n'); // dispatch a last event the server did not terminate with a blank line
      if (settled) return;
      settled = true;
      resolve({ reply: other, snippet });
    });
    body.on('error', (err) => {
      if (settled) return; // after our response: the rest of the stream no longer matters
      settled = true;
      reject(err);
    });
  });
}
