import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { FileStore } from '../../../src/store/file.js';
import { MemoryStore } from '../../../src/store/memory.js';
import type { CredentialStore } from '../../../src/store/types.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const backends: Array<[string, () => CredentialStore]> = [
  ['memory', () => new MemoryStore()],
  ['file', () => new FileStore({ file: join(dir, 'credentials.json'), locksDir: join(dir, 'locks') })],
];

describe.each(backends)('CredentialStore contract: %s', (_name, make) => {
  it('gets what was set, and undefined for unknown keys', async () => {
    const s = make();
    expect(await s.get('cred:a')).toBeUndefined();
    await s.set('cred:a', 'value with "quotes" and ünïcode\n');
    expect(await s.get('cred:a')).toBe('value with "quotes" and ünïcode\n');
    await s.set('cred:a', 'replaced');
    expect(await s.get('cred:a')).toBe('replaced');
  });

  it('deletes, reporting whether the key existed', async () => {
    const s = make();
    await s.set('k', 'v');
    expect(await s.delete('k')).toBe(true);
    expect(await s.delete('k')).toBe(false);
    expect(await s.get('k')).toBeUndefined();
  });

  it('lists keys sorted, filtered by prefix', async () => {
    const s = make();
    for (const k of ['state:2', 'cred:b', 'cred:a', 'reg:1']) await s.set(k, 'x');
    expect(await s.keys()).toEqual(['cred:a', 'cred:b', 'reg:1', 'state:2']);
    expect(await s.keys('cred:')).toEqual(['cred:a', 'cred:b']);
    expect(await s.keys('nope:')).toEqual([]);
  });

  it('treats keys that look like Object.prototype members as plain keys', async () => {
    const s = make();
    expect(await s.get('__proto__')).toBeUndefined();
    expect(await s.get('constructor')).toBeUndefined();
    await s.set('__proto__', 'p');
    expect(await s.get('__proto__')).toBe('p');
    expect(await s.keys()).toEqual(['__proto__']);
  });

  it('rejects invalid keys with INTERNAL', async () => {
    const s = make();
    for (const bad of ['', 'a/b', '../x', 'a b', 'x'.repeat(201), 'é']) {
      const err = await s.set(bad, 'v').catch((e: unknown) => e);
      expect(isMcpAuthError(err, ErrorCode.Internal)).toBe(true);
      await expect(s.get(bad)).rejects.toMatchObject({ code: ErrorCode.Internal });
      await expect(s.withLock(bad, async () => 1)).rejects.toMatchObject({ code: ErrorCode.Internal });
    }
    await expect(s.set('x'.repeat(200), 'v')).resolves.toBeUndefined();
  });

  it('withLock serialises callers of one key but not of different keys', async () => {
    const s = make();
    let inside = 0;
    let maxInside = 0;
    const section = async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await sleep(10);
      inside--;
    };
    await Promise.all([1, 2, 3, 4].map(() => s.withLock('cred:x', section)));
    expect(maxInside).toBe(1);
    maxInside = 0;
    await Promise.all(['cred:x', 'cred:y'].map((k) => s.withLock(k, section)));
    expect(maxInside).toBe(2);
  });

  it('withLock times out with LOCK_TIMEOUT', async () => {
    const s = make();
    const held = s.withLock('cred:x', () => sleep(300));
    const err = await s.withLock('cred:x', async () => 1, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(isMcpAuthError(err, ErrorCode.LockTimeout)).toBe(true);
    await held;
  });

  it('set inside withLock of the same key does not deadlock', async () => {
    const s = make();
    await s.withLock('cred:x', async () => {
      await s.set('cred:x', 'v');
    });
    expect(await s.get('cred:x')).toBe('v');
  });
});

describe('MemoryStore', () => {
  it('keeps separate instances separate, locks included', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore();
    await a.set('k', '1');
    expect(await b.get('k')).toBeUndefined();
    expect(a.backend).toBe('memory');
    const held = a.withLock('k', () => sleep(200));
    await expect(b.withLock('k', async () => 'free', { timeoutMs: 50 })).resolves.toBe('free');
    await held;
  });
});
