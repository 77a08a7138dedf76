/**
 * Finding the daemon, and starting it when it is not running (the way gpg-agent is started by its
 * first client): under a lock file, so that N concurrent `mcp-auth headers` start exactly one; in
 * a session of its own with its output going to the log file, never holding the caller's stdout
 * (Claude Code reads a headersHelper's stdout until it closes).
 */
import type { ChildProcess, spawn as spawnFn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RuntimeFile } from '../api-types.js';
import type { Paths } from '../config/paths.js';
import { DaemonClient } from './daemon-client.js';
import { isAlive, readRuntimeFile } from './runtime.js';

/** How long a caller waits for a daemon (its own start included) before doing without. */
export const DEFAULT_START_TIMEOUT_MS = 3_000;
const HEALTH_TIMEOUT_MS = 1_000;
const POLL_MS = 25;

/**
 * The only variables a started daemon inherits from the caller that happened to start it: what it
 * needs to find its files (the same paths as its callers), reach the network (CA certificates,
 * proxies) and run a headersHelper in the user's session. Nothing else: not `MCP_CLIENT_SECRET`,
 * not the per-call switches, not the values a `${VAR}` in servers.json refers to — every caller
 * lends those with each request (request-env.ts), so one caller's values never serve another.
 */
export const INHERITED = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'TZ',
  'TMPDIR',
  'XDG_CONFIG_HOME',
  'XDG_DATA_HOME',
  'XDG_STATE_HOME',
  'XDG_RUNTIME_DIR',
  'XDG_CACHE_HOME',
  'DBUS_SESSION_BUS_ADDRESS',
  'DISPLAY',
  'WAYLAND_DISPLAY',
  'MCP_AUTH_HOME',
  'MCP_AUTH_STORE',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
  'https_proxy',
  'http_proxy',
  'no_proxy',
] as const;
/** Locale categories (`LC_ALL`, `LC_CTYPE`, …) are inherited too. */
const INHERITED_LOCALE = /^LC_[A-Z]+$/;
const INHERITED_SET: ReadonlySet<string> = new Set(INHERITED);

export interface DaemonConnection {
  client: DaemonClient;
  runtime: RuntimeFile;
  /** Whether this call started the daemon. */
  started: boolean;
}

export interface ConnectOptions {
  /** Total budget in ms for finding or starting a daemon. Default 3000. */
  timeoutMs?: number;
  /** Start a daemon when none answers. Default true. */
  autostart?: boolean;
  /** The `mcp-auth` entry script to run as `<node> <bin> serve`. Default: this package's bin/mcp-auth.js. */
  binPath?: string;
  /** Swappable for tests. */
  spawn?: typeof spawnFn;
  /** Per-request timeout of the returned client. */
  requestTimeoutMs?: number;
}

/** The `mcp-auth` entry script of this installation (same relative place from src/ and dist/). */
export function defaultBinPath(): string {
  return fileURLToPath(new URL('../../bin/mcp-auth.js', import.meta.url));
}

/**
 * The environment a started daemon gets: the {@link INHERITED} variables of the caller (and
 * `LC_*`), nothing else, with `MCP_AUTH_HOME` made absolute (the daemon runs in `/`).
 */
export function daemonEnv(env: NodeJS.ProcessEnv, paths: Pick<Paths, 'home'>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (INHERITED_SET.has(name) || INHERITED_LOCALE.test(name))) out[name] = value;
  }
  if (out.MCP_AUTH_HOME !== undefined && out.MCP_AUTH_HOME !== '') out.MCP_AUTH_HOME = paths.home;
  return out;
}

/**
 * The running daemon, if the runtime file names a live process that answers `/v1/health` with the
 * token and reports the same PID (so a reused PID or a stale file is never trusted).
 */
