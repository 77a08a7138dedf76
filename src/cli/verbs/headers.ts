/**
 * `mcp-auth headers [name]`: one JSON object of headers on stdout, Claude Code's headersHelper
 * contract. Never opens a browser: a needed login exits 3 and says what to run.
 *
 * Runs on every MCP connection, so it stays small: with a daemon running it loads only client
 * code and `node:http` (no OAuth library, no fastify, no `fetch`). Without a daemon ready within
 * ~3 s (or with `MCP_AUTH_NO_DAEMON=1`) it does the work in-process, under the same locks.
 */
import { resolvePaths } from '../../config/paths.js';
import { requestEnvFor } from '../../client/request-env.js';
import { usageError } from '../errors.js';
import { noExtra, parse } from '../args.js';
import { daemonFor, debug, isUnreachable } from '../daemon.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth headers [name]   (name defaults to $CLAUDE_CODE_MCP_SERVER_NAME)';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 1, USAGE);
  const name = positionals[0] ?? io.env.CLAUDE_CODE_MCP_SERVER_NAME;
  if (!name) throw usageError('no server name given and CLAUDE_CODE_MCP_SERVER_NAME is not set', `Usage: ${USAGE}`);
  const paths = resolvePaths(io.env);

  let headers: Record<string, string> | undefined;
  const [daemon, env] = await Promise.all([daemonFor(io, paths), requestEnvFor(paths, name, io.env)]);
  if (daemon) {
    try {
      headers = await daemon.client.headers(name, env);
    } catch (e) {
      if (!isUnreachable(e)) throw e;
      debug(io, `${e.message}; working in-process`);
    }
  } else {
    debug(io, 'no daemon; working in-process');
  }
  if (headers === undefined) {
    const { createBroker } = await import('../context.js');
    headers = await createBroker(io).headers(name);
  }
  io.stdout(JSON.stringify(headers) + '\n');
  return 0;
}
