/**
 * Exclusive locks across processes (a lock file created with O_EXCL) and across async callers of
 * one process (a promise chain per lock path). Used around every read → modify → write of shared
 * files and around read → refresh → save of a credential.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, McpAuthError } from '../errors.js';
import { isRunningSync } from './process.js';
import { errnoCode } from './atomic-file.js';

export interface FileLockOptions {
  /**
   * Total time to wait for the lock (in-process queue plus lock file), in ms. Default 5000: the CLI
   * runs as Claude Code's `headersHelper`, which is killed after 10 s, so waiting must give up
   * well before that.
   */
  timeoutMs?: number;
  /** Base interval between attempts while the lock file is held by another process. Default 25. */
  pollMs?: number;
  /**
   * A lock file not refreshed for this long is treated as abandoned even if its PID seems alive
   * (the PID may have been reused, or belong to another host or PID namespace). Holders refresh
   * the file's mtime every `staleMs / 3`, so a live holder is never broken. Default 30000.
   */
  staleMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_POLL_MS = 25;
const DEFAULT_STALE_MS = 30_000;
// Between `open(wx)` and the write of its content a lock file is briefly empty; only an
// unparseable file older than this is considered debris of a crashed writer.
const UNPARSEABLE_GRACE_MS = 2_000;

const HOST = hostname();

/** Tail of the in-process queue per lock path. */
const queues = new Map<string, Promise<void>>();

function lockTimeout(lockPath: string, timeoutMs: number): McpAuthError {
  return new McpAuthError(ErrorCode.LockTimeout, `Timed out after ${timeoutMs} ms waiting for lock ${lockPath}`, {
    hint: `Another mcp-auth process is busy with this file; retry, or delete ${lockPath} if no mcp-auth process is running`,
  });
}

/**
 * Runs `fn` while holding an in-process mutex named `name` (no lock file). Callers queue in FIFO
 * order; one that cannot get its turn within `timeoutMs` gets `LOCK_TIMEOUT` and leaves the queue
 * without blocking those behind it. Not reentrant.
 */
export async function withProcessMutex<T>(
  name: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const release = await enterQueue(
    `mutex:${name}`,
    Date.now() + timeoutMs,
    () =>
      new McpAuthError(ErrorCode.LockTimeout, `Timed out after ${timeoutMs} ms waiting for lock ${name}`, {
        hint: 'Another operation on the same item is still running; retry in a moment',
      }),
  );
  try {
    return await fn();
  } finally {
    release();
  }
}

async function enterQueue(key: string, deadline: number, onTimeout: () => Error): Promise<() => void> {
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => {
    done = r;
  });
  // Whoever comes next waits for both: if we give up early, our turn still must not start
  // before the previous holder is finished.
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  const release = (): void => {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  };

  const remaining = deadline - Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), Math.max(0, remaining));
  });
  try {
    const outcome = await Promise.race([previous.then(() => 'ready' as const), timedOut]);
    if (outcome === 'timeout') {
      release();
      throw onTimeout();
    }
  } finally {
    clearTimeout(timer);
  }
  return release;
}

interface LockContent {
  pid: number;
  at: number;
  host?: string;
  id?: string;
}

function parseLock(text: string): LockContent | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0) return undefined;
    if (typeof o.at !== 'number') return undefined;
    return {
      pid: o.pid,
      at: o.at,
      ...(typeof o.host === 'string' ? { host: o.host } : {}),
      ...(typeof o.id === 'string' ? { id: o.id } : {}),
    };
  } catch {
    return undefined;
  }
}

/** `retry`: something changed (a stale lock was removed, the directory created), so try again at once. */
type Attempt = 'acquired' | 'busy' | 'retry';

