import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { withFileLock, withProcessMutex } from '../../../src/util/file-lock.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const lockModule = pathToFileURL(join(root, 'src/util/file-lock.ts')).href;

/** Runs an inline ESM script in a fresh Node process that can import our TypeScript sources. */
function runScript(script: string, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  const waitFor = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (stdout.includes(text)) resolve();
      };
      child.stdout.on('data', check);
      void done.then(() => (stdout.includes(text) ? resolve() : reject(new Error(`child exited: ${stderr}`))));
      check();
    });
  return { child, done, waitFor };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('close', r));
  return child.pid!;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectLockTimeout(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMcpAuthError(err, ErrorCode.LockTimeout)).toBe(true);
  expect((err as { hint?: string }).hint).toBeTruthy();
}

describe('withFileLock in one process', () => {
  it('serialises concurrent callers of the same path', async () => {
    const lock = join(dir, 'x.lock');
    let counter = 0;
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 25 }, () =>
        withFileLock(lock, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          const seen = counter;
          await sleep(1);
          counter = seen + 1;
          inside--;
        }),
      ),
    );
    expect(counter).toBe(25);
    expect(maxInside).toBe(1);
  });

  it('does not serialise different paths', async () => {
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        withFileLock(join(dir, `${n}.lock`), async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(30);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(3);
  });

  it('returns the result, writes the holder into the lock file and removes it afterwards', async () => {
    const lock = join(dir, 'sub', 'y.lock');
    const result = await withFileLock(lock, async () => {
      const content = JSON.parse(await readFile(lock, 'utf8')) as { pid: number; at: number };
      expect(content.pid).toBe(process.pid);
      expect(Math.abs(content.at - Date.now())).toBeLessThan(5_000);
      return 42;
    });
    expect(result).toBe(42);
    expect(await readdir(join(dir, 'sub'))).toEqual([]);
  });

  it('releases the lock when fn throws', async () => {
    const lock = join(dir, 'z.lock');
    await expect(
      withFileLock(lock, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readdir(dir)).toEqual([]);
    await expect(withFileLock(lock, async () => 'again', { timeoutMs: 200 })).resolves.toBe('again');
  });

  it('does not remove a lock file that is no longer its own', async () => {
    const lock = join(dir, 'w.lock');
    const foreign = JSON.stringify({ pid: process.pid, at: Date.now(), id: 'someone-else' });
    await withFileLock(lock, async () => {
      await writeFile(lock, foreign);
    });
    expect(await readFile(lock, 'utf8')).toBe(foreign);
  });

  it('gives up waiting in the in-process queue with LOCK_TIMEOUT without blocking later callers', async () => {
    const lock = join(dir, 'q.lock');
    const order: string[] = [];
    const first = withFileLock(lock, async () => {
      await sleep(200);
      order.push('first');
    });
    const impatient = withFileLock(lock, async () => order.push('impatient'), { timeoutMs: 50 });
    const patient = withFileLock(lock, async () => order.push('patient'));
    await expectLockTimeout(impatient);
    await Promise.all([first, patient]);
    expect(order).toEqual(['first', 'patient']);
  });

  it('grants the lock to waiting callers in arrival order', async () => {
    const lock = join(dir, 'fifo.lock');
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        withFileLock(lock, async () => {
          order.push(i);
          await sleep(2);
        }),
      ),
    );
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('fails with STORE_WRITE_FAILED when the lock file cannot be created at all', async () => {
    const notADir = join(dir, 'file');
    await writeFile(notADir, '');
    const err = await withFileLock(join(notADir, 'x.lock'), async () => 'never', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(isMcpAuthError(err, ErrorCode.StoreWriteFailed)).toBe(true);
  });
});

describe('withFileLock against other holders', () => {
  it('times out with LOCK_TIMEOUT while a live process holds the lock', async () => {
    const lock = join(dir, 'live.lock');
    // Our own PID is certainly alive; the lock file looks like another holder's.
    await writeFile(lock, JSON.stringify({ pid: process.pid, at: Date.now(), host: hostname(), id: 'other' }));
    const started = Date.now();
    await expectLockTimeout(withFileLock(lock, async () => 'never', { timeoutMs: 300 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await readdir(dir)).toEqual(['live.lock']);
  });

  it('breaks a lock whose holder is dead', async () => {
    const lock = join(dir, 'dead.lock');
    await writeFile(lock, JSON.stringify({ pid: await deadPid(), at: Date.now(), host: hostname() }));
    await expect(withFileLock(lock, async () => 'got it', { timeoutMs: 1_000 })).resolves.toBe('got it');
    expect(await readdir(dir)).toEqual([]);
  });

  it('breaks a lock whose holder is a zombie (exited, never reaped: a SIGKILLed daemon under a PID 1 that does not reap)', async () => {
    // `sleep 0.1` becomes the child of the exec'd `sleep 5`, which never waits for it.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number((await new Promise<string>((r) => parent.stdout!.once('data', (d: Buffer) => r(d.toString())))).trim());
      for (let i = 0; i < 50; i++) {
        const stat = await readFile(`/proc/${zombie}/stat`, 'utf8');
        if (stat.charAt(stat.lastIndexOf(')') + 2) === 'Z') break;
        await sleep(50);
      }
      const lock = join(dir, 'zombie.lock');
      await writeFile(lock, JSON.stringify({ pid: zombie, at: Date.now(), host: hostname() }));
      await expect(withFileLock(lock, async () => 'got it', { timeoutMs: 1_000 })).resolves.toBe('got it');
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('breaks a legacy lock without host whose holder is dead', async () => {
    const lock = join(dir, 'legacy.lock');
    await writeFile(lock, JSON.stringify({ pid: await deadPid(), at: Date.now() }));
    await expect(withFileLock(lock, async () => 'got it', { timeoutMs: 1_000 })).resolves.toBe('got it');
  });

  it('does not judge a PID from another host, until the lock goes stale', async () => {
    const lock = join(dir, 'remote.lock');
    await writeFile(lock, JSON.stringify({ pid: await deadPid(), at: Date.now(), host: 'some-other-host.invalid' }));
    await expectLockTimeout(withFileLock(lock, async () => 'never', { timeoutMs: 200 }));
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await expect(withFileLock(lock, async () => 'got it', { timeoutMs: 1_000 })).resolves.toBe('got it');
  });

  it('breaks an unparseable lock file only after a grace period', async () => {
    const lock = join(dir, 'garbage.lock');
    await writeFile(lock, '');
    await expectLockTimeout(withFileLock(lock, async () => 'never', { timeoutMs: 200 }));
    const old = new Date(Date.now() - 10_000);
    await utimes(lock, old, old);
    await expect(withFileLock(lock, async () => 'got it', { timeoutMs: 1_000 })).resolves.toBe('got it');
  });

  it('lets exactly one of several concurrent breakers take over a stale lock', async () => {
    const lock = join(dir, 'contended.lock');
    await writeFile(lock, JSON.stringify({ pid: await deadPid(), at: Date.now(), host: hostname() }));
    // One path shares one in-process queue; symlinked directories give the same file three queues,
    // so the lock file alone has to arbitrate, as between processes.
    const spellings = [lock];
    for (let i = 0; i < 5; i++) {
      await symlink(dir, join(dir, `via${i}`));
      spellings.push(join(dir, `via${i}`, 'contended.lock'));
    }
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      spellings.map((p) =>
        withFileLock(p, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(20);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
  });
});

describe('withFileLock across processes', () => {
  it('serialises read-modify-write of several processes', async () => {
    const lock = join(dir, 'counter.lock');
    const counter = join(dir, 'counter.txt');
    const go = join(dir, 'go');
    await writeFile(counter, '0');
    const script = `
      const { withFileLock } = await import(process.argv[1]);
      const { readFile, writeFile, access } = await import('node:fs/promises');
      const { setTimeout: sleep } = await import('node:timers/promises');
      const [, , lock, counter, go] = process.argv;
      console.log('ready');
      for (;;) { try { await access(go); break; } catch { await sleep(5); } }
      for (let i = 0; i < 15; i++) {
        await withFileLock(lock, async () => {
          const n = Number(await readFile(counter, 'utf8'));
          await sleep(2);
          await writeFile(counter, String(n + 1));
        }, { timeoutMs: 15000 });
      }
    `;
    const children = [1, 2, 3].map(() => runScript(script, [lockModule, lock, counter, go]));
    await Promise.all(children.map((c) => c.waitFor('ready')));
    await writeFile(go, '');
    const results = await Promise.all(children.map((c) => c.done));
    for (const r of results) expect(r.stderr).toBe('');
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(await readFile(counter, 'utf8')).toBe('45');
  });

  it('waits for a holder in another process, and times out if it holds too long', async () => {
    const lock = join(dir, 'held.lock');
    const script = `
      const { withFileLock } = await import(process.argv[1]);
      const { setTimeout: sleep } = await import('node:timers/promises');
      await withFileLock(process.argv[2], async () => { console.log('held'); await sleep(800); });
    `;
    const holder = runScript(script, [lockModule, lock]);
    await holder.waitFor('held');
    await expectLockTimeout(withFileLock(lock, async () => 'never', { timeoutMs: 150 }));
    const started = Date.now();
    await expect(withFileLock(lock, async () => 'mine', { timeoutMs: 5_000 })).resolves.toBe('mine');
    expect(Date.now() - started).toBeGreaterThan(100);
    expect((await holder.done).code).toBe(0);
  });

  it('keeps a long-held lock fresh so that a short staleMs does not break a live holder', async () => {
    const lock = join(dir, 'fresh.lock');
    const script = `
      const { withFileLock } = await import(process.argv[1]);
      const { setTimeout: sleep } = await import('node:timers/promises');
      await withFileLock(process.argv[2], async () => { console.log('held'); await sleep(1500); console.log('released'); }, { staleMs: 600 });
    `;
    const holder = runScript(script, [lockModule, lock]);
    await holder.waitFor('held');
    // Let the file get older than staleMs, had it not been refreshed.
    await sleep(800);
    await expectLockTimeout(withFileLock(lock, async () => 'never', { timeoutMs: 200, staleMs: 600 }));
    await withFileLock(lock, async () => undefined, { staleMs: 600 });
    expect((await holder.done).stdout).toContain('released');
  });
});

describe('withProcessMutex', () => {
  it('serialises callers of one name and times out with LOCK_TIMEOUT', async () => {
    const order: number[] = [];
    const a = withProcessMutex('m', async () => {
      await sleep(100);
      order.push(1);
    });
    const b = withProcessMutex('m', async () => order.push(2));
    await expectLockTimeout(withProcessMutex('m', async () => order.push(3), { timeoutMs: 20 }));
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
  });
});
