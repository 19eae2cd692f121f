/**
 * The SDK's real Client, wired the way every proxy test needs it: sampling declared and answered
 * by the test, logging notifications handed to the test.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ErrorCode,
  LoggingMessageNotificationSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';

export interface ClientOptions {
  /** Answer to a server's sampling/createMessage; without it the client answers with an error. */
  onSampling?: (prompt: string) => string;
  /** Receives `params.data` of every notifications/message. */
  onLog?: (data: unknown) => void;
  name?: string;
}

export function makeClient(opts: ClientOptions = {}): Client {
  const client = new Client({ name: opts.name ?? 'mithril-test-client', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, (request) => {
    if (!opts.onSampling) throw new McpError(ErrorCode.InvalidRequest, 'this test client does not answer sampling');
    const prompt = request.params.messages
      .flatMap((m) => (Array.isArray(m.content) ? m.content : [m.content]))
      .map((c) => (c.type === 'text' ? c.text : ''))
      .join('');
    return { role: 'assistant', model: 'mithril-test', content: { type: 'text', text: opts.onSampling(prompt) } };
  });
  const onLog = opts.onLog;
  if (onLog) client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => onLog(n.params.data));
  return client;
}

export async function connectStreamable(
  url: string,
  opts: ClientOptions = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport; sessionId: () => string | undefined; close(): Promise<void> }> {
  const client = makeClient(opts);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport, sessionId: () => transport.sessionId, close: () => client.close() };
}

export async function connectSse(
  url: string,
  opts: ClientOptions = {},
): Promise<{ client: Client; transport: SSEClientTransport; close(): Promise<void> }> {
  const client = makeClient(opts);
  const transport = new SSEClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport, close: () => client.close() };
}

/** The first text content of a tools/call; a tool error fails loudly instead of reading as text. */
export async function callText(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = await client.callTool({ name, arguments: args });
  const content = (result.content ?? []) as Array<{ type: string; text?: string }>;
  const first = content.find((c) => c.type === 'text');
  if (result.isError) throw new Error(`tool ${name} failed: ${first?.text ?? 'no text'}`);
  if (first?.text === undefined) throw new Error(`tool ${name} returned no text content`);
  return first.text;
}
