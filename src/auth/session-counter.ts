/**
 * max_sessions per client: live sessions counted by client name. The session store reports each
 * session's start and end (`sessionOpened` / `sessionClosed`); a client with no live session has no
 * entry, so the map never holds more entries than the session table has sessions.
 */

/** Sessions end by DELETE or idle expiry; a client at its cap is told to come back after this. */
export const SESSIONS_RETRY_AFTER_S = 10;

export class SessionCounter {
  private readonly live = new Map<string, number>();

  /** 0 = the client may open one more session; otherwise the Retry-After seconds. */
  check(client: string, maxSessions: number | null): number {
    if (maxSessions === null) return 0;
    return (this.live.get(client) ?? 0) < maxSessions ? 0 : SESSIONS_RETRY_AFTER_S;
  }

  sessionOpened(client: string): void {
    this.live.set(client, (this.live.get(client) ?? 0) + 1);
  }

  sessionClosed(client: string): void {
    const n = this.live.get(client);
    if (n === undefined) return; // already counted out (a double close must not go negative)
    if (n <= 1) this.live.delete(client);
    else this.live.set(client, n - 1);
  }

  count(client: string): number {
    return this.live.get(client) ?? 0;
  }

  get clients(): number {
    return this.live.size;
  }
}
