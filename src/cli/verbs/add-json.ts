/**
 * `mcp-auth add-json <name> '<json>'`: one `.mcp.json` server entry.
 */
import { ErrorCode, McpAuthError } from '../../errors.js';
import { noExtra, parse, positional } from '../args.js';
import type { CliIO } from '../io.js';
import { saveServer } from './save-server.js';

const USAGE = `mcp-auth add-json [--client-secret] [--force] <name> '{"type":"http","url":"https://…","oauth":{…}}'`;

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { 'client-secret': { type: 'boolean' }, force: { type: 'boolean' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  const text = positional(positionals, 1, 'JSON', USAGE);
  noExtra(positionals, 2, USAGE);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new McpAuthError(ErrorCode.ConfigInvalid, 'the server JSON does not parse', { hint: `Quote it for the shell: ${USAGE}` });
  }
  await saveServer(io, name, raw, { clientSecret: values['client-secret'] === true, force: values.force === true });
  return 0;
}
