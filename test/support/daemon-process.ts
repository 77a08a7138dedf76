// Real `mcp-auth serve` processes started by a test itself (not autostarted), so the test owns
// their PIDs: it can SIGKILL one at an exact moment and is sure to stop every one it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { resolvePaths } from '../../src/config/paths.js';
import { readRuntimeFile } from '../../src/client/runtime.js';
import { BIN } from './cli.js';
import { DaemonApi } from './daemon-api.js';

export interface DaemonProcess {
  pid: number;
  port: number;
  child: ChildProcess;
  /** The API of this daemon (port and token from its runtime file). */
  api: DaemonApi;
  /** Resolves when the process has exited (and been reaped). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (clean shutdown), SIGKILL if it is still there after `graceMs`; waits until gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Every daemon started through {@link startDaemon} and not yet known to be gone. */
const started = new Set<DaemonProcess>();

/**
 * Spawns `mcp-auth serve` with `env` (its output appended to `logFile`) and waits until its runtime
 * file names it and it answers `/v1/health` with its own PID.
 */
export async function startDaemon(env: NodeJS.ProcessEnv, logFile: string, timeoutMs = 15_000): Promise<DaemonProcess> {
  const paths = resolvePaths(env);
  const fd = openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn `mcp-auth serve`');

  const deadline = Date.now() + timeoutMs;
  let api: DaemonApi | undefined;
  let port = 0;
  while (api === undefined) {
    if (!running) {
      const { code, signal } = await exited;
      throw new Error(`mcp-auth serve exited (${code ?? signal}) before it was ready; log:\n${await readFile(logFile, 'utf8').catch(() => '')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`mcp-auth serve was not ready within ${timeoutMs} ms; log:\n${await readFile(logFile, 'utf8').catch(() => '')}`);
    }
    const rt = await readRuntimeFile(paths);
    if (rt && rt.pid === pid) {
      const candidate = new DaemonApi(rt.port, rt.token);
      const health = await candidate.request('GET', '/v1/health').catch(() => undefined);
      if (health?.status === 200 && (health.json as { pid?: number }).pid === pid) {
        api = candidate;
        port = rt.port;
        break;
      }
    }
    await sleep(25);
  }

  const daemon: DaemonProcess = {
    pid,
    port,
    child,
    api,
    exited,
    get running() {
      return running;
    },
    async kill() {
      if (running) child.kill('SIGKILL');
      await exited;
      started.delete(daemon);
    },
    async stop(graceMs = 10_000) {
      if (running) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      started.delete(daemon);
    },
  };
  started.add(daemon);
  void exited.then(() => started.delete(daemon));
  return daemon;
}

/** Stops every daemon this process started that is still running (for afterAll). */
export async function stopAllDaemons(): Promise<void> {
  await Promise.all([...started].map((d) => d.stop()));
}
