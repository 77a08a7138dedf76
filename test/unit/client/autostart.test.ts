// Autostart: a caller that finds no daemon starts one — exactly one, however many callers race —
// detached, in / with its output in the log file, without MCP_CLIENT_SECRET; and gives up in time
// when none becomes ready. A stand-in daemon (fake-daemon-bin.mjs) replaces `mcp-auth serve`.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
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
  it("drops the caller's secret and per-call switches, keeps the rest, makes MCP_AUTH_HOME absolute", () => {
    const out = daemonEnv({ ...env, MCP_AUTH_HOME: 'relative/home' }, { home: '/abs/relative/home' });
    expect(out.MCP_CLIENT_SECRET).toBeUndefined();
    expect(out.MCP_AUTH_NO_DAEMON).toBeUndefined();
    expect(out.CLAUDE_CODE_MCP_SERVER_NAME).toBeUndefined();
    expect(out.KEEP_ME).toBe('yes');
    expect(out.MCP_AUTH_HOME).toBe('/abs/relative/home');
    expect(daemonEnv({ PATH: '/bin' }, { home: '/x' }).MCP_AUTH_HOME).toBeUndefined();
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

  it('runs `<node> <bin> serve` in / without the caller secret, with its output in the log file', { timeout: 15_000 }, async () => {
    const conn = await connectOrStart(paths, env, { binPath: FAKE_BIN });
    expect(conn).toBeDefined();
    const seen = await daemonSeen(conn!.runtime.pid);
    expect(seen.argv).toEqual(['serve']);
    expect(seen.cwd).toBe('/');
    expect(seen.env.MCP_CLIENT_SECRET).toBeUndefined();
    expect(seen.env.KEEP_ME).toBe('yes');
    expect(seen.env.MCP_AUTH_HOME).toBe(dir);
    const log = await readFile(paths.logFile, 'utf8');
    expect(log).toContain(`fake daemon ${conn!.runtime.pid} listening`);
    // The runtime directory was created private.
    const { stat } = await import('node:fs/promises');
    expect((await stat(paths.runtimeDir)).mode & 0o777).toBe(0o700);
    expect((await stat(paths.logFile)).mode & 0o777).toBe(0o600);
  });

  it('gives up at once when the daemon exits during start-up', { timeout: 15_000 }, async () => {
    const t0 = Date.now();
    const conn = await connectOrStart(paths, { ...env, FAKE_DAEMON_MODE: 'exit' }, { binPath: FAKE_BIN, timeoutMs: 5_000 });
    expect(conn).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(await started()).toHaveLength(1);
    // And leaves no lock behind.
    expect((await readdir(paths.runtimeDir)).filter((f) => f.includes('lock'))).toEqual([]);
  });

  it('gives up after the timeout when the daemon never becomes ready', { timeout: 15_000 }, async () => {
    const t0 = Date.now();
    const conn = await connectOrStart(paths, { ...env, FAKE_DAEMON_MODE: 'silent' }, { binPath: FAKE_BIN, timeoutMs: 600 });
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
