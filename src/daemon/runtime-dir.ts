import { lstat, mkdir } from 'node:fs/promises';
import { ErrorCode, McpAuthError } from '../errors.js';

/**
 * Creates the runtime directory (mode 0700) or checks the existing one: it holds the API token, so
 * it must be a real directory (not a symlink), ours, and closed to group and others. An unsafe one
 * is refused rather than fixed: someone else may already have read or planted files in it.
 *
 * @throws McpAuthError `CONFIG_INVALID` naming the directory and the fix.
 */
export async function ensureRuntimeDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const refuse = (why: string, hint: string): McpAuthError =>
    new McpAuthError(ErrorCode.ConfigInvalid, `refusing to start: the runtime directory ${dir} ${why}`, { hint });
  if (st.isSymbolicLink() || !st.isDirectory()) throw refuse('is not a directory', `Remove ${dir} and start again`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw refuse('belongs to another user', `Remove ${dir} (or set MCP_AUTH_HOME) and start again`);
  if ((st.mode & 0o077) !== 0) {
    throw refuse(
      `is accessible to ${st.mode & 0o070 ? 'its group' : 'other users'} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`,
      `Run: chmod 700 ${dir}`,
    );
  }
}
