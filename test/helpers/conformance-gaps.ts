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

/** A stdio upstream's reply is a single message the proxy answers as application/json. */
const JSON_REPLY = 'through a stdio upstream the proxy answers each POST with application/json (allowed by the spec), '
  + 'so the SSE checks of this scenario (priming event with id, `retry:`, multiple SSE streams) are not applicable '
  + '(INFO) instead of run';
const JSON_REPLY_ISSUE = 'by design, not a defect: a stdio reply is one message, answered as JSON (no SSE framing per call); '
  + 'server messages during a call turn the reply into an SSE stream with event ids (test/proxy-resume.test.ts)';

export const KNOWN_GAPS: readonly KnownGap[] = [
  { scenario: 'server-sse-polling', path: 'stdio', reason: JSON_REPLY, issue: JSON_REPLY_ISSUE },
  { scenario: 'server-sse-multiple-streams', path: 'stdio', reason: JSON_REPLY, issue: JSON_REPLY_ISSUE },
];

export function knownGap(scenario: string, path: ConformancePath): KnownGap | undefined {
  return KNOWN_GAPS.find((g) => g.scenario === scenario && g.path === path);
}
