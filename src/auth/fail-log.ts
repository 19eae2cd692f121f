/**
 * One log line per authentication failure, rate-limited: a client hammering with a bad token must
 * not turn into a disk-filling log. Past the budget lines are counted, and the count is reported on
 * the next line that gets through. Fields are ours (reason, destination, remote, client name):
 * never the token or the Authorization header.
 */
import type { Logger } from '../observability/log.js';

export interface AuthFailureFields {
  reason: string;
  dest: string;
  remote: string;
  status: number;
  client?: string;
}

export class FailureLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger | null,
    private readonly perSecond = 10,
    private readonly now: () => number = Date.now,
  ) {}

  failure(f: AuthFailureFields): void {
    if (this.log === null) return;
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    const line: Record<string, unknown> = { auth: f.reason, dest: f.dest, remote: f.remote, status: f.status };
    if (f.client !== undefined) line.client = f.client;
    if (this.suppressed > 0) {
      line.suppressed = this.suppressed;
      this.suppressed = 0;
    }
    // A missing credential is the normal first step of OAuth discovery, not an attack.
    if (f.reason === 'no credentials') this.log.info(line, 'request refused: authentication');
    else this.log.warn(line, 'request refused: authentication');
  }

  get suppressedCount(): number {
    return this.suppressed;
  }
}
