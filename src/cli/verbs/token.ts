/**
 * `mcp-auth token <name>`: the bare access token, for scripts (like `gh auth token`). Through the
 * daemon it is the bearer token of the headers the server would get.
 */
import { resolvePaths } from '../../config/paths.js';
import { requestEnvFor, serverDefinition } from '../../client/request-env.js';
import { ErrorCode, McpAuthError } from '../../errors.js';
import { noExtra, parse, positional } from '../args.js';
import { daemonFor, debug, isUnreachable } from '../daemon.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth token <name>';

function notOAuth(name: string): McpAuthError {
  return new McpAuthError(ErrorCode.NotOAuth, `server "${name}" does not use OAuth`, { hint: `Use: mcp-auth headers ${name}` });
}

/** The token of an `Authorization: Bearer …` header, whatever the header name's case. */
export function bearerToken(headers: Record<string, string>): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== 'authorization') continue;
    const m = /^Bearer +(\S+)\s*$/i.exec(v);
    return m ? m[1] : undefined;
  }
  return undefined;
}

async function oauthDisabled(configFile: string, name: string): Promise<boolean> {
  try {
    const { readFile } = await import('node:fs/promises');
    const def = serverDefinition(JSON.parse(await readFile(configFile, 'utf8')), name) as { oauth?: unknown } | undefined;
    return def?.oauth === false;
  } catch {
    return false;
  }
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {}, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  noExtra(positionals, 1, USAGE);
  const paths = resolvePaths(io.env);

  const daemon = await daemonFor(io, paths);
  if (daemon) {
    if (await oauthDisabled(paths.configFile, name)) throw notOAuth(name);
    try {
      const token = bearerToken(await daemon.client.headers(name, await requestEnvFor(paths, name, io.env)));
      if (token === undefined) throw notOAuth(name);
      io.stdout(token + '\n');
      return 0;
    } catch (e) {
      if (!isUnreachable(e)) throw e;
      debug(io, `${e.message}; working in-process`);
    }
  }
  const { createBroker } = await import('../context.js');
  io.stdout((await createBroker(io).accessToken(name)) + '\n');
  return 0;
}
