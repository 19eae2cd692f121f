/**
 * Where the 2026-07-28 conformance results (test/conformance-2026.test.ts) are not what that test
 * asserts by default: direct must pass every scenario, and every proxied path must equal direct
 * (or do strictly better than the reference). Same rule as conformance-gaps.ts: each entry is a
 * measured, documented difference that must still show, so a fix fails the test until its entry
 * is removed here. Nothing is skipped.
 */
export type Path2026 = 'direct' | 'pass' | 'b1-http' | 'b1-stdio';

export interface KnownGap2026 {
  scenario: string;
  path: Path2026;
  /** What goes wrong, as measured (the failing checks' messages, shortened). */
  reason: string;
  /** Who owns the fix: the work item (issue 10 slice) or the upstream reference server. */
  owner: string;
}

/** The reference copy predates the alpha.12 suite's per-message schema check of SSE replies. */
const NO_RESULT_TYPE = "wire-schema-valid: the reference's SSE reply to tools/call has no resultType "
  + "(\"CallToolResult: must have required property 'resultType'\"); the pass-through relays it unchanged, B1 stamps it";
const REFERENCE = 'upstream reference server (the 0.2.0-alpha.11 everything-server.ts copy: its stateless tools/call '
  + 'dispatch streams the McpServer result without resultType)';
/**
 * The pass path: an unknown MCP-Protocol-Version gets -32022 with the request id (B1 paths pass
 * both checks), but its data.supported lists every version the proxy serves on that destination
 * (the session revisions too: B2), while server/discover relays the upstream's own list.
 */
const VERSION_LIST = 'sep-2575-server-unsupported-version-error "Returned supported versions data layout does not correlate '
  + 'to active server metrics": the -32022 data.supported lists 2026-07-28 and the four session revisions (served on this '
  + 'destination through B2), while the passed-through server/discover says supportedVersions ["2026-07-28"]';
const VERSION_OWNER = 'era detection (the -32022 list is proxy-wide; a per-destination list, or a discover that adds the B2 revisions, would agree)';
/**
 * MRTR's inputRequests keys are the server's to choose; the scenarios expect the reference's own
 * (`user_name`). A session-era upstream asks with a JSON-RPC request and no key, so the bridge keys
 * each input request by the upstream request's id (mrtr-bridge.ts inputKeyFor): the round works
 * (basic-sampling, multi-round ... pass), only the named key cannot match. The same keys are why a
 * first request that brings `inputResponses: {user_name: ...}` without a requestState (no round was
 * asked) cannot be used: nothing is parked to answer, the bridge forwards the call and the upstream asks.
 */
const B1_KEYS = 'the key is the 2026 server\'s choice (the reference uses `user_name`); a session-era upstream asks by JSON-RPC '
  + 'request, and the bridge keys each input request by that request\'s id (e.g. "n0")';
const B1_KEYS_OWNER = 'not mappable onto a session-era upstream (a documented B1 limit: docs/mcp-2026-07-28.md, README "MCP 2026-07-28")';
const B1_PATHS = ['b1-http', 'b1-stdio'] as const;

export const KNOWN_GAPS_2026: readonly KnownGap2026[] = [
  ...['tools-call-simple-text', 'tools-call-image', 'tools-call-audio', 'tools-call-embedded-resource', 'tools-call-mixed-content',
    'tools-call-error', 'tools-call-with-progress'].map((scenario) => ({ scenario, path: 'direct' as const, reason: NO_RESULT_TYPE, owner: REFERENCE })),
  { scenario: 'http-header-validation', path: 'direct', owner: 'upstream reference server (it does not validate Mcp-Method/Mcp-Name; the proxy does, so every proxied path passes)',
    reason: 'sep-2243-server-reject-invalid-headers "Expected HTTP 400, got 200" (5 cases) and sep-2243-server-reject-error-code (WARNING) "Expected -32020 (HeaderMismatch), got (missing)"' },
  { scenario: 'http-custom-header-server-validation', path: 'direct', owner: 'upstream reference server (no x-mcp-header tool; session-era-server.ts has one, test_custom_headers)',
    reason: 'sep-2243-server-no-xmcp-tool and 4 more: "Not testable: server exposes no tool with x-mcp-header annotations"' },
  { scenario: 'input-required-result-validate-input', path: 'direct', owner: 'upstream reference server (a SHOULD)',
    reason: 'sep-2322-validate-input-responses (WARNING) "Server accepted invalid inputResponses (number instead of object) and returned complete result"' },

  { scenario: 'server-stateless', path: 'pass', owner: `${VERSION_OWNER}; listen framing: the reference's (the spec's listen reply is SSE; the proxy is right to wait for a JSON body's end)`,
    reason: `${VERSION_LIST}; and the 5 subscriptions/listen checks "Failed to open or receive frames from the subscriptions/listen stream endpoint": `
      + 'the reference streams listen as a never-ending chunked application/json body of NDJSON lines, and the proxy relays a JSON reply only whole, so no frame arrives in the suite\'s 1 s' },

  ...B1_PATHS.map((path) => ({ scenario: 'sep-2164-resource-not-found', path, owner: 'the session-era upstream (SDK 1.32 McpServer; B1 relays the error, renumbered)',
    reason: 'sep-2164-data-uri (WARNING) "Error data.uri is undefined": the session-era McpServer\'s resource-not-found error carries no data' })),
  ...B1_PATHS.map((path) => ({ scenario: 'input-required-result-basic-elicitation', path, owner: B1_KEYS_OWNER,
    reason: `sep-2322-elicitation-incomplete "inputRequests missing expected key user_name": ${B1_KEYS} (so the retry check is not run)` })),
  ...B1_PATHS.map((path) => ({ scenario: 'input-required-result-ignore-extra-params', path, owner: B1_KEYS_OWNER,
    reason: 'sep-2322-ignore-unexpected-params (WARNING) "Server did not return complete result when valid inputResponses were provided alongside extra keys": '
      + `the first request already brings inputResponses keyed user_name, with no requestState: nothing is parked to answer, so the call is forwarded and the upstream asks (input_required); ${B1_KEYS}` })),
];

export function knownGap2026(scenario: string, path: Path2026): KnownGap2026 | undefined {
  return KNOWN_GAPS_2026.find((g) => g.scenario === scenario && g.path === path);
}
