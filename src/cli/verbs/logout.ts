/**
 * `mcp-auth logout <name>`: revoke (RFC 7009, where offered) and forget the credential.
 */
import { requestEnvFor } from '../../client/request-env.js';
import { resolvePaths } from '../../config/paths.js';
import { noExtra, parse, positional } from '../args.js';
import { daemonFor, debug, isUnreachable } from '../daemon.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth logout <name>';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {}, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  noExtra(positionals, 1, USAGE);
  const paths = resolvePaths(io.env);

  let r: { loggedOut: boolean; revoked: boolean } | undefined;
  // The same variables `headers` lends: revoking a confidential client's token needs its secret.
  const [daemon, env] = await Promise.all([daemonFor(io, paths), requestEnvFor(paths, name, io.env)]);
  if (daemon) {
    try {
      r = await daemon.client.logout(name, env);
    } catch (e) {
      if (!isUnreachable(e)) throw e;
      debug(io, `${e.message}; working in-process`);
    }
  }
  if (r === undefined) {
    const { createBroker } = await import('../context.js');
    const broker = createBroker(io);
    await broker.server(name);
    r = await broker.logout(name);
  }
  if (!r.loggedOut) io.stderr(`"${name}" was not logged in.\n`);
  else io.stderr(`Logged out of "${name}"${r.revoked ? ' (token revoked at the server)' : ' (the server offers no revocation, or refused it; forgotten locally)'}.\n`);
  return 0;
}
