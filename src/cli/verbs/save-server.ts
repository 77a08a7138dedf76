/**
 * Shared end of `add` and `add-json`: validate, store the client secret (never in servers.json),
 * write the config under its lock.
 */
import { resolvePaths } from '../../config/paths.js';
import { validateServer, validateServerName, type ServerConfig } from '../../config/schema.js';
import { updateConfig } from '../../config/servers-file.js';
import { ErrorCode, McpAuthError } from '../../errors.js';
import { clientSecretKey } from '../../store/key.js';
import { createStore } from '../context.js';
import type { CliIO } from '../io.js';
import { readClientSecret } from '../prompt.js';
import { usageError } from '../errors.js';

export async function saveServer(io: CliIO, name: string, raw: unknown, opts: { clientSecret: boolean; force: boolean }): Promise<void> {
  validateServerName(name);
  const server: ServerConfig = validateServer(raw, `server "${name}"`);
  if (opts.clientSecret && !(server.oauth && server.oauth.clientId)) {
    throw usageError('--client-secret needs a client id (--client-id, or oauth.clientId)');
  }
  const paths = resolvePaths(io.env);
  const secret = opts.clientSecret ? await readClientSecret(io) : undefined;
  await updateConfig(paths, (cfg) => {
    if (cfg.mcpServers[name] && !opts.force) {
      throw new McpAuthError(ErrorCode.ServerExists, `a server named "${name}" already exists`, {
        hint: `Pick another name, or replace it: mcp-auth add --force ${name} <url>`,
      });
    }
    cfg.mcpServers[name] = server;
  });
  if (secret !== undefined) await createStore(paths, io.env).set(clientSecretKey(name), secret);
  io.stderr(`Added ${server.type} server "${name}" (${server.url}).${secret ? ' Client secret stored.' : ''}\n`);
}
