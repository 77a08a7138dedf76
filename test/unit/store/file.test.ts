import { spawn } from 'node:child_process';
import { access, chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { FileStore } from '../../../src/store/file.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const storeModule = pathToFileURL(join(root, 'src/store/file.ts')).href;

let dir: string;
let file: string;
let store: FileStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-filestore-'));
  file = join(dir, 'data', 'credentials.json');
  store = new FileStore({ file, locksDir: join(dir, 'locks') });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('FileStore', () => {
  it('treats a missing file as empty and does not create it on reads', async () => {
    expect(store.backend).toBe('file');
    expect(await store.get('cred:a')).toBeUndefined();
    expect(await store.keys()).toEqual([]);
    expect(await store.delete('cred:a')).toBe(false);
    await expect(access(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes the versioned format with mode 0600 in a 0700 directory', async () => {
    await store.set('cred:a', 'secret-1');
    await store.set('reg:b', 'x');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      version: 1,
      entries: { 'cred:a': 'secret-1', 'reg:b': 'x' },
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'data'))).mode & 0o777).toBe(0o700);
    // Only the data file and no leftovers (temp files, lock files) next to it.
    expect(await readdir(join(dir, 'data'))).toEqual(['credentials.json']);
  });

  it('reads a file that others may read, and repairs its mode to 0600', async () => {
    await store.set('cred:a', 'v');
    await chmod(file, 0o644);
    expect(await store.get('cred:a')).toBe('v');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('sees writes of another instance (no stale cache)', async () => {
    const other = new FileStore({ file, locksDir: join(dir, 'locks') });
    await store.set('cred:a', '1');
    expect(await other.get('cred:a')).toBe('1');
    await other.set('cred:a', '2');
    expect(await store.get('cred:a')).toBe('2');
  });

  const corruptions: Array<[string, string]> = [
    ['invalid JSON', '{"version":1,"entries":{"cred:a":"sec'],
    ['empty file', ''],
    ['not an object', '[1,2]'],
    ['no version', '{"entries":{}}'],
    ['entries not an object', '{"version":1,"entries":"x"}'],
    ['non-string entry', '{"version":1,"entries":{"cred:a":{"token":"x"}}}'],
  ];
  it.each(corruptions)('reports a corrupt file (%s) as STORE_UNREADABLE and never overwrites it', async (_what, body) => {
    await store.set('cred:seed', 'x');
    await writeFile(file, body);
    const ops = [() => store.get('cred:a'), () => store.keys(), () => store.set('cred:a', 'v'), () => store.delete('cred:seed')];
    for (const op of ops) {
      const err = await errorOf(op());
      expect(isMcpAuthError(err, ErrorCode.StoreUnreadable)).toBe(true);
      const e = err as Error & { hint?: string };
      expect(e.message).toContain(file);
      expect(e.hint).toContain(file);
      // Content of the file (possibly secrets) must not leak into the message.
      if (body.includes('sec')) expect(e.message).not.toContain('sec');
    }
    expect(await readFile(file, 'utf8')).toBe(body);
  });

  it('asks for an upgrade when the file comes from a newer version', async () => {
    await store.set('cred:seed', 'x');
    await writeFile(file, '{"version":2,"entries":{}}');
    const err = await errorOf(store.get('cred:a'));
    expect(isMcpAuthError(err, ErrorCode.StoreUnreadable)).toBe(true);
    expect((err as { hint?: string }).hint).toMatch(/upgrade/i);
  });

  it('reports an unreadable path as STORE_UNREADABLE', async () => {
    const s = new FileStore({ file: dir, locksDir: join(dir, 'locks') });
    const err = await errorOf(s.get('cred:a'));
    expect(isMcpAuthError(err, ErrorCode.StoreUnreadable)).toBe(true);
  });

  it('reports a failed write as STORE_WRITE_FAILED and keeps the old content', async () => {
    // A name so long that the temporary file next to it cannot be created (works even as root).
    const longFile = join(dir, `${'c'.repeat(240)}.json`);
    const s = new FileStore({ file: longFile, locksDir: join(dir, 'locks') });
    await writeFile(longFile, '{"version":1,"entries":{"cred:a":"old"}}');
    const err = await errorOf(s.set('cred:a', 'new'));
    expect(isMcpAuthError(err, ErrorCode.StoreWriteFailed)).toBe(true);
    expect((err as { hint?: string }).hint).toBeTruthy();
    expect(await s.get('cred:a')).toBe('old');
  });

  it('withLock takes a per-key lock file in locksDir', async () => {
    const seen = await store.withLock('cred:abc', async () => readdir(join(dir, 'locks')));
    expect(seen).toEqual(['cred:abc.lock']);
    expect(await readdir(join(dir, 'locks'))).toEqual([]);
  });

  it('loses no update when several processes write at once', async () => {
    const script = `
      const { FileStore } = await import(process.argv[1]);
      const [, , file, locksDir, who, go] = process.argv;
      const { access } = await import('node:fs/promises');
      const { setTimeout: sleep } = await import('node:timers/promises');
      const store = new FileStore({ file, locksDir });
      console.log('ready');
      for (;;) { try { await access(go); break; } catch { await sleep(5); } }
      for (let i = 0; i < 10; i++) await store.set('cred:' + who + '-' + i, 'v' + i);
    `;
    const go = join(dir, 'go');
    const children = ['a', 'b', 'c', 'd'].map((who) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script, storeModule, file, join(dir, 'locks'), who, go],
        { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const ready = new Promise<void>((resolve) => {
        child.stdout.on('data', () => stdout.includes('ready') && resolve());
      });
      const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
        child.on('close', (code) => resolve({ code, stderr })),
      );
      return { ready, done };
    });
    await Promise.all(children.map((c) => Promise.race([c.ready, c.done])));
    await writeFile(go, '');
    const results = await Promise.all(children.map((c) => c.done));
    expect(results).toEqual(Array.from({ length: 4 }, () => ({ code: 0, stderr: '' })));
    const keys = await store.keys('cred:');
    expect(keys).toHaveLength(40);
    expect(await store.get('cred:c-7')).toBe('v7');
  });
});
