/**
 * Loading and saving `servers.json`.
 */
import { ErrorCode, McpAuthError } from '../errors.js';
import { open } from 'node:fs/promises';
import { errnoCode, readFileIfExists, writeFileAtomic } from '../util/atomic-file.js';
import { currentSignature, reuse, SharedRead, signatureOf, trustworthy, type Cached, type FileSignature } from '../util/file-signature.js';
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

const EMPTY: ConfigFile = Object.freeze({ mcpServers: Object.freeze({}) }) as ConfigFile;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

async function readWithSignature(file: string): Promise<{ text?: string; sig?: FileSignature }> {
  try {
    const fh = await open(file, 'r');
    try {
      const sig = signatureOf(await fh.stat());
      return { text: await fh.readFile('utf8'), sig };
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return {};
    throw new McpAuthError(ErrorCode.ConfigInvalid, `${file} cannot be read (${errnoCode(err) ?? 'unknown error'})`, {
      hint: `Check the permissions of ${file}`,
      cause: err,
    });
  }
}

/** One config file's frozen parse, valid while its signature is unchanged, and its shared reads. */
class SharedConfig {
  cached: Cached<ConfigFile> | undefined;
  readonly reads: SharedRead<ConfigFile>;

  constructor(file: string) {
    this.reads = new SharedRead(async () => {
      const startedAt = Date.now();
      const read = await readWithSignature(file);
      if (read.text === undefined) {
        this.cached = undefined;
        return EMPTY;
      }
      const cfg = deepFreeze(parseConfig(read.text, file));
      this.cached = read.sig !== undefined && trustworthy(read.sig, startedAt) ? { sig: read.sig, value: cfg } : undefined;
      return cfg;
    });
  }
}

const shared = new Map<string, SharedConfig>();

/**
 * {@link loadConfig} for readers that run often (the daemon resolves the config on every headers
 * request): the same result, shared and deeply frozen — callers must not modify it. The parsed
 * copy is reused only while a `stat` shows the file unchanged (util/file-signature.ts), so an edit
 * by any process is seen by the next call.
 * @throws McpAuthError `CONFIG_INVALID` when the file is unreadable or invalid (never cached).
 */
export async function loadConfigShared(paths: Pick<Paths, 'configFile'>): Promise<Readonly<ConfigFile>> {
  const file = paths.configFile;
  let entry = shared.get(file);
  if (entry === undefined) {
    // One file per process in practice; a bound keeps a process that walks many homes (tests) small.
    if (shared.size >= 16) shared.clear();
    entry = new SharedConfig(file);
    shared.set(file, entry);
  }
  let sig: FileSignature | undefined;
  try {
    sig = currentSignature(file);
    if (sig === undefined) return EMPTY; // no file: an empty configuration
  } catch {
    sig = undefined; // the read reports it
  }
  return reuse(entry.cached, sig) ?? entry.reads.get();
}

/**
 * {@link loadConfigShared} without waiting, for a caller with a slower path to fall back on: the
 * shared config when a `stat` made now shows the file unchanged since it was read (or
 * {@link EMPTY} when there is no file), else `undefined` — the file changed, was never read, or
 * cannot be checked; the caller then takes {@link loadConfigShared}, which reads it and reports
 * errors. Never reads the file, so it never serves anything older than the file as of this call.
 */
export function peekConfigShared(paths: Pick<Paths, 'configFile'>): Readonly<ConfigFile> | undefined {
  const entry = shared.get(paths.configFile);
  let sig: FileSignature | undefined;
  try {
    sig = currentSignature(paths.configFile);
  } catch {
    return undefined;
  }
  if (sig === undefined) return EMPTY;
  return reuse(entry?.cached, sig);
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
