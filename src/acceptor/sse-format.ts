/**
 * Server-sent event framing for JSON-RPC messages.
 *
 * A pretty-printed upstream may send JSON containing raw line breaks (only between tokens: a raw
 * break inside a JSON string is invalid JSON). SSE ends a field at CR, LF or CRLF, so every line
 * becomes its own `data:` field and the receiver rejoins them with LF, giving equivalent JSON.
 */
import { ErrorCode, ProxyError } from '../errors.js';

const MESSAGE_HEAD = 'event: message\n';
const MESSAGE_HEAD_ID = 'event: message\nid: ';
const ENDPOINT_HEAD = 'event: endpoint\ndata: ';
const DATA = 'data: ';
const DATA_SEP = '\ndata: ';
const END = '\n\n';
const LINE_BREAK = /\r\n|\r|\n/g;
const HAS_BREAK = /[\r\n]/;

/** A comment line: keeps idle proxies and load balancers from closing the stream. */
export const SSE_KEEPALIVE = ': keepalive\n\n';

/** `data:` lines for `text`, one per line of it (CRLF, CR and LF all end a line in SSE). */
function dataLines(text: string): string {
  if (!HAS_BREAK.test(text)) return DATA + text;
  return DATA + text.replace(LINE_BREAK, DATA_SEP);
}

/** One `message` event; `eventId` (proxy-minted, for Last-Event-ID resumption) is optional. */
export function sseEvent(json: string, eventId?: string): string {
  if (eventId === undefined) return MESSAGE_HEAD + dataLines(json) + END;
  // A line break in the id would end the field early and let the rest forge fields.
  if (HAS_BREAK.test(eventId)) throw new ProxyError(ErrorCode.Internal, 'SSE event id contains a line break');
  return MESSAGE_HEAD_ID + eventId + '\n' + dataLines(json) + END;
}

/** The first event of a legacy HTTP+SSE stream: where the client must POST its messages. */
export function sseEndpointEvent(url: string): string {
  if (HAS_BREAK.test(url)) throw new ProxyError(ErrorCode.Internal, 'SSE endpoint URL contains a line break');
  return ENDPOINT_HEAD + url + END;
}
