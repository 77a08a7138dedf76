/**
 * How failures reach the terminal: `mcp-auth: <message>` and a hint line on stderr, or the
 * error object on stdout with `--json`; the exit code says which kind (0, 1, 2 usage, 3 login).
 */
import { ErrorCode, ExitCode, McpAuthError, isMcpAuthError } from '../errors.js';
import type { CliIO } from './io.js';

export function usageError(message: string, hint?: string): McpAuthError {
  return new McpAuthError(ErrorCode.Usage, message, { hint: hint ?? 'Run: mcp-auth help' });
}

export function reportError(io: CliIO, err: unknown, json = false): number {
  const e = isMcpAuthError(err)
    ? err
    : new McpAuthError(ErrorCode.Internal, err instanceof Error && err.name !== 'Error' ? `unexpected ${err.name}` : 'unexpected error', {
        hint: 'Run again with MCP_AUTH_DEBUG=1 for details, and report it.',
        cause: err,
      });
  if (json) {
    io.stdout(JSON.stringify({ error: e.toJSON() }) + '\n');
  } else {
    io.stderr(`mcp-auth: ${e.message} [${e.code}]\n`);
    if (e.hint) io.stderr(`  hint: ${e.hint}\n`);
  }
  if (io.env.MCP_AUTH_DEBUG && !isMcpAuthError(err) && err instanceof Error) io.stderr(`${err.stack ?? err.message}\n`);
  return e.exitCode ?? ExitCode.Error;
}
