/**
 * `mcp-auth remove <name>`: drops the server from the config and forgets its local credentials.
 */
import { getServer, updateConfig } from '../../config/servers-file.js';
import { createBroker } from '../context.js';
import { noExtra, parse, positional } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth remove <name>';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {}, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  noExtra(positionals, 1, USAGE);
  const broker = createBroker(io);
  await updateConfig(broker.deps.paths, (cfg) => {
    getServer(cfg, name);
    delete cfg.mcpServers[name];
  });
  await broker.forget(name);
  io.stderr(`Removed "${name}".\n`);
  return 0;
}
