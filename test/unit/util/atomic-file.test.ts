import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileIfExists, writeFileAtomic } from '../../../src/util/atomic-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes the data with mode 0600 by default', async () => {
    const file = join(dir, 'a.json');
    await writeFileAtomic(file, '{"x":1}');
    expect(await readFile(file, 'utf8')).toBe('{"x":1}');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('applies exactly the requested mode, whatever the umask', async () => {
    const file = join(dir, 'b.txt');
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(file, 'x', 0o640);
    } finally {
      process.umask(old);
    }
    expect((await stat(file)).mode & 0o777).toBe(0o640);
  });

  it('tightens the mode of a file it replaces', async () => {
    const file = join(dir, 'c.txt');
    await writeFile(file, 'old', { mode: 0o644 });
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('creates missing parent directories with mode 0700', async () => {
    const file = join(dir, 'deep', 'er', 'f.json');
    await writeFileAtomic(file, 'x');
    expect(await readFile(file, 'utf8')).toBe('x');
    expect((await stat(join(dir, 'deep', 'er'))).mode & 0o777).toBe(0o700);
  });

  it('leaves no temporary files behind, also when it fails', async () => {
    const file = join(dir, 'g.txt');
    await writeFileAtomic(file, '1');
    await writeFileAtomic(file, '2');
    // A directory in the way makes the final rename fail.
    const blocked = join(dir, 'blocked');
    await mkdir(join(blocked, 'inside'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'x')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'g.txt']);
  });

  it('keeps the old content intact when concurrent writers race', async () => {
    const file = join(dir, 'race.txt');
    const values = Array.from({ length: 20 }, (_, i) => `value-${i}-${'x'.repeat(10_000)}`);
    await Promise.all(values.map((v) => writeFileAtomic(file, v)));
    expect(values).toContain(await readFile(file, 'utf8'));
    expect(await readdir(dir)).toEqual(['race.txt']);
  });
});

describe('readFileIfExists', () => {
  it('returns the content of an existing file', async () => {
    await writeFile(join(dir, 'x'), 'héllo');
    expect(await readFileIfExists(join(dir, 'x'))).toBe('héllo');
  });

  it('returns undefined for a missing file', async () => {
    expect(await readFileIfExists(join(dir, 'missing'))).toBeUndefined();
  });

  it('throws other errors instead of pretending the file is missing', async () => {
    await expect(readFileIfExists(dir)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
