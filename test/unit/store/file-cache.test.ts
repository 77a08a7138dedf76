// FileStore's parsed-file cache (src/util/file-signature.ts): reads reuse one parse while a stat
// shows the file unchanged, and every write — by this instance, another instance, another process,
// or an editor rewriting the file in place with the same size — is seen by the next read.
//
// A file younger than RACY_MS is never trusted (its timestamps may not yet tell versions apart), so
// tests that need the cache engaged move Date forward (only Date is faked; timers stay real).
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { readCredential, readServerState, writeRecord, type CredentialRecord } from '../../../src/broker/records.js';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { serverStateKey } from '../../../src/store/key.js';
import { plantLogin, realBroker } from '../daemon/support.js';
import { addServer, createTestDeps } from '../../support/test-deps.js';
import { FileStore } from '../../../src/store/file.js';
import { RACY_MS } from '../../../src/util/file-signature.js';

// Counts the opens of the data file: a cached read opens nothing.
const opened = vi.hoisted(() => ({ paths: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    open: (async (path: Parameters<typeof actual.open>[0], ...rest: unknown[]) => {
      opened.paths.push(String(path));
      return (actual.open as (...a: unknown[]) => ReturnType<typeof actual.open>)(path, ...rest);
    }) as typeof actual.open,
  };
});

let dir: string;
let file: string;
const storeAt = (): FileStore => new FileStore({ file, locksDir: join(dir, 'locks') });
const opensOfFile = (): number => opened.paths.filter((p) => p === file).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Makes the file look old to the cache: Date jumps past the racy window. */
function ageFiles(): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + RACY_MS + 60_000);
}

/** The file as FileStore writes it, replaced in place (same inode) rather than by rename. */
async function rewriteInPlace(entries: Record<string, string>): Promise<void> {
  await writeFile(file, JSON.stringify({ version: 1, entries }, null, 2) + '\n');
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-filecache-'));
  file = join(dir, 'data', 'credentials.json');
  opened.paths.length = 0;
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

describe('FileStore read cache', () => {
  it('reuses one parse while the file is unchanged', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    await store.set('cred:b', 'w1');
    ageFiles();
    opened.paths.length = 0;
    expect(await store.get('cred:a')).toBe('v1');
    expect(await store.get('cred:b')).toBe('w1');
    expect(await store.keys()).toEqual(['cred:a', 'cred:b']);
    const snap = await store.snapshot();
    expect(await snap.get('cred:a')).toBe('v1');
    expect(opensOfFile()).toBe(1);
  });

  it('never trusts a copy of a file that changed within the racy window', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    opened.paths.length = 0;
    await store.get('cred:a');
    await store.get('cred:a');
    expect(opensOfFile()).toBe(2);
  });

  it('a write by another FileStore instance is seen by the next read', async () => {
    const a = storeAt();
    const b = storeAt();
    await a.set('cred:a', 'v1');
    ageFiles();
    expect(await a.get('cred:a')).toBe('v1');
    await b.set('cred:a', 'v2-longer');
    expect(await a.get('cred:a')).toBe('v2-longer');
    // Same size as before: the replace is a new inode.
    await b.set('cred:a', 'v3-longer');
    expect(await a.get('cred:a')).toBe('v3-longer');
    await b.delete('cred:a');
    expect(await a.get('cred:a')).toBeUndefined();
  });

  it('a write by another process is seen by the next read', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    ageFiles();
    expect(await store.get('cred:a')).toBe('v1');
    const script = `
      const fs = require('node:fs');
      const [file, body] = process.argv.slice(1);
      fs.writeFileSync(file + '.tmp', body, { mode: 0o600 });
      fs.renameSync(file + '.tmp', file);`;
    execFileSync(process.execPath, ['-e', script, file, JSON.stringify({ version: 1, entries: { 'cred:a': 'v2' } })]);
    expect(await store.get('cred:a')).toBe('v2');
  });

  it('detects a same-size rewrite in place (same inode) once the clock has ticked', async () => {
    const store = storeAt();
    await store.set('cred:a', 'AAAA');
    await sleep(30); // past any filesystem timestamp tick
    const before = await stat(file);
    ageFiles();
    expect(await store.get('cred:a')).toBe('AAAA');
    await sleep(30);
    await rewriteInPlace({ 'cred:a': 'BBBB' });
    const after = await stat(file);
    expect(after.ino).toBe(before.ino);
    expect(after.size).toBe(before.size);
    expect(await store.get('cred:a')).toBe('BBBB');
  });

  it('sees a same-size rewrite in place even within one timestamp tick (the file is too young to trust)', async () => {
    const store = storeAt();
    await store.set('cred:a', 'AAAA');
    expect(await store.get('cred:a')).toBe('AAAA');
    await rewriteInPlace({ 'cred:a': 'BBBB' });
    expect(await store.get('cred:a')).toBe('BBBB');
    await rewriteInPlace({ 'cred:a': 'CCCC' });
    expect(await store.get('cred:a')).toBe('CCCC');
  });

  it('a damaged file is reported on the next read, not served from the cache', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    ageFiles();
    expect(await store.get('cred:a')).toBe('v1');
    await writeFile(file, '{"version":1,"entries":');
    const err = await store.get('cred:a').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMcpAuthError(err, ErrorCode.StoreUnreadable)).toBe(true);
  });

  it('a removed file reads as empty, and a loosened mode is still tightened', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    ageFiles();
    expect(await store.get('cred:a')).toBe('v1');
    await chmod(file, 0o644);
    expect(await store.get('cred:a')).toBe('v1');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await rm(file);
    expect(await store.get('cred:a')).toBeUndefined();
    expect(await store.keys()).toEqual([]);
  });

  it('a path that cannot be checked (a parent is a file) is an error, not an empty store', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    const store = new FileStore({ file: join(dir, 'plain', 'credentials.json'), locksDir: join(dir, 'locks') });
    const err = await store.get('cred:a').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMcpAuthError(err, ErrorCode.StoreUnreadable)).toBe(true);
  });

  it('a mutation re-reads the file under the lock, whatever the cache holds', async () => {
    const a = storeAt();
    const b = storeAt();
    await a.set('cred:a', 'v1');
    ageFiles();
    expect(await a.get('cred:a')).toBe('v1');
    await b.set('cred:b', 'w1');
    // a's cache predates b's write; a's own write must not lose b's record.
    await a.set('cred:c', 'x1');
    expect(await b.keys()).toEqual(['cred:a', 'cred:b', 'cred:c']);
  });

  it('a snapshot is one consistent read; the next snapshot sees later writes', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    await store.set('cred:b', 'w1');
    const snap = await store.snapshot();
    await storeAt().set('cred:a', 'v2');
    expect(await snap.get('cred:a')).toBe('v1');
    expect(await snap.get('cred:b')).toBe('w1');
    expect(await (await store.snapshot()).get('cred:a')).toBe('v2');
  });

  it('peekSnapshot: the cached records only while a stat shows the file unchanged; never reads', async () => {
    const store = storeAt();
    expect(store.peekSnapshot()?.size).toBe(0); // no file: no records
    await store.set('cred:a', 'v1');
    ageFiles();
    expect(store.peekSnapshot()).toBeUndefined(); // never read since the write
    const opens = opensOfFile();
    expect(await store.get('cred:a')).toBe('v1');
    expect(store.peekSnapshot()?.get('cred:a')).toBe('v1');
    expect(opensOfFile()).toBe(opens + 1);
    // Another instance writes: the next peek knows, without reading.
    await storeAt().set('cred:a', 'v2');
    opened.paths.length = 0;
    expect(store.peekSnapshot()).toBeUndefined();
    expect(opensOfFile()).toBe(0);
    expect(await store.get('cred:a')).toBe('v2');
    ageFiles();
    expect(await store.get('cred:a')).toBe('v2');
    expect(store.peekSnapshot()?.get('cred:a')).toBe('v2');
    // Rewritten in place with the same size (same inode), by an editor.
    await sleep(20);
    await rewriteInPlace({ 'cred:a': 'v3' });
    expect(store.peekSnapshot()).toBeUndefined();
    await rm(file);
    expect(store.peekSnapshot()?.size).toBe(0);
  });

  it('peekSnapshot: a path that cannot be checked is undefined (snapshot reports it)', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    const store = new FileStore({ file: join(dir, 'plain', 'credentials.json'), locksDir: join(dir, 'locks') });
    expect(store.peekSnapshot()).toBeUndefined();
  });

  it('concurrent cache misses share reads', async () => {
    const store = storeAt();
    await store.set('cred:a', 'v1');
    opened.paths.length = 0;
    const values = await Promise.all(Array.from({ length: 50 }, () => store.get('cred:a')));
    expect(values.every((v) => v === 'v1')).toBe(true);
    // One read in flight, then one shared by everyone who asked meanwhile.
    expect(opensOfFile()).toBeLessThanOrEqual(2);
  });
});

