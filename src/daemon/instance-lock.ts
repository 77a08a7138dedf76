/**
 * One daemon per MCP_AUTH_HOME: `daemon.lock` in the runtime directory, created with O_EXCL and
 * held for the daemon's whole life (src/util/file-lock.ts is for short critical sections). Its
 * holder refreshes its mtime; a lock is taken over only when its holder is provably gone (same
 * host, PID dead or a zombie) or stopped refreshing it long ago (a PID since reused by some other
 * process, another host sharing the directory).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { ErrorCode, McpAuthError } from '../errors.js';
import { errnoCode } from '../util/atomic-file.js';
import { breakLock } from '../util/file-lock.js';
import { isRunning } from '../util/process.js';

/** Another daemon already serves this MCP_AUTH_HOME. */
export const DAEMON_RUNNING = ErrorCode.DaemonRunning;

export interface LockOwner {
  pid: number;
  host: string;
  id: string;
  at: number;
}

export interface InstanceLock {
  readonly path: string;
  /** Whether the file on disk is still ours (someone may have broken it as stale). */
  stillOurs(): Promise<boolean>;
  release(): Promise<void>;
}

export interface InstanceLockOptions {
  /** A lock not refreshed for this long is abandoned even if its PID is alive. Default 60 s. */
  staleMs?: number;
  /** How often the holder refreshes the lock's mtime. Default staleMs / 4. */
  heartbeatMs?: number;
  /** What `home` to name in the "already running" message. */
  home?: string;
}

const HOST = hostname();
const UNPARSEABLE_GRACE_MS = 2_000;

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || !Number.isSafeInteger(o.pid) || o.pid <= 0) return undefined;
    return { pid: o.pid, host: typeof o.host === 'string' ? o.host : HOST, id: String(o.id ?? ''), at: Number(o.at ?? 0) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process (a zombie counts as dead). */
export const pidRunning = isRunning;

function alreadyRunning(owner: LockOwner | undefined, home: string | undefined): McpAuthError {
  const where = home ? ` for ${home}` : '';
  const who = owner === undefined ? 'starting' : owner.host === HOST ? `pid ${owner.pid}` : `pid ${owner.pid} on host ${owner.host}`;
  return new McpAuthError(DAEMON_RUNNING, `another mcp-auth daemon (${who}) is already running${where}`, {
    hint: 'Use the running daemon, or stop it first with `mcp-auth stop`',
  });
}

/**
 * Takes the instance lock at `path` or throws `DAEMON_RUNNING` naming the holder's pid.
 * Stale locks (holder gone) are broken so that of several concurrent breakers exactly one wins.
 */
export async function acquireInstanceLock(path: string, opts: InstanceLockOptions = {}): Promise<InstanceLock> {
  const staleMs = opts.staleMs ?? 60_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(1, Math.floor(staleMs / 4));
  const owner: LockOwner = { pid: process.pid, host: HOST, id: randomBytes(12).toString('base64url'), at: Date.now() };
  const content = JSON.stringify(owner);

  for (let attempt = 0; ; attempt++) {
    let fh;
    try {
      fh = await open(path, 'wx', 0o600);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') {
        throw new McpAuthError(ErrorCode.StoreWriteFailed, `cannot create the daemon lock ${path} (${errnoCode(err) ?? 'error'})`, { cause: err });
      }
    }
    if (fh !== undefined) {
      try {
        await fh.writeFile(content, 'utf8');
        await fh.sync();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        throw new McpAuthError(ErrorCode.StoreWriteFailed, `cannot write the daemon lock ${path}`, { cause: err });
      }
      await fh.close();
      break;
    }

    // Someone holds it, or held it and died.
    let existing: string;
    let mtimeMs: number;
    try {
      [existing, mtimeMs] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    const holder = parseOwner(existing);
    const age = Date.now() - mtimeMs;
    let stale: boolean;
    if (holder === undefined) stale = age > UNPARSEABLE_GRACE_MS;
    else if (age > staleMs) stale = true;
    else if (holder.host !== HOST) stale = false;
    else stale = !(await pidRunning(holder.pid));
    if (!stale) {
      if (holder) throw alreadyRunning(holder, opts.home);
      // A holder between create and write: give it a moment, then judge again.
      if (attempt > 200) throw alreadyRunning(undefined, opts.home);
      await new Promise((r) => setTimeout(r, 25));
      continue;
    }
    await breakLock(path, existing);
  }

  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  heartbeat.unref();

  const stillOurs = async (): Promise<boolean> => {
    try {
      return (await readFile(path, 'utf8')) === content;
    } catch {
      return false;
    }
  };
  let released = false;
  return {
    path,
    stillOurs,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      if (await stillOurs()) await unlink(path).catch(() => undefined);
    },
  };
}

