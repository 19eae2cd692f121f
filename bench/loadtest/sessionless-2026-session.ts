/**
 * A load "session" of MCP 2026-07-28 clients over Streamable HTTP: there is no session at the
 * target (no initialize, no Mcp-Session-Id, no DELETE); each tools/call carries its version in
 * `MCP-Protocol-Version` and `params._meta`, and its method and tool in `Mcp-Method`/`Mcp-Name`.
 * The session index only names the requests (ids and echoed tokens), so replies are still judged
 * per "session" like the session-era loads: the same tables compare the two paths.
 */
import type { Dispatcher, Pool } from 'undici';
import { ErrorCode, ProxyError } from '../../src/errors.js';
import { EchoRequests, OUTCOME_NAMES, Outcome, PROTOCOL_VERSION_2026, judgeReply, type JsonRpcReply } from './jsonrpc.js';
import { readReply } from './reply-reader.js';
import { errorText, type FailureNotes, type LoadSession } from './session.js';

const HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': PROTOCOL_VERSION_2026,
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export class Sessionless2026Session implements LoadSession {
  private readonly req: EchoRequests;
  private readonly path: string;

  constructor(
    private readonly pool: Pool,
    url: URL,
    readonly index: number,
    payload: number,
    private readonly timeoutMs: number,
    private readonly notes: FailureNotes,
  ) {
    this.req = new EchoRequests(index, payload);
    this.path = url.pathname + url.search;
  }

  /** Nothing to set up; one checked call (seq 0, the session-era initialize's slot) fails a wrong target early. */
  async setup(): Promise<void> {
    const outcome = await this.call(0);
    if (outcome !== Outcome.Ok) throw new ProxyError(ErrorCode.UpstreamProtocol, `2026 tools/call: ${OUTCOME_NAMES[outcome]} (${this.notes.list()[0] ?? 'no detail'})`);
  }

  async call(seq: number): Promise<Outcome> {
    const id = this.req.id(seq);
    const text = this.req.text(seq);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        path: this.path, method: 'POST', headers: HEADERS, body: this.req.body2026(seq, text),
        headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      this.notes.add(`lost: ${errorText(err)}`);
      return Outcome.Lost;
    }
    const status = res.statusCode;
    if (status < 200 || status >= 300) {
      const body = await res.body.text().catch(() => '');
      this.notes.add(`error: HTTP ${status} ${body.slice(0, 160)}`);
      return Outcome.Error;
    }
    if (res.headers['mcp-session-id'] !== undefined) {
      await res.body.dump().catch(() => undefined);
      this.notes.add('error: a 2026-07-28 reply carries Mcp-Session-Id');
      return Outcome.Error;
    }
    const contentType = header(res.headers['content-type']);
    let read: { reply: JsonRpcReply | undefined; snippet: string };
    try {
      read = await readReply(contentType, res.body, id);
    } catch (err) {
      this.notes.add(err instanceof SyntaxError ? `error: unparseable reply: ${err.message}` : `lost: ${errorText(err)}`);
      return err instanceof SyntaxError ? Outcome.Error : Outcome.Lost;
    }
    if (read.reply === undefined) {
      this.notes.add(`lost: HTTP ${status} without a response (${contentType ?? 'no content-type'})`);
      return Outcome.Lost;
    }
    const outcome = judgeReply(read.reply, this.index, id, text);
    if (outcome !== Outcome.Ok) this.notes.add(`${OUTCOME_NAMES[outcome]}: ${read.snippet}`);
    return outcome;
  }

  async close(): Promise<void> {
    // No session at the target: nothing to end.
  }
}
