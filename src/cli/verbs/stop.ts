/**
 * `mcp-auth stop`: asks the running daemon to exit (SIGTERM: it drains in-flight requests and
 * removes its runtime file) and waits until it has. Only a process that answers `/v1/health` with
 * the runtime file's token and PID is signalled, so a reused PID is never killed.
 */
import { connect } from '../../client/autostart.js';
import { isRunning, readRuntimeFile, removeRuntimeFileIf } from '../../client/runtime.js';
import { resolvePaths } from '../../config/paths.js';
import { ErrorCode, McpAuthError } from '../../errors.js';
import { noExtra, parse } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth stop [--timeout SECONDS]';
const DEFAULT_WAIT_MS = 15_000;

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { timeout: { type: 'string' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 0, USAGE);
  let waitMs = DEFAULT_WAIT_MS;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!Number.isFinite(s) || s <= 0) throw new McpAuthError(ErrorCode.Usage, `--timeout must be a number of seconds, got "${values.timeout}"`, { hint: `Usage: ${USAGE}` });
    waitMs = s * 1000;
  }
  const paths = resolvePaths(io.env);

  const runtime = await readRuntimeFile(paths);
  if (!runtime) {
    io.stderr('The mcp-auth daemon is not running.\n');
    return 0;
  }
  if (!(await isRunning(runtime.pid))) {
    // A crashed daemon's leftovers: nothing to stop, but tidy up.
    await removeRuntimeFileIf(paths, runtime);
    io.stderr(`The mcp-auth daemon is not running (removed the runtime file of exited pid ${runtime.pid}).\n`);
    return 0;
  }
  const conn = await connect(paths, { healthTimeoutMs: 3_000 });
  if (!conn || conn.runtime.pid !== runtime.pid) {
    throw new McpAuthError(ErrorCode.Network, `pid ${runtime.pid} named in ${paths.runtimeFile} does not answer as the mcp-auth daemon; not signalling it`, {
      hint: `If no mcp-auth daemon is running, delete ${paths.runtimeFile}`,
    });
  }

  try {
    process.kill(runtime.pid, 'SIGTERM');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
  const deadline = Date.now() + waitMs;
  while (await isRunning(runtime.pid)) {
    if (Date.now() >= deadline) {
      throw new McpAuthError(ErrorCode.Timeout, `the mcp-auth daemon (pid ${runtime.pid}) did not exit within ${Math.round(waitMs / 1000)} s`, {
        hint: `It may still be finishing requests; if it hangs, run: kill -9 ${runtime.pid}`,
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await removeRuntimeFileIf(paths, runtime);
  io.stderr(`Stopped the mcp-auth daemon (pid ${runtime.pid}).\n`);
  return 0;
}
