// The runtime file is the one thing a client trusts to find the daemon and its API token: only a
// complete, well-formed file of ours, that nobody else can touch, counts.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, symlink, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  isAlive,
  isRunning,
  parseRuntimeFile,
  readRuntimeFile,
  removeRuntimeFileIf,
  runtimeFileProblem,
  validateRuntimeFile,
} from '../../../src/client/runtime.js';

const TOKEN = 'a'.repeat(43);
const good = { pid: 4242, port: 45678, token: TOKEN, startedAt: 1_700_000_000_000, version: '0.1.0' };

describe('validateRuntimeFile', () => {
  it('accepts a complete runtime file and keeps only its fields', () => {
    expect(validateRuntimeFile({ ...good, extra: 'ignored' })).toEqual(good);
    expect(validateRuntimeFile({ ...good, token: 'f'.repeat(64) })?.token).toBe('f'.repeat(64));
  });

  it.each([
    ['a missing pid', { ...good, pid: undefined }],
    ['pid 0', { ...good, pid: 0 }],
    ['a negative pid', { ...good, pid: -5 }],
    ['a fractional pid', { ...good, pid: 1.5 }],
    ['a pid as a string', { ...good, pid: '4242' }],
    ['port 0', { ...good, port: 0 }],
    ['port 65536', { ...good, port: 65536 }],
    ['a port as a string', { ...good, port: '45678' }],
    ['a short token', { ...good, token: 'abc' }],
    ['a token with spaces', { ...good, token: `${'a'.repeat(40)} b` }],
    ['a token with a line break', { ...good, token: `${'a'.repeat(40)}\nb` }],
    ['a missing startedAt', { ...good, startedAt: undefined }],
    ['an empty version', { ...good, version: '' }],
  ])('rejects %s', (_what, value) => {
    expect(validateRuntimeFile(value)).toBeUndefined();
  });

  it('rejects what is not an object', () => {
    for (const v of [null, undefined, 42, 'x', [good]]) expect(validateRuntimeFile(v)).toBeUndefined();
  });

  it('parseRuntimeFile treats invalid or truncated JSON as no runtime file', () => {
    expect(parseRuntimeFile(JSON.stringify(good))).toEqual(good);
    expect(parseRuntimeFile('')).toBeUndefined();
    expect(parseRuntimeFile(JSON.stringify(good).slice(0, 20))).toBeUndefined();
  });
});

describe('runtimeFileProblem', () => {
  const REG = 0o100000;
  it('accepts a 0600 regular file of ours', () => {
    expect(runtimeFileProblem({ mode: REG | 0o600, uid: 1000 }, 1000)).toBeUndefined();
  });
  it('refuses files others can read or write, files of other users and non-files', () => {
    expect(runtimeFileProblem({ mode: REG | 0o644, uid: 1000 }, 1000)).toMatch(/other users/);
    expect(runtimeFileProblem({ mode: REG | 0o620, uid: 1000 }, 1000)).toMatch(/other users/);
    expect(runtimeFileProblem({ mode: REG | 0o600, uid: 0 }, 1000)).toMatch(/another user/);
    expect(runtimeFileProblem({ mode: 0o040000 | 0o700, uid: 1000 }, 1000)).toMatch(/regular/);
  });
});

describe('readRuntimeFile', () => {
  let dir: string;
  let runtimeFile: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcp-auth-runtime-'));
    runtimeFile = join(dir, 'daemon.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a valid 0600 file', async () => {
    await writeFile(runtimeFile, JSON.stringify(good), { mode: 0o600 });
    expect(await readRuntimeFile({ runtimeFile })).toEqual(good);
  });

  it('is undefined when the file is missing, invalid, readable by others, a symlink or oversized', async () => {
    expect(await readRuntimeFile({ runtimeFile })).toBeUndefined();

    await writeFile(runtimeFile, '{"pid":', { mode: 0o600 });
    expect(await readRuntimeFile({ runtimeFile })).toBeUndefined();

    await writeFile(runtimeFile, JSON.stringify(good), { mode: 0o600 });
    await chmod(runtimeFile, 0o644);
    expect(await readRuntimeFile({ runtimeFile })).toBeUndefined();
    await chmod(runtimeFile, 0o600);

    const link = join(dir, 'link.json');
    await symlink(runtimeFile, link);
    expect(await readRuntimeFile({ runtimeFile: link })).toBeUndefined();

    await writeFile(runtimeFile, JSON.stringify({ ...good, pad: 'x'.repeat(5000) }), { mode: 0o600 });
    expect(await readRuntimeFile({ runtimeFile })).toBeUndefined();
  });

  it('removeRuntimeFileIf removes only the file it was told about', async () => {
    await writeFile(runtimeFile, JSON.stringify(good), { mode: 0o600 });
    expect(await removeRuntimeFileIf({ runtimeFile }, { ...good, pid: 1 })).toBe(false);
    expect(JSON.parse(await readFile(runtimeFile, 'utf8'))).toEqual(good);
    expect(await removeRuntimeFileIf({ runtimeFile }, good)).toBe(true);
    expect(await readRuntimeFile({ runtimeFile })).toBeUndefined();
    expect(await removeRuntimeFileIf({ runtimeFile }, good)).toBe(false);
  });
});

describe('isAlive / isRunning', () => {
  it('knows this process is alive and an exited one is not', async () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(await isRunning(process.pid)).toBe(true);
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    // Node reaps its children; give the reaper a tick.
    await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(pid)).toBe(false);
    expect(await isRunning(pid)).toBe(false);
  });

  it('is false for impossible PIDs', () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) expect(isAlive(pid)).toBe(false);
  });
});
