/**
 * One HTTP/1.1 exchange over a raw TCP socket, for requests fetch() cannot send (a chosen or
 * missing Host header, odd methods, hostile header values). Bounded: it resolves with what came
 * back when the server closes, when one full response (by Content-Length) has arrived, or at
 * `timeoutMs` (then `timedOut` is true).
 */
import { connect } from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  timedOut: boolean;
  /** The connection ended in ECONNRESET (or another socket error) before a full reply. */
  reset: boolean;
  ms: number;
}

export interface RawOptions {
  timeoutMs?: number;
  /** Done at the end of the head when there is no Content-Length (a stream), or always (HEAD). */
  head?: 'if-streaming' | 'always';
}

export function rawHttp(port: number, request: string | Buffer, timeoutOrOpts: number | RawOptions = 5000): Promise<RawReply> {
  const opts: RawOptions = typeof timeoutOrOpts === 'number' ? { timeoutMs: timeoutOrOpts } : timeoutOrOpts;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const started = Date.now();
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    let reset = false;
    const finish = (timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...parse(Buffer.concat(chunks).toString('latin1')), timedOut, reset, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (complete(Buffer.concat(chunks).toString('latin1'), opts.head)) finish(false);
    });
    sock.on('error', () => {
      reset = true;
      finish(false);
    });
    sock.on('close', () => finish(false));
  });
}

function complete(text: string, head: RawOptions['head']): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  if (head === 'always') return true;
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
  if (m === null) return head === 'if-streaming';
  return Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(m[1]);
}

function parse(text: string): Pick<RawReply, 'status' | 'headers' | 'body'> {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1];
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: status === undefined ? 0 : Number(status), headers, body: end < 0 ? '' : text.slice(end + 4) };
}

/** A request's text: `headers` in order, Content-Length added for a body, Connection: close. */
export function requestText(method: string, path: string, headers: Array<[string, string]>, body = ''): string {
  let out = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of headers) out += `${k}: ${v}\r\n`;
  if (body !== '') out += `content-length: ${Buffer.byteLength(body)}\r\n`;
  return out + 'connection: close\r\n\r\n' + body;
}
