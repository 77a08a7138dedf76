/**
 * Loading and saving `servers.json`.
 */
import { ErrorCode, McpAuthError } from '../errors.js';
import { errnoCode, readFileIfExists, writeFileAtomic } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';
import type { Paths } from './paths.js';
import { parseConfig, validateConfig, type ConfigFile, type ServerConfig } from './schema.js';

async function readConfigText(file: string): Promise<string | undefined> {
  try {
    return await readFileIfExists(file);
  } catch (err) {
    throw new McpAuthError(ErrorCode.ConfigInvalid, `${file} cannot be read (${errnoCode(err) ?? 'unknown error'})`, {
      hint: `Check the permissions of ${file}`,
      cause: err,
    });
  }
}

/**
 * Reads and validates the server configuration. A missing file is an empty configuration.
 * @throws McpAuthError `CONFIG_INVALID` when the file is unreadable or invalid.
 */
export async function loadConfig(paths: Paths): Promise<ConfigFile> {
  const text = await readConfigText(paths.configFile);
  return text === undefined ? { mcpServers: {} } : parseConfig(text, paths.configFile);
}

/**
 * Changes the configuration under a cross-process lock: re-reads the file, lets `mutate` edit it
 * in place, validates the result and atomically writes it (mode 0600). If `mutate` throws, or its
 * result is invalid, nothing is written. Returns the configuration as written.
 *
 * @throws McpAuthError `CONFIG_INVALID`, `LOCK_TIMEOUT`, `STORE_WRITE_FAILED`, or whatever `mutate`
 *   throws.
 */
export async function updateConfig(
  paths: Paths,
  mutate: (cfg: ConfigFile) => void | Promise<void>,
): Promise<ConfigFile> {
  const file = paths.configFile;
  return withFileLock(`${file}.lock`, async () => {
    const cfg = await loadConfig(paths);
    await mutate(cfg);
    const next = validateConfig(cfg, file);
    try {
      await writeFileAtomic(file, JSON.stringify(next, null, 2) + '\n', 0o600);
    } catch (err) {
      throw new McpAuthError(ErrorCode.StoreWriteFailed, `Cannot write ${file} (${errnoCode(err) ?? 'unknown error'})`, {
        hint: 'Check free space and the permissions of its directory',
        cause: err,
      });
    }
    return next;
  });
}

/**
 * Looks a server up by name.
 * @throws McpAuthError `SERVER_NOT_FOUND` when there is no such server.
 */
export function getServer(cfg: ConfigFile, name: string): ServerConfig {
  // hasOwn: names like "constructor" must not find Object.prototype members.
  const server = Object.hasOwn(cfg.mcpServers, name) ? cfg.mcpServers[name] : undefined;
  if (server === undefined) {
    throw new McpAuthError(ErrorCode.ServerNotFound, `No server named ${JSON.stringify(name)}`, {
      hint: 'Run `mcp-auth list` to see configured servers, or `mcp-auth add <name> <url>` to add one',
    });
  }
  return server;
}