describe('broker headers over the file store', () => {
  it('serves a credential rewritten by another process (or instance) on the next call', async () => {
    const deps = createTestDeps();
    const fileStore = new FileStore({ file: deps.paths.credentialsFile, locksDir: deps.paths.locksDir });
    Object.assign(deps, { store: fileStore });
    try {
      await addServer(deps, 'demo', { type: 'http', url: 'https://mcp.example.com/mcp' });
      await plantLogin(deps, 'demo', { accessToken: 'at-0001', refreshToken: 'rt-0001' });
      const broker = new Broker(deps);
      ageFiles();
      expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001' });
      expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001' });

      // Another writer (its own FileStore) stores a new token of the same length.
      const other = new FileStore({ file: deps.paths.credentialsFile, locksDir: deps.paths.locksDir });
      const state = (await readServerState(other, serverStateKey('demo')))!;
      const cred = (await readCredential(other, state.credentialKey))!;
      const next: CredentialRecord = { ...cred, accessToken: 'at-0002' };
      await writeRecord(other, state.credentialKey, next);
      expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0002' });

      // Logged out elsewhere: the next call knows.
      await other.delete(serverStateKey('demo'));
      const err = await broker.headers('demo').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMcpAuthError(err, ErrorCode.LoginRequired)).toBe(true);
    } finally {
      await deps.cleanup();
    }
  });

  it('hands out records that nobody can modify for the next caller', async () => {
    const setup = await realBroker();
    try {
      const first = await setup.broker.headers('demo');
      first.Authorization = 'tampered';
      expect(await setup.broker.headers('demo')).toEqual({ Authorization: 'Bearer at-demo-0001' });
    } finally {
      await setup.deps.cleanup();
    }
  });
});
