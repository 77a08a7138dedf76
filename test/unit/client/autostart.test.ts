// Autostart: a caller that finds no daemon starts one — exactly one, however many callers race —
// detached, in / with its output in the log file, with an allow-listed environment (never
// MCP_CLIENT_SECRET nor the caller's other variables); and gives up in time when none becomes
// ready. A stand-in daemon (fake-daemon-bin.mjs) replaces `mcp-auth serve`.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { connect, connectOrStart, daemonEnv } from '../../../src/client/autostart.js';
import { resolvePaths, type Paths } from '../../../src/config/paths.js';
import { startFakeDaemon } from './fake-daemon.js';

const FAKE_BIN = fileURLToPath(new URL('./fake-daemon-bin.mjs', import.meta.url));

let dir: string;
let paths: Paths;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-autostart-'));
  env = { PATH: process.env.PATH, HOME: dir, MCP_AUTH_HOME: dir, MCP_CLIENT_SECRET: 'caller-secret', MCP_AUTH_NO_DAEMON: '', CLAUDE_CODE_MCP_SERVER_NAME: 'x', KEEP_ME: 'yes' };
  paths = resolvePaths(env);
});

afterEach(async () => {
  for (const pid of await started()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function started(): Promise<number[]> {
  const text = await readFile(join(dir, 'starts.txt'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

async function daemonSeen(pid: number): Promise<{ env: NodeJS.ProcessEnv; argv: string[]; cwd: string }> {
  return JSON.parse(await readFile(join(dir, `env-${pid}.json`), 'utf8')) as { env: NodeJS.ProcessEnv; argv: string[]; cwd: string };
}

describe('daemonEnv', () => {
  /** Every variable the daemon may inherit, with a value. */
  const allowed: NodeJS.ProcessEnv = {
    PATH: '/bin',
    HOME: '/home/u',
    USER: 'u',
    LOGNAME: 'u',
    SHELL: '/bin/sh',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    LC_CTYPE: 'C.UTF-8',
    LC_MESSAGES: 'C',
    TZ: 'UTC',
    TMPDIR: '/tmp',
    XDG_CONFIG_HOME: '/x/config',
    XDG_DATA_HOME: '/x/data',
    XDG_STATE_HOME: '/x/state',
    XDG_RUNTIME_DIR: '/run/user/1000',
    XDG_CACHE_HOME: '/x/cache',
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
    DISPLAY: ':0',
    WAYLAND_DISPLAY: 'wayland-0',
    MCP_AUTH_HOME: '/abs/home',
    MCP_AUTH_STORE: 'file',
    NODE_EXTRA_CA_CERTS: '/etc/ca.pem',
    SSL_CERT_FILE: '/etc/ssl/cert.pem',
    SSL_CERT_DIR: '/etc/ssl/certs',
    HTTPS_PROXY: 'http://proxy:3128',
    HTTP_PROXY: 'http://proxy:3128',
    NO_PROXY: 'localhost',
    https_proxy: 'http://proxy:3128',
    http_proxy: 'http://proxy:3128',
    no_proxy: 'localhost',
  };

  it('passes exactly the allow-listed variables (paths, locale, session, CA certificates, proxies)', () => {
    expect(daemonEnv(allowed, { home: '/abs/home' })).toEqual(allowed);
  });

  it("drops everything else: the caller's secret, per-call switches, ${VAR} sources, anything unknown", () => {
    const caller: NodeJS.ProcessEnv = {
      ...allowed,
      MCP_CLIENT_SECRET: 'caller-secret',
      MCP_AUTH_NO_DAEMON: '',
      MCP_AUTH_DEBUG: '1',
      CLAUDE_CODE_MCP_SERVER_NAME: 'x',
      MCP_AUTH_TEST_CANARY_VAR: 'canary',
      API_KEY: 'sk-caller',
      TEAM: 'blue',
      NODE_OPTIONS: '--require /tmp/evil.js',
      XDG_SESSION_ID: '3',
      LC_: 'x',
      lc_all: 'x',
      AWS_SECRET_ACCESS_KEY: 'aws',
    };
    expect(daemonEnv(caller, { home: '/abs/home' })).toEqual(allowed);
  });

  it('makes MCP_AUTH_HOME absolute, and adds none when the caller has none', () => {
    expect(daemonEnv({ ...env, MCP_AUTH_HOME: 'relative/home' }, { home: '/abs/relative/home' }).MCP_AUTH_HOME).toBe('/abs/relative/home');
    expect(daemonEnv({ PATH: '/bin' }, { home: '/x' })).toEqual({ PATH: '/bin' });
  });
});

describe('connect', () => {
  it('uses a runtime file whose live PID answers health with that PID', async () => {
    const fake = await startFakeDaemon();
    try {
      expect(await connect(paths)).toBeUndefined();
      await fake.writeRuntime(paths.runtimeFile);
      const conn = await connect(paths);
      expect(conn?.runtime.port).toBe(fake.port);
      expect(conn?.started).toBe(false);
    } finally {
      await fake.close();
    }
  });

  it('ignores a daemon answering for another PID (reused PID, stale file) and a dead PID', async () => {
    const fake = await startFakeDaemon({ pid: 1 });
    try {
      await fake.writeRuntime(paths.runtimeFile, { pid: process.pid });
      expect(await connect(paths)).toBeUndefined();
      await fake.writeRuntime(paths.runtimeFile, { pid: 2 ** 22 + 12345 });
      expect(await connect(paths)).toBeUndefined();
    } finally {
      await fake.close();
    }
  });
});

describe('connectOrStart', () => {
  it('starts one daemon for concurrent callers; every caller gets it', { timeout: 15_000 }, async () => {
    const conns = await Promise.all(Array.from({ length: 5 }, () => connectOrStart(paths, env, { binPath: FAKE_BIN })));
    const pids = await started();
    expect(pids).toHaveLength(1);
    for (const c of conns) expect(c?.runtime.pid).toBe(pids[0]);
    expect(conns.filter((c) => c?.started)).toHaveLength(1);
    // A later caller connects without starting anything.
    const later = await connectOrStart(paths, env, { binPath: FAKE_BIN });
    expect(later).toMatchObject({ started: false, runtime: { pid: pids[0] } });
    expect(await started()).toHaveLength(1);
  });

  it('runs `<node> <bin> serve` in / with only allow-listed variables, its output in the log file', { timeout: 15_000 }, async () => {
    const conn = await connectOrStart(paths, { ...env, MCP_AUTH_TEST_CANARY_VAR: 'canary-from-the-caller' }, { binPath: FAKE_BIN });
    expect(conn).toBeDefined();
    const seen = await daemonSeen(conn!.runtime.pid);
    expect(seen.argv).toEqual(['serve']);
    expect(seen.cwd).toBe('/');
    expect(seen.env.MCP_CLIENT_SECRET).toBeUndefined();
    expect(seen.env.KEEP_ME).toBeUndefined();
    expect(seen.env.MCP_AUTH_TEST_CANARY_VAR).toBeUndefined();
    expect(seen.env.MCP_AUTH_HOME).toBe(dir);
    expect(seen.env.HOME).toBe(dir);
    expect(seen.env.PATH).toBe(process.env.PATH);
    const log = await readFile(paths.logFile, 'utf8');
    expect(log).toContain(`fake daemon ${conn!.runtime.pid} listening`);
    // The runtime directory was created private.
    const { stat } = await import('node:fs/promises');
    expect((await stat(paths.runtimeDir)).mode & 0o777).toBe(0o700);
    expect((await stat(paths.logFile)).mode & 0o777).toBe(0o600);
  });

  it('gives up at once when the daemon exits during start-up', { timeout: 15_000 }, async () => {
    const t0 = Date.now();
    await writeFile(join(dir, 'fake-mode'), 'exit');
    const conn = await connectOrStart(paths, env, { binPath: FAKE_BIN, timeoutMs: 5_000 });
    expect(conn).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(await started()).toHaveLength(1);
    // And leaves no lock behind.
    expect((await readdir(paths.runtimeDir)).filter((f) => f.includes('lock'))).toEqual([]);
  });

  it('gives up after the timeout when the daemon never becomes ready', { timeout: 15_000 }, async () => {
    const t0 = Date.now();
    await writeFile(join(dir, 'fake-mode'), 'silent');
    const conn = await connectOrStart(paths, env, { binPath: FAKE_BIN, timeoutMs: 600 });
    const took = Date.now() - t0;
    expect(conn).toBeUndefined();
    expect(took).toBeGreaterThanOrEqual(500);
    expect(took).toBeLessThan(2_500);
  });

  it('starts nothing with autostart: false', async () => {
    expect(await connectOrStart(paths, env, { binPath: FAKE_BIN, autostart: false })).toBeUndefined();
    expect(existsSync(join(dir, 'starts.txt'))).toBe(false);
  });
});

describe('connectOrStart with an unsafe runtime directory', () => {
  it('starts nothing when the runtime directory is open to others (the daemon would refuse it)', async () => {
    const { chmod, mkdir } = await import('node:fs/promises');
    await mkdir(paths.runtimeDir, { recursive: true, mode: 0o700 });
    await chmod(paths.runtimeDir, 0o755);
    const t0 = Date.now();
    expect(await connectOrStart(paths, env, { binPath: FAKE_BIN })).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(existsSync(join(dir, 'starts.txt'))).toBe(false);
  });
});
