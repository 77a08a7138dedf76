/**
 * `mcp-auth list`: every configured server and whether it can be used now.
 */
import { createBroker } from '../context.js';
import { describeState } from '../format.js';
import { noExtra, parse } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth list [--json]';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 0, USAGE);
  const broker = createBroker(io);
  const servers = await broker.list();
  if (values.json) {
    io.stdout(JSON.stringify({ servers }, null, 2) + '\n');
    return 0;
  }
  if (servers.length === 0) {
    io.stdout('No servers configured. Add one: mcp-auth add <name> <url>\n');
    return 0;
  }
  const now = Date.now();
  const width = Math.max(...servers.map((s) => s.name.length));
  for (const s of servers) io.stdout(`${s.name.padEnd(width)}  ${s.url}  ${describeState(s, now)}\n`);
  return 0;
}
