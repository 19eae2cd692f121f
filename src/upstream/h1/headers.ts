/**
 * Request headers rendered once into their wire form. A session's POST headers change only when
 * it learns its session id or protocol version, so they are validated and rendered then, not per
 * request; a request adds only its own lines (the trace) to the block.
 */
import { H1Error, H1ErrorCode } from './errors.js';

/** RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Field values: visible ASCII, space and tab; never CR, LF or NUL (no header injection). obs-text
 * (bytes 0x80-0xff) is refused too, so a head is ASCII and goes out in one write with its body.
 */
const VALUE = /^[\t\x20-\x7e]*$/;
/** Framing is the client's own business: a caller must not set these (nor may the config). */
export const CLIENT_OWNED_HEADERS: readonly string[] = ['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'te'];
const RESERVED = new Set(CLIENT_OWNED_HEADERS);

export class HeaderBlock {
  private constructor(
    /** `name: value\r\n` lines. */
    readonly text: string,
  ) {}

  /** Validate and render `headers`; throws H1Error for a name or value that cannot be sent. */
  static from(headers: Readonly<Record<string, string>>): HeaderBlock {
    let text = '';
    for (const name of Object.keys(headers)) {
      const value = headers[name] as string;
      checkHeader(name, value);
      text += `${name}: ${value}\r\n`;
    }
    return new HeaderBlock(text);
  }

  /** This block plus already-validated lines (see `line`). */
  plus(lines: string): HeaderBlock {
    return lines.length === 0 ? this : new HeaderBlock(this.text + lines);
  }
}

/** True when `name` is an RFC 9110 token, i.e. can be sent as a header name. */
export function isFieldName(name: string): boolean {
  return TOKEN.test(name);
}

/** True when `value` can be sent as a header value (the config checks configured ones with it). */
export function isFieldValue(value: string): boolean {
  return VALUE.test(value);
}

/** One validated `name: value\r\n` line. */
export function line(name: string, value: string): string {
  checkHeader(name, value);
  return `${name}: ${value}\r\n`;
}

function checkHeader(name: string, value: string): void {
  if (!isFieldName(name)) throw new H1Error(H1ErrorCode.InvalidHeader, `invalid header name '${name.slice(0, 64)}'`);
  if (RESERVED.has(name.toLowerCase())) throw new H1Error(H1ErrorCode.InvalidHeader, `header '${name}' is set by the HTTP client`);
  if (!isFieldValue(value)) throw new H1Error(H1ErrorCode.InvalidHeader, `invalid value for header '${name}'`);
}
