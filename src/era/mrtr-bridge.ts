/**
 * Translating between the two ways a server asks the client for input during a request
 * (docs/mcp-2026-07-28.md 1.5):
 *  - session era: the server sends its own JSON-RPC request (`elicitation/create`,
 *    `sampling/createMessage`, `roots/list`) on the stream and waits for the client's response;
 *  - 2026-07-28 (basic/patterns/mrtr.mdx): the server answers `input_required` with an
 *    `inputRequests` map (key -> {method, params}); the client retries with `inputResponses`
 *    (key -> result).
 * B1 (2026 client, session-era upstream) turns parked upstream requests into `inputRequests` and
 * the retry's `inputResponses` back into upstream responses; B2 (session-era client, 2026 upstream)
 * does the reverse. Pure functions over small parsed objects; every map is bounded.
 */

/** The three input request kinds and the client capability each needs (schema.ts InputRequest). */
export const INPUT_METHODS: ReadonlyMap<string, 'elicitation' | 'sampling' | 'roots'> = new Map([
  ['elicitation/create', 'elicitation'],
  ['sampling/createMessage', 'sampling'],
  ['roots/list', 'roots'],
]);

/** At most this many input requests in one round, either direction. */
export const MAX_INPUT_REQUESTS = 16;

export type RpcId = string | number;

export interface ServerRequest {
  id: RpcId;
  method: string;
  params?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The inputRequests key for an upstream request id: reversible, and 1 and "1" stay distinct. */
export function inputKeyFor(id: RpcId): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

export function idFromInputKey(key: string): RpcId | undefined {
  if (key.startsWith('s')) return key.slice(1);
  if (key.startsWith('n')) {
    const n = Number(key.slice(1));
    return Number.isFinite(n) && key.length > 1 ? n : undefined;
  }
  return undefined;
}

/**
 * Whether the 2026 client's declared capabilities allow this request (MRTR: a server MUST NOT send
 * input requests the client did not declare). URL-mode elicitation needs `elicitation.url`; form
 * mode is implied by a bare `elicitation: {}` (schema example "form mode only (implicit)").
 */
export function clientAllows(req: ServerRequest, caps: Readonly<Record<string, unknown>>): boolean {
  const need = INPUT_METHODS.get(req.method);
  if (!need) return false;
  const cap = caps[need];
  if (!isObject(cap)) return false;
  if (need !== 'elicitation') return true;
  const mode = isObject(req.params) ? req.params.mode : undefined;
  if (mode === 'url') return isObject(cap.url);
  return Object.keys(cap).length === 0 || isObject(cap.form);
}

export interface InputRound {
  /** For the client's `input_required` result. */
  inputRequests: Record<string, { method: string; params?: unknown }>;
  /** Upstream requests the proxy must answer at once with an error body (not allowed / not input). */
  refused: { id: RpcId; body: string }[];
}

/** B1: parked upstream requests -> one `inputRequests` map (and immediate refusals). */
export function toInputRequests(reqs: readonly ServerRequest[], caps: Readonly<Record<string, unknown>>): InputRound {
  const round: InputRound = { inputRequests: {}, refused: [] };
  for (const r of reqs) {
    const allowed = clientAllows(r, caps) && Object.keys(round.inputRequests).length < MAX_INPUT_REQUESTS;
    if (!allowed) {
      // What an SDK client without a handler answers: the upstream sees an ordinary refusal.
      const message = INPUT_METHODS.has(r.method) ? `client did not declare the capability for ${r.method}` : `Method not found: ${r.method}`;
      round.refused.push({ id: r.id, body: JSON.stringify({ jsonrpc: '2.0', id: r.id, error: { code: -32601, message } }) });
      continue;
    }
    round.inputRequests[inputKeyFor(r.id)] = r.params === undefined ? { method: r.method } : { method: r.method, params: r.params };
  }
  return round;
}

/**
 * B1: the retry's `inputResponses` -> response bodies for the parked upstream request ids.
 * Ids without a response stay `missing` (the proxy asks again, as MRTR's error handling says);
 * keys that name nothing parked are ignored (MRTR: ignore what is not needed).
 */
export function responsesFromInput(inputResponses: unknown, parked: readonly RpcId[]): { bodies: { id: RpcId; body: string }[]; missing: RpcId[] } {
  const bodies: { id: RpcId; body: string }[] = [];
  const missing: RpcId[] = [];
  const map = isObject(inputResponses) ? inputResponses : {};
  for (const id of parked) {
    const key = inputKeyFor(id);
    const result = Object.hasOwn(map, key) ? map[key] : undefined;
    if (!isObject(result)) {
      missing.push(id);
      continue;
    }
    bodies.push({ id, body: JSON.stringify({ jsonrpc: '2.0', id, result }) });
  }
  return { bodies, missing };
}

/**
 * B2: an upstream `inputRequests` map -> server->client requests for a session-era client, each
 * with an id from `mintId` (the proxy's own, so client responses can be told apart from anything
 * else). Returns the key for each id, to rebuild `inputResponses`.
 */
export function toServerRequests(inputRequests: unknown, mintId: () => RpcId): { requests: { id: RpcId; key: string; body: string }[] } | { problem: string } {
  if (!isObject(inputRequests)) return { problem: 'inputRequests is not an object' };
  const entries = Object.entries(inputRequests);
  if (entries.length > MAX_INPUT_REQUESTS) return { problem: `more than ${MAX_INPUT_REQUESTS} input requests` };
  const requests: { id: RpcId; key: string; body: string }[] = [];
  for (const [key, req] of entries) {
    if (!isObject(req) || typeof req.method !== 'string' || !INPUT_METHODS.has(req.method)) {
      return { problem: `input request ${JSON.stringify(key)} is not elicitation, sampling or roots` };
    }
    const id = mintId();
    const msg = req.params === undefined ? { jsonrpc: '2.0', id, method: req.method } : { jsonrpc: '2.0', id, method: req.method, params: req.params };
    requests.push({ id, key, body: JSON.stringify(msg) });
  }
  return { requests };
}

/**
 * B2: the client's JSON-RPC responses (parsed) -> `inputResponses` for the upstream retry. An error
 * response leaves its key out: the upstream then asks again or fails the call, its choice.
 */
export function inputResponsesFrom(
  sent: readonly { id: RpcId; key: string }[], responses: readonly { id?: unknown; result?: unknown }[],
): Record<string, unknown> {
  const byId = new Map<string, string>();
  for (const s of sent) byId.set(inputKeyFor(s.id), s.key);
  const out: Record<string, unknown> = {};
  for (const r of responses) {
    if (typeof r.id !== 'string' && typeof r.id !== 'number') continue;
    const key = byId.get(inputKeyFor(r.id));
    if (key !== undefined && isObject(r.result)) out[key] = r.result;
  }
  return out;
}
