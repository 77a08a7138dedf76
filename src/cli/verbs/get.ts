/**
 * `mcp-auth get <name>`: one server's configuration (credentials masked) and login state.
 */
import { createBroker } from '../context.js';
import { describeState, maskHeaders } from '../format.js';
import { noExtra, parse, positional } from '../args.js';
import type { CliIO } from '../io.js';
import { getServer, loadConfig } from '../../config/servers-file.js';
import { expandServer } from '../../config/expand.js';
import { clientSecretKey } from '../../store/key.js';
import { isMcpAuthError } from '../../errors.js';
import type { ServerStatus } from '../../broker/broker.js';

const USAGE = 'mcp-auth get [--json] <name>';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  noExtra(positionals, 1, USAGE);
  const broker = createBroker(io);
  const raw = getServer(await loadConfig(broker.deps.paths), name);
  // An unset ${VAR} must not hide the configuration: it shows as the state, as in `list`.
  let status: ServerStatus;
  try {
    status = await broker.status(name, expandServer(raw, io.env));
  } catch (e) {
    if (!isMcpAuthError(e)) throw e;
    status = { name, url: raw.url, type: raw.type, state: 'error', store: broker.deps.store.backend, error: { code: e.code, message: e.message } };
  }
  const secretStored = (await broker.deps.store.get(clientSecretKey(name))) !== undefined;
  const config = { ...raw, ...(raw.headers ? { headers: maskHeaders(raw.headers) } : {}) };
  if (values.json) {
    io.stdout(JSON.stringify({ name, config, clientSecretStored: secretStored, status }, null, 2) + '\n');
    return 0;
  }
  io.stdout(`${name}:\n  type: ${raw.type}\n  url: ${raw.url}\n`);
  if (config.headers) for (const [k, v] of Object.entries(config.headers)) io.stdout(`  header: ${k}: ${v}\n`);
  if (raw.headersHelper) io.stdout(`  headersHelper: ${raw.headersHelper}\n`);
  if (raw.oauth === false) io.stdout('  oauth: disabled\n');
  else if (raw.oauth) for (const [k, v] of Object.entries(raw.oauth)) io.stdout(`  oauth.${k}: ${String(v)}\n`);
  if (secretStored) io.stdout('  client secret: stored\n');
  io.stdout(`  status: ${describeState(status, Date.now())}\n`);
  if (status.issuer) io.stdout(`  issuer: ${status.issuer}\n  client id: ${status.clientId}\n`);
  if (status.scope) io.stdout(`  scope: ${status.scope}\n`);
  io.stdout(`  store: ${status.store}\n`);
  return 0;
}
