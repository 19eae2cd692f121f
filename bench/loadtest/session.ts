/** What the worker loop needs from a downstream session, whatever its transport. */
import type { Outcome } from './jsonrpc.js';

export interface LoadSession {
  /** initialize + notifications/initialized. Throws when the session cannot be set up. */
  setup(): Promise<void>;
  /** Sends tools/call number `seq` and judges the reply. Never throws: failures are outcomes. */
  call(seq: number): Promise<Outcome>;
  /** Ends the session at the target (best effort, bounded in time). */
  close(): Promise<void>;
}

/**
 * The first few distinct failure descriptions of a thread, so a report says *why* requests failed,
 * not only how many. Bounded: a broken target must not fill memory with identical messages.
 */
export class FailureNotes {
  private readonly seen = new Map<string, number>();
  constructor(private readonly max = 8) {}

  add(message: string): void {
    const key = message.length > 200 ? message.slice(0, 200) : message;
    const n = this.seen.get(key);
    if (n !== undefined) this.seen.set(key, n + 1);
    else if (this.seen.size < this.max) this.seen.set(key, 1);
  }

  list(): string[] {
    return [...this.seen].map(([m, n]) => (n > 1 ? `${m} (×${n})` : m));
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
