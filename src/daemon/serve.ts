/**
 * Runs the daemon: one per MCP_AUTH_HOME, on 127.0.0.1, with its address and API token in the
 * runtime file `daemon.json` (0600 in a 0700 directory) for clients to find.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readFile, unlink } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { RuntimeFile } from '../api-types.js';
import type { Paths } from '../config/paths.js';
import { ErrorCode, McpAuthError } from '../errors.js';
import { errnoCode, writeFileAtomic } from '../util/atomic-file.js';
import { buildApp } from './app.js';
import type { DaemonBroker } from './broker-port.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { createLogger, loggerOptions, type Logger } from './logger.js';
import { ensureRuntimeDir } from './runtime-dir.js';

export const LOCK_FILE_NAME = 'daemon.lock';
const LISTEN_BACKLOG = 4096;

export interface ServeOptions {
  paths: Paths;
  /** A fixed port; default 0 (a free one, chosen by the OS). */
  port?: number;
  broker: DaemonBroker;
  version: string;
  /**
   * Where the log goes: a pino logger; a line sink (each JSON log line is handed to it); false for
   * none. Default: pino on stderr.
   */
  log?: Logger | ((line: string) => void) | false;
  /**
   * Close on SIGTERM/SIGINT and let the process exit 0 (a second signal exits at once). Default
   * true; turn off when the caller handles signals itself (and calls `close()`).
   */
  handleSignals?: boolean;
  /** How long `close()` lets in-flight requests finish before cutting connections. Default 10 s. */
  drainTimeoutMs?: number;
}

export interface DaemonHandle {
  port: number;
  /** Stops accepting, drains in-flight requests, closes the broker, removes the runtime file. Idempotent. */
  close(): Promise<void>;
}

function makeLogger(log: ServeOptions['log']): Logger | false {
  if (log === false) return false;
  if (log === undefined) return createLogger();
  if (typeof log === 'function') {
    const sink = log;
    return pino(loggerOptions(), { write: (line: string) => sink(line.replace(/\n$/, '')) });
  }
  return log;
}

function sameRuntime(a: RuntimeFile, text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const b = JSON.parse(text) as Partial<RuntimeFile>;
    return b.pid === a.pid && b.port === a.port && b.token === a.token;
  } catch {
    return false;
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Starts the daemon. Refuses to start when the runtime directory is open to others (CONFIG_INVALID)
 * or another daemon holds this home (DAEMON_RUNNING, naming its pid). A runtime file left by a
 * crashed daemon is replaced: whoever holds the instance lock owns the runtime file.
 *
 * Calls `broker.startBackgroundRefresh()` once listening; `close()` calls `broker.close()`. On a
 * failed start the broker is left to the caller, untouched.
 */
export async function serve(opts: ServeOptions): Promise<DaemonHandle> {
  const { paths } = opts;
  const logger = makeLogger(opts.log);
  await ensureRuntimeDir(paths.runtimeDir);
  const lock: InstanceLock = await acquireInstanceLock(join(paths.runtimeDir, LOCK_FILE_NAME), { home: paths.home });

  let app: FastifyInstance | undefined;
  let runtime: RuntimeFile;
  try {
    const previous = await readIfExists(paths.runtimeFile);
    if (previous !== undefined && logger) logger.warn({ runtimeFile: paths.runtimeFile }, 'replacing the runtime file of a daemon that is gone');

    const token = randomBytes(32).toString('base64url');
    const startedAt = Date.now();
    let boundPort = 0;
    app = buildApp({ broker: opts.broker, token, port: () => boundPort, logger, version: opts.version, startedAt });
    try {
      // A deep accept queue: a burst of clients (every MCP connection of every tool starting at
      // once) must not overflow Node's default of 511 and wait a 1 s SYN retransmit. The kernel
      // caps it at net.core.somaxconn.
      await app.listen({ host: '127.0.0.1', port: opts.port ?? 0, backlog: LISTEN_BACKLOG });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new McpAuthError(ErrorCode.ConfigInvalid, `cannot listen on 127.0.0.1:${opts.port ?? 0} (${code})`, {
          hint: 'Pick another port with --port, or leave it out to use a free one',
          cause: err,
        });
      }
      throw err;
    }
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new McpAuthError(ErrorCode.Internal, 'listening socket has no port');
    boundPort = address.port;

    runtime = { pid: process.pid, port: boundPort, token, startedAt, version: opts.version };
    await writeFileAtomic(paths.runtimeFile, `${JSON.stringify(runtime)}\n`, 0o600);
  } catch (err) {
    await app?.close().catch(() => undefined);
    await lock.release();
    throw err;
  }

  opts.broker.startBackgroundRefresh();
  if (logger) logger.info({ port: runtime.port, pid: runtime.pid, version: runtime.version }, 'mcp-auth daemon listening on 127.0.0.1');

  const listening = app;
  let closing: Promise<void> | undefined;
  const drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // fastify.close(): stop accepting, answer newcomers 503, let in-flight requests finish
      // (long-polls return early via preClose). A request stuck past the drain timeout is cut.
      const cut = setTimeout(() => listening.server.closeAllConnections(), drainTimeoutMs);
      cut.unref();
      try {
        await listening.close();
      } finally {
        clearTimeout(cut);
      }
      try {
        await opts.broker.close();
      } finally {
        // Only our own runtime file: a daemon that took over after us must not be disowned.
        if (sameRuntime(runtime, await readIfExists(paths.runtimeFile).catch(() => undefined))) {
          await unlink(paths.runtimeFile).catch(() => undefined);
        }
        await lock.release();
        removeSignalHandlers();
        if (logger) logger.info('mcp-auth daemon stopped');
      }
    })());

  let signalled = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled++;
    if (signalled > 1) {
      // Second signal: the person wants out now.
      process.exit(1);
    }
    if (logger) logger.info({ signal }, 'shutting down');
    close().then(
      () => {
        process.exitCode ??= 0;
        // Something left holding the event loop must not keep a stopped daemon alive.
        setTimeout(() => process.exit(), 2_000).unref();
      },
      (err: unknown) => {
        if (logger) logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const handleSignals = opts.handleSignals ?? true;
  function removeSignalHandlers(): void {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  if (handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  return { port: runtime.port, close };
}
