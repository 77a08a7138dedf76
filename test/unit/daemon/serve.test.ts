import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeFile } from '../../../src/api-types.js';
import { resolvePaths, type Paths } from '../../../src/config/paths.js';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { DAEMON_RUNNING } from '../../../src/daemon/instance-lock.js';
import { LOCK_FILE_NAME, serve, type DaemonHandle } from '../../../src/daemon/serve.js';
import { stubBroker } from './support.js';

const homes: string[] = [];
const handles: DaemonHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close()));
  await Promise.all(homes.splice(0).map((h) => rm(h, { recursive: true, force: true })));
});

function tempPaths(): Paths {
  const home = mkdtempSync(join(tmpdir(), 'mcp-auth-serve-'));
  homes.push(home);
  return resolvePaths({ MCP_AUTH_HOME: home });
}

async function start(paths: Paths, extra: { port?: number } = {}): Promise<{ handle: DaemonHandle; broker: ReturnType<typeof stubBroker> }> {
  const broker = stubBroker();
  const handle = await serve({ paths, broker, version: '1.2.3', log: false, handleSignals: false, ...extra });
  handles.push(handle);
  return { handle, broker };
}

function get(port: number, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function readRuntime(paths: Paths): RuntimeFile {
  return JSON.parse(readFileSync(paths.runtimeFile, 'utf8')) as RuntimeFile;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('serve', () => {
  it('listens on 127.0.0.1 and writes the runtime file 0600 in a 0700 directory', async () => {
    const paths = tempPaths();
    const before = Date.now();
    const { handle, broker } = await start(paths);
    expect(statSync(paths.runtimeDir).mode & 0o777).toBe(0o700);
    expect(statSync(paths.runtimeFile).mode & 0o777).toBe(0o600);
    const rt = readRuntime(paths);
    expect(Object.keys(rt).sort()).toEqual(['pid', 'port', 'startedAt', 'token', 'version']);
    expect(rt).toMatchObject({ pid: process.pid, port: handle.port, version: '1.2.3' });
    expect(rt.startedAt).toBeGreaterThanOrEqual(before);
    // 32 random bytes, base64url.
    expect(rt.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(rt.token, 'base64url')).toHaveLength(32);

    const health = await get(handle.port, '/v1/health', rt.token);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, pid: process.pid, version: '1.2.3' });
    expect((await get(handle.port, '/v1/health', 'x'.repeat(43))).status).toBe(401);
    expect(broker.startBackgroundRefresh).toHaveBeenCalledTimes(1);
  });

  it('a fresh token per start', async () => {
    const paths = tempPaths();
    const a = await start(paths);
    const t1 = readRuntime(paths).token;
    await a.handle.close();
    await start(paths);
    expect(readRuntime(paths).token).not.toBe(t1);
  });

  it('binds loopback only', async () => {
    const paths = tempPaths();
    const { handle } = await start(paths);
    // Something else may bind the same port on another address: we do not hold 0.0.0.0.
    const probe = createServer();
    const outcome = await new Promise<string>((resolve) => {
      probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      probe.listen({ host: '127.0.0.2', port: handle.port }, () => resolve('bound'));
    });
    probe.close();
    expect(outcome).toBe('bound');
  });

  it('close() drains, closes the broker, removes the runtime file and the lock', async () => {
    const paths = tempPaths();
    const { handle, broker } = await start(paths);
    const lock = join(paths.runtimeDir, LOCK_FILE_NAME);
    expect(existsSync(lock)).toBe(true);
    await handle.close();
    await handle.close(); // idempotent
    expect(existsSync(paths.runtimeFile)).toBe(false);
    expect(existsSync(lock)).toBe(false);
    expect(broker.close).toHaveBeenCalledTimes(1);
    await expect(get(handle.port, '/v1/health', 'x')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('close() does not wait for long-polls: they answer at once with the current view', async () => {
    const paths = tempPaths();
    const { handle, broker } = await start(paths);
    broker.waitLogin.mockImplementation(() => new Promise(() => undefined));
    const token = readRuntime(paths).token;
    const poll = get(handle.port, '/v1/logins/login-abc_123?wait=60', token);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await handle.close();
    const res = await poll;
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ login: { id: 'login-abc_123', status: 'pending' } });
  });

  it('close() leaves a runtime file that is no longer ours', async () => {
    const paths = tempPaths();
    const { handle } = await start(paths);
    const other = { ...readRuntime(paths), pid: 1, token: 'someone-else' };
    writeFileSync(paths.runtimeFile, JSON.stringify(other), { mode: 0o600 });
    await handle.close();
    expect(readRuntime(paths)).toEqual(other);
  });

  it('refuses to start when the runtime directory is group/world accessible', async () => {
    for (const mode of [0o755, 0o750, 0o701]) {
      const paths = tempPaths();
      mkdirSync(paths.runtimeDir, { mode: 0o700 });
      chmodSync(paths.runtimeDir, mode);
      const broker = stubBroker();
      const err = await rejection(serve({ paths, broker, version: 't', log: false, handleSignals: false }));
      expect(isMcpAuthError(err, ErrorCode.ConfigInvalid), String(err)).toBe(true);
      expect((err as Error).message).toContain(paths.runtimeDir);
      expect((err as { hint?: string }).hint).toBe(`Run: chmod 700 ${paths.runtimeDir}`);
      expect(existsSync(paths.runtimeFile)).toBe(false);
      expect(broker.startBackgroundRefresh).not.toHaveBeenCalled();
    }
  });

  it('refuses a symlinked runtime directory', async () => {
    const paths = tempPaths();
    const real = join(paths.home, 'elsewhere');
    mkdirSync(real, { mode: 0o700 });
    const { symlinkSync } = await import('node:fs');
    symlinkSync(real, paths.runtimeDir);
    const err = await rejection(serve({ paths, broker: stubBroker(), version: 't', log: false, handleSignals: false }));
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
  });

  it('replaces a stale runtime file and lock left by a crashed daemon', async () => {
    const paths = tempPaths();
    const pid = await deadPid();
    mkdirSync(paths.runtimeDir, { mode: 0o700 });
    writeFileSync(paths.runtimeFile, JSON.stringify({ pid, port: 1, token: 'old-token-old-token-old-token-old-token-xx', startedAt: 1, version: 'old' }), { mode: 0o600 });
    writeFileSync(join(paths.runtimeDir, LOCK_FILE_NAME), JSON.stringify({ pid, host: (await import('node:os')).hostname(), id: 'old', at: 1 }), { mode: 0o600 });
    const { handle } = await start(paths);
    const rt = readRuntime(paths);
    expect(rt.pid).toBe(process.pid);
    expect(rt.port).toBe(handle.port);
    expect(rt.version).toBe('1.2.3');
    expect(statSync(paths.runtimeFile).mode & 0o777).toBe(0o600);
  });

  it('a second daemon for the same home fails clearly, naming the pid; the first keeps serving', async () => {
    const paths = tempPaths();
    const { handle } = await start(paths);
    const token = readRuntime(paths).token;
    const broker = stubBroker();
    const err = await rejection(serve({ paths, broker, version: 't', log: false, handleSignals: false }));
    expect(isMcpAuthError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(DAEMON_RUNNING);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    expect((err as Error).message).toContain(paths.home);
    expect(broker.startBackgroundRefresh).not.toHaveBeenCalled();
    expect(readRuntime(paths).token).toBe(token);
    expect((await get(handle.port, '/v1/health', token)).status).toBe(200);
  });

  it('two daemons started at once: exactly one wins', async () => {
    const paths = tempPaths();
    const results = await Promise.allSettled([0, 1, 2].map(() => serve({ paths, broker: stubBroker(), version: 't', log: false, handleSignals: false })));
    const won = results.filter((r): r is PromiseFulfilledResult<DaemonHandle> => r.status === 'fulfilled');
    handles.push(...won.map((r) => r.value));
    expect(won).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect(((r as PromiseRejectedResult).reason as { code: string }).code).toBe(DAEMON_RUNNING);
    }
    expect(readRuntime(paths).port).toBe(won[0]!.value.port);
  });

  it('a fixed port in use → CONFIG_INVALID, and the lock is released', async () => {
    const paths = tempPaths();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await rejection(serve({ paths, port, broker: stubBroker(), version: 't', log: false, handleSignals: false }));
      expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
      expect((err as Error).message).toContain(String(port));
      expect(existsSync(join(paths.runtimeDir, LOCK_FILE_NAME))).toBe(false);
      expect(existsSync(paths.runtimeFile)).toBe(false);
    } finally {
      blocker.close();
    }
    // And it can start afterwards.
    await start(paths);
  });

  it('SIGTERM: drains an in-flight request, removes the runtime file, exits 0', async () => {
    const paths = tempPaths();
    const script = fileURLToPath(new URL('./fixtures/serve-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, MCP_AUTH_HOME: paths.home, SLOW_MS: '400' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`child exited early: ${stderr}`)));
    });
    const token = readRuntime(paths).token;
    const inFlight = get(port, '/v1/servers/demo/headers', token);
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ headers: { Authorization: 'Bearer child' } });
    expect(await exited).toBe(0);
    expect(stderr).toContain('broker closed');
    expect(existsSync(paths.runtimeFile)).toBe(false);
    expect(existsSync(join(paths.runtimeDir, LOCK_FILE_NAME))).toBe(false);
  }, 30_000);
});
