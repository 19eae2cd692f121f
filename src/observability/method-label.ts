/**
 * The bounded `method` label of mithril_requests_total: a client chooses the JSON-RPC method, so
 * only names MCP defines become label values (anything else is `other`), which keeps the number
 * of series fixed whatever clients send. The HTTP-level exchanges the acceptor answers itself
 * without a JSON-RPC method carry their HTTP method: GET (server-message stream) and DELETE.
 */
export const METHODS: readonly string[] = [
  'initialize', 'ping',
  'tools/list', 'tools/call',
  'resources/list', 'resources/templates/list', 'resources/read', 'resources/subscribe', 'resources/unsubscribe',
  'prompts/list', 'prompts/get',
  'completion/complete', 'logging/setLevel',
  'sampling/createMessage', 'elicitation/create', 'roots/list',
  'tasks/get', 'tasks/list', 'tasks/result', 'tasks/cancel',
  'server/discover',
  'notifications/initialized', 'notifications/cancelled', 'notifications/progress',
  'notifications/roots/list_changed', 'notifications/message',
  'GET', 'DELETE',
  'other',
];

export const OTHER = METHODS.length - 1;
const INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));

/** The label slot for a method; a Map lookup, no allocation. */
export function methodIndex(method: string | undefined): number {
  if (method === undefined) return OTHER;
  return INDEX.get(method) ?? OTHER;
}
