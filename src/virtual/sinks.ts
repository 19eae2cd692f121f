/**
 * The two ReplySinks a virtual session hands to member sessions:
 *  - CollectSink: for requests the proxy answers itself from several members (initialize, lists):
 *    it waits for the member's response (a JSON body, or the response event of an SSE reply) and
 *    hands any other message of that reply (a notification, a server request) to `other`.
 *  - RelaySink: for a request routed to one member (tools/call, prompts/get, ...): the client's
 *    own sink, with server requests re-identified (`mapOther`) and the final response optionally
 *    rewritten (`mapResponse`, resources/read's URIs). Flow control passes straight through.
 */
import { ErrorCode, ProxyError } from '../errors.js';
import { MsgKind, parseEnvelope } from '../upstream/jsonrpc-envelope.js';
import type { ReplySink } from '../upstream/types.js';

/** What a member answered: the response JSON text, or why there is none. */
export type Collected = { ok: true; body: string } | { ok: false; err: ProxyError };

export class CollectSink implements ReplySink {
  closed = false;
  readonly done: Promise<Collected>;
  private resolve!: (c: Collected) => void;
  private readonly other: (json: string) => void;

  constructor(other: (json: string) => void) {
    this.other = other;
    this.done = new Promise((r) => {
      this.resolve = r;
    });
  }

  private finish(c: Collected): void {
    if (this.closed) return;
    this.closed = true;
    this.resolve(c);
  }

  json(body: string): void {
    this.finish({ ok: true, body });
  }
  startStream(): void {}
  event(json: string): boolean {
    if (parseEnvelope(json).kind === MsgKind.Response) this.finish({ ok: true, body: json });
    else this.other(json);
    return true;
  }
  onResume(): void {}
  end(): void {
    this.finish({ ok: false, err: new ProxyError(ErrorCode.UpstreamProtocol, 'reply stream ended without a response') });
  }
  accepted(): void {
    this.finish({ ok: true, body: '' });
  }
  fail(err: ProxyError): void {
    this.finish({ ok: false, err });
  }
}

export class RelaySink implements ReplySink {
  private readonly inner: ReplySink;
  private readonly mapOther: (json: string) => string;
  private readonly mapResponse: (json: string) => string;
  private readonly finished: () => void;

  constructor(inner: ReplySink, mapOther: (json: string) => string, mapResponse: (json: string) => string, finished: () => void) {
    this.inner = inner;
    this.mapOther = mapOther;
    this.mapResponse = mapResponse;
    this.finished = finished;
  }

  get closed(): boolean {
    return this.inner.closed;
  }
  json(body: string): void {
    this.finished();
    this.inner.json(this.mapResponse(body));
  }
  startStream(): void {
    this.inner.startStream();
  }
  event(json: string): boolean {
    const response = parseEnvelope(json).kind === MsgKind.Response;
    if (response) this.finished();
    return this.inner.event(response ? this.mapResponse(json) : this.mapOther(json));
  }
  onResume(fn: () => void): void {
    this.inner.onResume(fn);
  }
  end(): void {
    this.finished();
    this.inner.end();
  }
  accepted(): void {
    this.finished();
    this.inner.accepted();
  }
  fail(err: ProxyError): void {
    this.finished();
    this.inner.fail(err);
  }
  onClose(fn: () => void): void {
    this.inner.onClose?.(() => {
      this.finished();
      fn();
    });
  }
}
