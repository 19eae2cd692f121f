/**
 * The one rule, shared by both downstream transports, for what a POSTed JSON-RPC body must be
 * before it is forwarded: valid JSON (else -32700), a JSON-RPC 2.0 message (else -32600), and not
 * a batch (rejected since protocol revision 2025-06-18), nested at most MAX_DEPTH levels (else
 * E_NESTING_TOO_DEEP, 400). Returns undefined for a good frame, so
 * the common path allocates nothing.
 */
import { ErrorCode } from '../errors.js';
import { type Envelope, MsgKind, PARSE_ERROR, TOO_DEEP } from '../upstream/jsonrpc-envelope.js';

export interface FrameProblem {
  code: ErrorCode;
  message: string;
}

const PARSE: FrameProblem = { code: ErrorCode.ParseError, message: 'Parse error: body is not valid JSON' };
const DEEP: FrameProblem = { code: ErrorCode.NestingTooDeep, message: `Invalid Request: ${TOO_DEEP}` };
const BATCH: FrameProblem = { code: ErrorCode.BatchRejected, message: 'JSON-RPC batches are not supported since protocol revision 2025-06-18' };

export function frameProblem(env: Envelope): FrameProblem | undefined {
  if (env.kind === MsgKind.Batch) return BATCH;
  if (env.kind !== MsgKind.Invalid) return undefined;
  if (env.problem === PARSE_ERROR) return PARSE;
  if (env.problem === TOO_DEEP) return DEEP;
  return { code: ErrorCode.InvalidRequest, message: `Invalid Request: ${env.problem ?? 'not a JSON-RPC 2.0 message'}` };
}