/**
 * Runs `fn` while holding an exclusive lock on `lockPath`, shared by every process on the machine
 * that uses the same path. Within this process, callers of the same path are serialised first (all
 * callers share one PID, which the lock file alone cannot tell apart).
 *
 * A lock file whose owner is dead (same host, PID gone), that is unparseable after a short grace, or
 * that its owner stopped refreshing for `staleMs` is broken and taken over.
 *
 * Not reentrant: calling it again for the same path from inside `fn` waits for itself and ends in
 * `LOCK_TIMEOUT`.
 *
 * @throws McpAuthError `LOCK_TIMEOUT` when the lock cannot be had within `timeoutMs`;
 *   `STORE_WRITE_FAILED` when the lock file cannot be created at all (e.g. permissions).
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  opts: FileLockOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pollMs = Math.max(1, opts.pollMs ?? DEFAULT_POLL_MS);
  const staleMs = Math.max(1, opts.staleMs ?? DEFAULT_STALE_MS);
  const path = resolve(lockPath);
  const deadline = Date.now() + timeoutMs;

  const releaseQueue = await enterQueue(`file:${path}`, deadline, () => lockTimeout(path, timeoutMs));
  try {
    const id = randomBytes(8).toString('hex');
    let content: string;
    for (;;) {
      content = JSON.stringify({ pid: process.pid, at: Date.now(), host: HOST, id });
      const attempt = await tryAcquire(path, content, staleMs);
      if (attempt === 'acquired') break;
      const left = deadline - Date.now();
      if (left <= 0) throw lockTimeout(path, timeoutMs);
      if (attempt === 'retry') continue;
      // Jitter keeps several waiters from retrying in lock-step after a release.
      await sleep(Math.min(left, pollMs * (0.5 + Math.random())));
    }

    const heartbeat = setInterval(() => {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined);
    }, Math.max(1, Math.floor(staleMs / 3)));
    heartbeat.unref();
    try {
      return await fn();
    } finally {
      clearInterval(heartbeat);
      await releaseFile(path, content);
    }
  } finally {
    releaseQueue();
  }
}

function cannotCreate(path: string, err: unknown): McpAuthError {
  return new McpAuthError(ErrorCode.StoreWriteFailed, `Cannot create lock file ${path} (${errnoCode(err) ?? 'unknown error'})`, {
    hint: `Check that ${dirname(path)} exists and is writable by you`,
    cause: err,
  });
}

async function tryAcquire(path: string, content: string, staleMs: number): Promise<Attempt> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') {
      try {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      } catch (mkdirErr) {
        throw cannotCreate(path, mkdirErr);
      }
      return 'retry';
    }
    if (code !== 'EEXIST') throw cannotCreate(path, err);
  }
  if (fh !== undefined) {
    try {
      await fh.writeFile(content, 'utf8');
    } catch (writeErr) {
      // An empty lock file would block everyone for the unparseable-file grace period.
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw cannotCreate(path, writeErr);
    }
    await fh.close();
    return 'acquired';
  }

  let existing: string;
  let mtimeMs: number;
  try {
    [existing, mtimeMs] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
  } catch (err) {
    // Released between our open and our read: just try again.
    if (errnoCode(err) === 'ENOENT') return 'retry';
    throw err;
  }
  if (!isStale(existing, mtimeMs, staleMs)) return 'busy';
  await breakLock(path, existing);
  return 'retry';
}

function isStale(existing: string, mtimeMs: number, staleMs: number): boolean {
  const age = Date.now() - mtimeMs;
  const owner = parseLock(existing);
  if (owner === undefined) return age > UNPARSEABLE_GRACE_MS;
  if (age > staleMs) return true;
  // A PID from another host means nothing here; such a lock only expires through `staleMs`.
  if (owner.host !== undefined && owner.host !== HOST) return false;
  return !isRunningSync(owner.pid);
}

/**
 * Removes a stale lock file so that only one of several concurrent breakers wins: the file is first
 * renamed to a name unique to us (only one rename of the same file can succeed), then checked: if
 * what we moved is not the stale file we judged (someone broke it and a live holder re-created it
 * in between), it is put back.
 */
export async function breakLock(path: string, staleContent: string): Promise<void> {
  const aside = `${path}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    const moved = await readFile(aside, 'utf8').catch(() => staleContent);
    if (moved !== staleContent) {
      // link() fails if yet another lock appeared meanwhile; nothing more can be saved then.
      await link(aside, path).catch(() => undefined);
    }
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

async function releaseFile(path: string, content: string): Promise<void> {
  try {
    // Only remove the file if it is still ours: if it was broken as stale and re-taken, deleting
    // it would release someone else's lock.
    if ((await readFile(path, 'utf8')) === content) await unlink(path);
  } catch {
    // Already gone, or unreadable: either way it is no longer ours to remove.
  }
}
