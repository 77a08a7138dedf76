/**
 * `mcp-auth headers [name]`: one JSON object of headers on stdout, Claude Code's headersHelper
 * contract. Never opens a browser: a needed login exits 3 and says what to run.
 */
import { usageError } from '../errors.js';
import { createBroker } from '../context.js';
import { noExtra, parse } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth headers [name]   (name defaults to $CLAUDE_CODE_MCP_SERVER_NAME)';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 1, USAGE);
  const name = positionals[0] ?? io.env.CLAUDE_CODE_MCP_SERVER_NAME;
  if (!name) throw usageError('no server name given and CLAUDE_CODE_MCP_SERVER_NAME is not set', `Usage: ${USAGE}`);
  const headers = await createBroker(io).headers(name);
  io.stdout(JSON.stringify(headers) + '\n');
  return 0;
}
