/**
 * `mcp-auth token <name>`: the bare access token, for scripts (like `gh auth token`).
 */
import { createBroker } from '../context.js';
import { noExtra, parse, positional } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth token <name>';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {}, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  noExtra(positionals, 1, USAGE);
  io.stdout((await createBroker(io).accessToken(name)) + '\n');
  return 0;
}
