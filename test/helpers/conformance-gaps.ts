/**
 * Where the proxy's conformance results differ from the reference server's own (direct) results.
 * test/conformance.test.ts asserts that every path equals direct, scenario by scenario, except
 * for these entries — and that each of these still differs, so a fix fails the test until its
 * entry is removed here. Nothing is skipped: a gap is a tested, documented difference.
 */
export type ConformancePath = 'http' | 'stdio' | 'client-via-proxy';

export interface KnownGap {
  scenario: string;
  path: ConformancePath;
  /** What goes wrong through the proxy, as measured. */
  reason: string;
  /** The issue-8 item that owns the fix. */
  issue: string;
  /**
   * A race, not a certainty: the scenario passes on some runs. The test then re-runs it until
   * it differs from direct (at most INTERMITTENT_TRIES runs). Gaps with the same `cause` are one
   * defect seen through several scenarios: once one of them shows it, the others stop re-running,
   * and the test fails only if none of them showed it.
   */
  intermittent?: true;
  cause?: string;
}

export const INTERMITTENT_TRIES = 10;

/**
 * The reference server sends these requests with `server.request()` and no related request id,
 * so its SDK transport writes them to the standalone GET stream — dropped (kept only in its
 * event store) when no GET stream is open yet. Direct, the SDK client's GET is open by the time
 * the tool runs; through the proxy the upstream GET opens only after the client's GET has reached
 * the proxy and its worker, and the tools/call often gets there first: the call then never ends.
 */
const STANDALONE_RACE = 'the server request (sent on the standalone GET stream, not tied to the call) races the proxy '
  + 'opening the upstream GET stream; when the tools/call reaches the upstream first the request is dropped '
  + 'upstream and the call never ends (timed out); stdio has no such stream and passes';
const STANDALONE_ISSUE = 'issue 8 items 1–2 and "every server→client message reaches the owning client"';

/** A stdio upstream's reply is a single message the proxy answers as application/json. */
const JSON_REPLY = 'through a stdio upstream the proxy answers each POST with application/json (allowed by the spec), '
  + 'so the SSE checks of this scenario (priming event with id, `retry:`, multiple SSE streams) are not applicable '
  + '(INFO) instead of run';
const JSON_REPLY_ISSUE = 'issue 8 "resumability on both sides" (downstream event ids and priming)';

export const KNOWN_GAPS: readonly KnownGap[] = [
  { scenario: 'tools-call-sampling', path: 'http', reason: STANDALONE_RACE, issue: STANDALONE_ISSUE, intermittent: true, cause: 'standalone-race' },
  { scenario: 'tools-call-elicitation', path: 'http', reason: STANDALONE_RACE, issue: STANDALONE_ISSUE, intermittent: true, cause: 'standalone-race' },
  { scenario: 'elicitation-sep1034-defaults', path: 'http', reason: STANDALONE_RACE, issue: STANDALONE_ISSUE, intermittent: true, cause: 'standalone-race' },
  { scenario: 'elicitation-sep1330-enums', path: 'http', reason: STANDALONE_RACE, issue: STANDALONE_ISSUE, intermittent: true, cause: 'standalone-race' },
  { scenario: 'server-sse-polling', path: 'stdio', reason: JSON_REPLY, issue: JSON_REPLY_ISSUE },
  { scenario: 'server-sse-multiple-streams', path: 'stdio', reason: JSON_REPLY, issue: JSON_REPLY_ISSUE },
];

export function knownGap(scenario: string, path: ConformancePath): KnownGap | undefined {
  return KNOWN_GAPS.find((g) => g.scenario === scenario && g.path === path);
}