export async function connect(
  paths: Pick<Paths, 'runtimeFile'>,
  opts: { healthTimeoutMs?: number; requestTimeoutMs?: number } = {},
): Promise<DaemonConnection | undefined> {
  const runtime = await readRuntimeFile(paths);
  if (!runtime || !isAlive(runtime.pid)) return undefined;
  const client = new DaemonClient({
    port: runtime.port,
    token: runtime.token,
    ...(opts.requestTimeoutMs !== undefined ? { timeoutMs: opts.requestTimeoutMs } : {}),
  });
  try {
    const health = await client.health({ timeoutMs: opts.healthTimeoutMs ?? HEALTH_TIMEOUT_MS });
    if (health?.ok !== true || health.pid !== runtime.pid) return undefined;
  } catch {
    return undefined;
  }
  return { client, runtime, started: false };
}

/**
 * Connects to the running daemon, or starts one and waits for it, all within `timeoutMs`.
 * Returns `undefined` when no daemon is ready in time (the caller then works in-process or says
 * so); never throws for a daemon that cannot be started — the reason is in the daemon log.
 */
export async function connectOrStart(
  paths: Paths,
  env: NodeJS.ProcessEnv,
  opts: ConnectOptions = {},
): Promise<DaemonConnection | undefined> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  const connectOpts = opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {};
  const running = await connect(paths, connectOpts);
  if (running || opts.autostart === false) return running;

  // Loaded only when a daemon has to be started: never on the hot path.
  const { withFileLock } = await import('../util/file-lock.js');
  const remaining = (): number => deadline - Date.now();
  try {
    return await withFileLock(
      `${paths.runtimeDir}/start.lock`,
      async () => {
        // Whoever held the lock before us may have started one.
        const now = await connect(paths, connectOpts);
        if (now) return now;
        // The daemon refuses a runtime directory others can enter; starting it would only cost time.
        if (!(await privateDir(paths.runtimeDir))) return undefined;
        const child = await spawnDaemon(paths, env, opts);
        const conn = await waitForDaemon(paths, child, deadline, connectOpts);
        return conn ? { ...conn, started: true } : undefined;
      },
      { timeoutMs: Math.max(1, remaining()), pollMs: POLL_MS },
    );
  } catch {
    // LOCK_TIMEOUT (another caller is still starting it) or a lock directory we cannot create:
    // one last look, then do without.
    return connect(paths, connectOpts);
  }
}

async function privateDir(dir: string): Promise<boolean> {
  const { lstat } = await import('node:fs/promises');
  try {
    const st = await lstat(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

async function spawnDaemon(paths: Paths, env: NodeJS.ProcessEnv, opts: ConnectOptions): Promise<ChildProcess> {
  const [{ spawn: realSpawn }, fs, { dirname }] = await Promise.all([
    import('node:child_process'),
    import('node:fs'),
    import('node:path'),
  ]);
  const spawn = opts.spawn ?? realSpawn;
  let logFd: number | 'ignore' = 'ignore';
  try {
    fs.mkdirSync(dirname(paths.logFile), { recursive: true, mode: 0o700 });
    logFd = fs.openSync(paths.logFile, 'a', 0o600);
  } catch {
    // No log rather than no daemon.
  }
  try {
    const child = spawn(process.execPath, [opts.binPath ?? defaultBinPath(), 'serve'], {
      // setsid(): its own session and process group, so the caller's terminal signals (Ctrl-C)
      // and the caller's exit do not reach it.
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: daemonEnv(env, paths),
      cwd: '/',
      windowsHide: true,
    });
    child.on('error', () => undefined);
    child.unref();
    return child;
  } finally {
    if (typeof logFd === 'number') fs.closeSync(logFd);
  }
}

async function waitForDaemon(
  paths: Paths,
  child: ChildProcess,
  deadline: number,
  connectOpts: { requestTimeoutMs?: number },
): Promise<DaemonConnection | undefined> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  child.once('error', onExit);
  try {
    for (;;) {
      const left = deadline - Date.now();
      const conn = await connect(paths, { ...connectOpts, healthTimeoutMs: Math.max(50, Math.min(HEALTH_TIMEOUT_MS, left)) });
      // Ours, or one that won a race with it (the loser exits and says so in the log).
      if (conn) return conn;
      if (exited || deadline - Date.now() <= 0) return exited ? connect(paths, connectOpts) : undefined;
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
    }
  } finally {
    child.off('exit', onExit);
    child.off('error', onExit);
  }
}
