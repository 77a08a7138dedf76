/**
 * How a verb reaches the daemon: the running one, else one it starts (see client/autostart.ts),
 * unless `MCP_AUTH_NO_DAEMON=1` asks for everything in-process (CI jobs that want no background
 * process). Imports only client code: this is on the `mcp-auth headers` path.
 */
import { connectOrStart, type DaemonConnection } from '../client/autostart.js';
import { DaemonUnreachableError } from '../client/daemon-client.js';
import type { Paths } from '../config/paths.js';
import type { CliIO } from './io.js';

/** Whether `MCP_AUTH_NO_DAEMON` asks for in-process work (set, and not "0"/"false"/"no"). */
export function daemonDisabled(env: NodeJS.ProcessEnv): boolean {
  const v = env.MCP_AUTH_NO_DAEMON?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

/** The daemon to talk to, or `undefined` when disabled or not ready within ~3 s. */
export async function daemonFor(io: CliIO, paths: Paths): Promise<DaemonConnection | undefined> {
  if (daemonDisabled(io.env)) return undefined;
  return connectOrStart(paths, io.env);
}

/** Whether a failed call left the daemon's side unknown (unreachable, timed out), so in-process may retry it. */
export function isUnreachable(e: unknown): e is DaemonUnreachableError {
  return e instanceof DaemonUnreachableError;
}

export function debug(io: CliIO, line: string): void {
  if (io.env.MCP_AUTH_DEBUG) io.stderr(`mcp-auth: ${line}\n`);
}
