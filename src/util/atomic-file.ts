/**
 * Crash-safe file replacement: a reader (another process, or this one after a crash) sees either
 * the old content or the new one, never a truncated mix.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The `code` of a Node.js system error (`ENOENT`, `EEXIST`, …), or `undefined` for anything else. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/**
 * Replaces `path` with `data` atomically: writes a temporary file next to it (created with `mode`,
 * so secrets are never briefly readable by others), fsyncs it, renames it over the target and
 * fsyncs the directory so the rename itself survives a power loss. Creates the parent directory
 * with mode 0700 when missing.
 *
 * Throws the underlying Node.js error on failure; callers wrap it in the `McpAuthError` that fits
 * their context.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Same directory as the target: rename is only atomic within one filesystem.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      // The umask may have narrowed `mode` at creation; the caller asked for exactly this one.
      await fh.chmod(mode);
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some platforms and filesystems (Windows, some network mounts) cannot fsync a directory; the
    // rename has already happened, so durability is merely best effort there.
    const code = errnoCode(err);
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') {
      throw err;
    }
  } finally {
    await fh?.close();
  }
}

/**
 * Reads a UTF-8 file, or returns `undefined` when it does not exist. Every other error (permission
 * denied, is a directory, …) is thrown: treating those as "missing" would silently lose data.
 */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
