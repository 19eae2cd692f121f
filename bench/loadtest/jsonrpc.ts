/**
 * What the generator sends and how it judges every reply. A request carries a unique id
 * (`session * ID_STRIDE + seq`) and an echoed text that starts with a per-request token naming its
 * session, so a reply can be wrong in three distinguishable ways: another id, another token, or
 * something that belongs to another session (crossed).
 */
import { ID_STRIDE } from './options.js';

export const PROTOCOL_VERSION = '2025-11-25';

/** Outcome of one request; the numeric values index the counter arrays. */
export const Outcome = {
  Ok: 0,
  Error: 1,
  Lost: 2,
  WrongId: 3,
  WrongToken: 4,
  Crossed: 5,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];
export const OUTCOME_COUNT = 6;
export const OUTCOME_NAMES: readonly string[] = ['ok', 'error', 'lost', 'wrong id', 'wrong token', 'crossed session'];

export interface JsonRpcReply {
  id?: unknown;
  result?: { content?: { text?: unknown }[]; protocolVersion?: unknown };
  error?: { code?: unknown; message?: unknown };
  method?: unknown;
}

export function initializeBody(id: number): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mithril-loadgen', version: '1.0.0' },
    },
  });
}

export const INITIALIZED_NOTIFICATION = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

/**
 * Builds the tools/call bodies of one session. The constant parts (prefix, padding) are made once;
 * each request costs a few string concatenations.
 */
export class EchoRequests {
  readonly session: number;
  private readonly tag: string;
  private readonly pad: string;
  private readonly padFor: number;

  constructor(session: number, payload: number) {
    this.session = session;
    this.tag = `tok:s${session}:`;
    // Tokens are `tok:s<session>:<seq>:`; pad the text to `payload` bytes assuming a 9-digit seq.
    this.padFor = payload;
    this.pad = 'x'.repeat(Math.max(0, payload - this.tag.length - 10));
  }

  id(seq: number): number {
    return this.session * ID_STRIDE + seq;
  }

  /** The text the target must echo back for request `seq`. */
  text(seq: number): string {
    const head = this.tag + seq + ':';
    const fill = this.padFor - head.length;
    if (fill <= 0) return head;
    return head + (fill <= this.pad.length ? this.pad.slice(0, fill) : this.pad + 'x'.repeat(fill - this.pad.length));
  }

  body(seq: number, text: string): string {
    return (
      '{"jsonrpc":"2.0","id":' +
      this.id(seq) +
      ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"' +
      text +
      '"}}}'
    );
  }

  /** The same call as a 2026-07-28 request: self-describing through the required `params._meta`. */
  body2026(seq: number, text: string): string {
    return (
      '{"jsonrpc":"2.0","id":' +
      this.id(seq) +
      ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"' +
      text +
      '"},' +
      META_2026 +
      '}}'
    );
  }
}

export const PROTOCOL_VERSION_2026 = '2026-07-28';
const META_2026 =
  `"_meta":{"io.modelcontextprotocol/protocolVersion":"${PROTOCOL_VERSION_2026}",` +
  '"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mithril-loadgen","version":"1.0.0"}}';

/** Which session an echoed text or id belongs to (-1: not one of ours). */
function sessionOfText(text: string): number {
  const m = /^tok:s(\d+):/.exec(text);
  return m === null ? -1 : Number(m[1]);
}

/** Judges a parsed reply against the request it answers. */
export function judgeReply(reply: JsonRpcReply, session: number, id: number, text: string): Outcome {
  if (reply.id !== id) {
    if (typeof reply.id === 'number' && Math.floor(reply.id / ID_STRIDE) !== session) return Outcome.Crossed;
    return Outcome.WrongId;
  }
  if (reply.error !== undefined) return Outcome.Error;
  const got = reply.result?.content?.[0]?.text;
  if (got === text) return Outcome.Ok;
  if (typeof got === 'string') {
    const other = sessionOfText(got);
    if (other !== -1 && other !== session) return Outcome.Crossed;
  }
  return Outcome.WrongToken;
}
