/**
 * `mcp-auth serve [--port N]`: runs the daemon in the foreground (autostart runs exactly this,
 * detached, with its output in the log file). Binds 127.0.0.1 only; SIGTERM/SIGINT drain
 * in-flight requests and exit cleanly.
 *
 * The only verb that loads the broker's protocol stack and fastify, and only when it runs.
 */
import type { BrokerDeps } from '../../broker/deps.js';
import { portFlag } from '../args.js';
import { noExtra, parse } from '../args.js';
import { usageError } from '../errors.js';
import type { CliIO } from '../io.js';
import { VERSION } from '../version.js';
import { readRuntimeFile } from '../../client/runtime.js';
import type { Paths } from '../../config/paths.js';

const USAGE = 'mcp-auth serve [--port N]';

/**
 * The daemon's own environment: never one caller's secret (callers lend `MCP_CLIENT_SECRET` per
 * request), nor the per-call switches.
 */
export function serveEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out.MCP_CLIENT_SECRET;
  delete out.MCP_AUTH_NO_DAEMON;
  delete out.CLAUDE_CODE_MCP_SERVER_NAME;
  return out;
}

/** How often a running daemon checks that clients can still find it. */
const WATCHDOG_MS = 2_000;

/**
 * Calls `orphaned` once the runtime file is gone or names another daemon (deleted by hand, or its
 * whole home removed): nobody can reach this daemon any more, while it still holds the instance
 * lock, so every client would wait for a start that cannot succeed.
 */
function watchRuntimeFile(paths: Paths, port: number, orphaned: () => void): NodeJS.Timeout {
  let misses = 0;
  const timer = setInterval(() => {
    void readRuntimeFile(paths).then((rt) => {
      misses = rt && rt.pid === process.pid && rt.port === port ? 0 : misses + 1;
      // Two in a row: an unreadable moment (e.g. a full disk) does not stop a working daemon.
      if (misses === 2) orphaned();
    });
  }, WATCHDOG_MS);
  timer.unref();
  return timer;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { port: { type: 'string', short: 'p' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 0, USAGE);
  let port: number | undefined;
  try {
    port = portFlag(values.port);
  } catch {
    throw usageError(`--port must be a port number (1-65535), got "${values.port}"`, `Usage: ${USAGE}`);
  }

  const env = serveEnv(io.env);
  const [{ createDeps }, { Broker }, { serve }] = await Promise.all([
    import('../context.js'),
    import('../../broker/broker.js'),
    import('../../daemon/serve.js'),
  ]);
  const deps: BrokerDeps = {
    ...createDeps({ ...io, env }),
    // The daemon runs in no one's session: the CLI opens the URL in the user's.
    openBrowser: async () => ({ opened: false, reason: 'the daemon does not open browsers; the mcp-auth command shows the URL' }),
  };
  const broker = new Broker(deps);

  // Signals are ours (not the daemon's `handleSignals`), so the verb returns its exit code like any
  // other; a second signal exits at once. Signals that arrive while starting are honoured once up.
  let signalled = 0;
  let onStop!: (sig: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (onStop = resolve));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signalled > 1) process.exit(1);
    onStop(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    let handle: { port: number; close(): Promise<void> };
    try {
      handle = await serve({
        paths: deps.paths,
        ...(port !== undefined ? { port } : {}),
        broker,
        version: VERSION,
        log: (line) => io.stderr(`${line}\n`),
        handleSignals: false,
      });
    } catch (e) {
      // A failed start leaves the broker to us.
      await broker.close();
      throw e;
    }
    io.stdout(`mcp-auth daemon ${VERSION} (pid ${process.pid}) listening on 127.0.0.1:${handle.port}\n`);
    const watchdog = watchRuntimeFile(deps.paths, handle.port, () => {
      io.stderr(`mcp-auth daemon: ${deps.paths.runtimeFile} no longer names this daemon; no client can find it, shutting down\n`);
      onStop('SIGTERM');
    });
    await stopped;
    clearInterval(watchdog);
    // Drains in-flight requests, closes the broker, removes the runtime file.
    await handle.close();
    // Nothing left over (a keep-alive socket, a helper) may keep a stopped daemon alive.
    setTimeout(() => process.exit(), 2_000).unref();
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
