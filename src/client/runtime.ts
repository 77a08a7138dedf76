/**
 * The runtime file `daemon.json` ({@link RuntimeFile}): how a client finds the running daemon and
 * the API token it must present. Written by the daemon (mode 0600 in a 0700 directory); read here
 * with nothing but `node:fs`, because `mcp-auth headers` reads it on every MCP connection.
 */
import { constants, promises as fs } from 'node:fs';
import type { RuntimeFile } from '../api-types.js';
import type { Paths } from '../config/paths.js';
import { isRunning, isZombie, pidExists } from '../util/process.js';

/** The largest runtime file we read: it holds five short fields. */
const MAX_RUNTIME_BYTES = 4096;
/** The API token: at least 32 random bytes, so at least 43 characters in base64url (64 in hex). */
const TOKEN = /^[A-Za-z0-9._~+/=-]{32,512}$/;

/**
 * Validates parsed runtime-file JSON. Returns `undefined` for anything that is not a complete,
 * plausible runtime file: a half-written file or debris from another version is treated as
 * "no daemon", never trusted.
 */
export function validateRuntimeFile(value: unknown): RuntimeFile | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  const { pid, port, token, startedAt, version } = o;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (typeof token !== 'string' || !TOKEN.test(token)) return undefined;
  if (typeof startedAt !== 'number' || !Number.isFinite(startedAt) || startedAt < 0) return undefined;
  if (typeof version !== 'string' || version.length === 0 || version.length > 64) return undefined;
  return { pid, port, token, startedAt, version };
}

/** Parses the text of a runtime file; `undefined` when it is not valid JSON or not a runtime file. */
export function parseRuntimeFile(text: string): RuntimeFile | undefined {
  try {
    return validateRuntimeFile(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Why a runtime file on disk is not to be trusted, or `undefined` when its ownership and mode are
 * fine: it must be a regular file of ours, writable by nobody else (the port it names is where our
 * bearer token goes, and the token is a credential).
 */
export function runtimeFileProblem(st: { mode: number; uid: number }, uid: number | undefined): string | undefined {
  if ((st.mode & constants.S_IFMT) !== constants.S_IFREG) return 'it is not a regular file';
  if (uid !== undefined && st.uid !== uid) return 'it belongs to another user';
  if ((st.mode & 0o077) !== 0) return 'other users can access it';
  return undefined;
}

/**
 * Reads the runtime file. `undefined` when there is none or it is invalid, unsafe (see
 * {@link runtimeFileProblem}) or unreadable: every such case means "no usable daemon".
 */
export async function readRuntimeFile(paths: Pick<Paths, 'runtimeFile'>): Promise<RuntimeFile | undefined> {
  let fh: fs.FileHandle | undefined;
  try {
    // O_NOFOLLOW: a symlink planted in place of the file is not followed.
    fh = await fs.open(paths.runtimeFile, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = await fh.stat();
    if (runtimeFileProblem(st, process.getuid?.()) !== undefined) return undefined;
    if (st.size > MAX_RUNTIME_BYTES) return undefined;
    return parseRuntimeFile(await fh.readFile('utf8'));
  } catch {
    return undefined;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Whether a process with this PID exists (the caller's health check rules out a stranger's). */
export const isAlive = pidExists;

export { isZombie };

export { isRunning };

/**
 * Removes the runtime file if it still holds exactly `expected` (a crashed daemon's leftovers),
 * so a daemon that has just replaced it is never disowned.
 */
export async function removeRuntimeFileIf(paths: Pick<Paths, 'runtimeFile'>, expected: RuntimeFile): Promise<boolean> {
  const current = await readRuntimeFile(paths);
  if (!current || current.pid !== expected.pid || current.token !== expected.token || current.port !== expected.port) return false;
  try {
    await fs.unlink(paths.runtimeFile);
    return true;
  } catch {
    return false;
  }
}
