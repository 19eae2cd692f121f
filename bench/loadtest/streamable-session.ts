/**
 * One downstream MCP session over Streamable HTTP, driven through a shared keep-alive undici pool.
 * Replies may be plain JSON or an SSE stream; either way the body is read to the end (a POST's
 * stream closes after its response) and the response to this request's id is judged.
 */
import type { Dispatcher, Pool } from 'undici';
import { ErrorCode, ProxyError } from '../../src/errors.js';
import {
  EchoRequests,
  INITIALIZED_NOTIFICATION,
  OUTCOME_NAMES,
  Outcome,
  PROTOCOL_VERSION,
  initializeBody,
  judgeReply,
  type JsonRpcReply,
} from './jsonrpc.js';
import { readReply } from './reply-reader.js';
import { errorText, type FailureNotes, type LoadSession } from './session.js';

const BASE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export class StreamableSession implements LoadSession {
  private readonly req: EchoRequests;
  private readonly path: string;
  private headers: Record<string, string> = { ...BASE_HEADERS };
  private sid: string | undefined;

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

  async setup(): Promise<void> {
    const id = this.req.id(0);
    const res = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: this.headers,
      body: initializeBody(id),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new ProxyError(ErrorCode.UpstreamStatus, `initialize: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    }
    const { reply, snippet } = await readReply(header(res.headers['content-type']), res.body, id);
    if (reply?.result === undefined) {
      throw new ProxyError(ErrorCode.UpstreamProtocol, `initialize: no result in ${snippet}`);
    }
    this.sid = header(res.headers['mcp-session-id']);
    const version = reply.result.protocolVersion;
    this.headers = {
      ...BASE_HEADERS,
      'mcp-protocol-version': typeof version === 'string' ? version : PROTOCOL_VERSION,
      ...(this.sid !== undefined ? { 'mcp-session-id': this.sid } : {}),
    };
    const note = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: this.headers,
      body: INITIALIZED_NOTIFICATION,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const noteText = await note.body.text();
    if (note.statusCode < 200 || note.statusCode >= 300) {
      throw new ProxyError(
        ErrorCode.UpstreamStatus,
        `notifications/initialized: HTTP ${note.statusCode} ${noteText.slice(0, 200)}`,
      );
    }
  }

  async call(seq: number): Promise<Outcome> {
    const id = this.req.id(seq);
    const text = this.req.text(seq);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: this.headers,
        body: this.req.body(seq, text),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      this.notes.add(`lost: ${errorText(err)}`);
      return Outcome.Lost;
    }
    const status = res.statusCode;
    const contentType = header(res.headers['content-type']);
    if (status < 200 || status >= 300) {
      const body = await res.body.text().catch(() => '');
      this.notes.add(`error: HTTP ${status} ${body.slice(0, 160)}`);
      return Outcome.Error;
    }
    const replySid = header(res.headers['mcp-session-id']);
    if (replySid !== undefined && this.sid !== undefined && replySid !== this.sid) {
      await res.body.dump().catch(() => undefined);
      this.notes.add('crossed session: reply carries another Mcp-Session-Id');
      return Outcome.Crossed;
    }
    let read: { reply: JsonRpcReply | undefined; snippet: string };
    try {
      read = await readReply(contentType, res.body, id);
    } catch (err) {
      if (err instanceof SyntaxError) {
        this.notes.add(`error: unparseable reply: ${err.message}`);
        return Outcome.Error;
      }
      this.notes.add(`lost: ${errorText(err)}`);
      return Outcome.Lost;
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
    if (this.sid === undefined) return;
    try {
      const res = await this.pool.request({
        path: this.path,
        method: 'DELETE',
        headers: this.headers,
        headersTimeout: 2000,
        bodyTimeout: 2000,
      });
      await res.body.dump();
    } catch {
      // Best effort: the target may already be gone at the end of a run.
    }
  }
}
