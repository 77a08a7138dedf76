// loadConfigShared: the daemon's per-request view of servers.json. One frozen parse is reused while
// a stat shows the file unchanged; every edit — updateConfig, another process, an editor rewriting
// the file in place with the same size — is seen by the next call, and errors are never cached.
//
// A file younger than RACY_MS is never trusted, so tests that need the cache engaged move Date
// forward (only Date is faked; timers stay real).
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { resolvePaths, type Paths } from '../../../src/config/paths.js';
import { loadConfig, loadConfigShared, peekConfigShared, updateConfig } from '../../../src/config/servers-file.js';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { SharedRead, RACY_MS } from '../../../src/util/file-signature.js';
import { createTestDeps } from '../../support/test-deps.js';

let dir: string;
let paths: Paths;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ageFiles(): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + RACY_MS + 60_000);
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

const server = (url: string) => ({ type: 'http' as const, url });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-configcache-'));
  paths = resolvePaths({ MCP_AUTH_HOME: join(dir, 'home') });
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

describe('loadConfigShared', () => {
  it('returns one frozen parse while the file is unchanged, equal to loadConfig', async () => {
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.a = { ...server('https://a.example.com/mcp'), headers: { 'X-A': '1' } };
    });
    ageFiles();
    const first = await loadConfigShared(paths);
    const second = await loadConfigShared(paths);
    expect(second).toBe(first);
    expect(first).toEqual(await loadConfig(paths));
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.mcpServers.a!.headers)).toBe(true);
    // loadConfig still hands out a fresh, mutable object (updateConfig edits it).
    const mutable = await loadConfig(paths);
    expect(mutable).not.toBe(first);
    mutable.mcpServers.b = server('https://b.example.com/mcp');
    expect((await loadConfigShared(paths)).mcpServers.b).toBeUndefined();
  });

  it('an updateConfig is seen by the next call', async () => {
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.a = server('https://a.example.com/mcp');
    });
    ageFiles();
    expect(Object.keys((await loadConfigShared(paths)).mcpServers)).toEqual(['a']);
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.b = server('https://b.example.com/mcp');
    });
    expect(Object.keys((await loadConfigShared(paths)).mcpServers)).toEqual(['a', 'b']);
  });

  it('a write by another process is seen by the next call', async () => {
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.a = server('https://a.example.com/mcp');
    });
    ageFiles();
    expect((await loadConfigShared(paths)).mcpServers.a?.url).toBe('https://a.example.com/mcp');
    const script = `
      const fs = require('node:fs');
      const [file, body] = process.argv.slice(1);
      fs.writeFileSync(file + '.tmp', body);
      fs.renameSync(file + '.tmp', file);`;
    execFileSync(process.execPath, ['-e', script, paths.configFile, JSON.stringify({ mcpServers: { a: server('https://z.example.com/mcp') } })]);
    expect((await loadConfigShared(paths)).mcpServers.a?.url).toBe('https://z.example.com/mcp');
  });

  it('detects a same-size rewrite in place (same inode) once the clock has ticked', async () => {
    const write = (url: string) => writeFile(paths.configFile, JSON.stringify({ mcpServers: { a: server(url) } }));
    await mkdir(paths.home, { recursive: true });
    await write('https://aaaa.example.com/mcp');
    await sleep(30);
    const before = await stat(paths.configFile);
    ageFiles();
    expect((await loadConfigShared(paths)).mcpServers.a?.url).toBe('https://aaaa.example.com/mcp');
    await sleep(30);
    await write('https://bbbb.example.com/mcp');
    const after = await stat(paths.configFile);
    expect([after.ino, after.size]).toEqual([before.ino, before.size]);
    expect((await loadConfigShared(paths)).mcpServers.a?.url).toBe('https://bbbb.example.com/mcp');
  });

  it('sees a same-size rewrite in place even within one timestamp tick (the file is too young to trust)', async () => {
    const write = (url: string) => writeFile(paths.configFile, JSON.stringify({ mcpServers: { a: server(url) } }));
    await mkdir(paths.home, { recursive: true });
    await write('https://aaaa.example.com/mcp');
    expect((await loadConfigShared(paths)).mcpServers.a?.url).toBe('https://aaaa.example.com/mcp');
    await write('https://bbbb.example.com/mcp');
    expect((await loadConfigShared(paths)).mcpServers.a?.url).toBe('https://bbbb.example.com/mcp');
  });

  it('a missing file is an empty configuration; creating it is seen at once', async () => {
    expect(await loadConfigShared(paths)).toEqual({ mcpServers: {} });
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.a = server('https://a.example.com/mcp');
    });
    expect(Object.keys((await loadConfigShared(paths)).mcpServers)).toEqual(['a']);
    await rm(paths.configFile);
    expect(await loadConfigShared(paths)).toEqual({ mcpServers: {} });
  });

  it('a path that cannot be checked (a parent is a file) is CONFIG_INVALID, not an empty configuration', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    const err = await errorOf(loadConfigShared({ configFile: join(dir, 'plain', 'servers.json') }));
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
  });

  it('an invalid file fails every call until it is fixed (errors are not cached)', async () => {
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.a = server('https://a.example.com/mcp');
    });
    ageFiles();
    await loadConfigShared(paths);
    await writeFile(paths.configFile, '{"mcpServers": {"a": {"url": 1}}}');
    for (let i = 0; i < 2; i++) expect(isMcpAuthError(await errorOf(loadConfigShared(paths)), ErrorCode.ConfigInvalid)).toBe(true);
    await writeFile(paths.configFile, JSON.stringify({ mcpServers: { b: server('https://b.example.com/mcp') } }));
    expect(Object.keys((await loadConfigShared(paths)).mcpServers)).toEqual(['b']);
  });

  it('peekConfigShared: the shared parse only while a stat shows the file unchanged; never reads', async () => {
    expect(peekConfigShared(paths)).toEqual({ mcpServers: {} }); // no file
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.a = server('https://a.example.com/mcp');
    });
    ageFiles();
    expect(peekConfigShared(paths)).toBeUndefined(); // not read since the write
    const shared = await loadConfigShared(paths);
    expect(peekConfigShared(paths)).toBe(shared);
    // Another process edits the file: the next peek knows.
    execFileSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(paths.configFile)}, JSON.stringify({ mcpServers: {} }))`]);
    expect(peekConfigShared(paths)).toBeUndefined();
    expect(await loadConfigShared(paths)).toEqual({ mcpServers: {} });
    await rm(paths.configFile);
    expect(peekConfigShared(paths)).toEqual({ mcpServers: {} });
    await writeFile(join(dir, 'plain'), 'x');
    expect(peekConfigShared({ configFile: join(dir, 'plain', 'servers.json') })).toBeUndefined();
  });

  it('the broker resolves a server from the edited file on the next call', async () => {
    const deps = createTestDeps({ paths });
    const broker = new Broker(deps);
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.s = { ...server('https://s.example.com/mcp'), oauth: false, headers: { 'X-Team': 'one' } };
    });
    ageFiles();
    expect(await broker.headers('s')).toEqual({ 'X-Team': 'one' });
    await updateConfig(paths, (cfg) => {
      cfg.mcpServers.s = { ...server('https://s.example.com/mcp'), oauth: false, headers: { 'X-Team': 'two' } };
    });
    expect(await broker.headers('s')).toEqual({ 'X-Team': 'two' });
    await updateConfig(paths, (cfg) => {
      delete cfg.mcpServers.s;
    });
    expect(isMcpAuthError(await errorOf(broker.headers('s')), ErrorCode.ServerNotFound)).toBe(true);
  });
});

describe('SharedRead', () => {
  it('never hands a caller a read that started before it asked, and shares reads among callers', async () => {
    let started = 0;
    const gates: Array<() => void> = [];
    const reads = new SharedRead(async () => {
      const n = ++started;
      await new Promise<void>((r) => gates.push(r));
      return n;
    });
    const first = reads.get(); // starts read 1
    await Promise.resolve();
    const later = [reads.get(), reads.get(), reads.get()]; // asked while read 1 runs: share read 2
    expect(started).toBe(1);
    gates.shift()!();
    expect(await first).toBe(1);
    await sleep(0);
    expect(started).toBe(2);
    gates.shift()!();
    expect(await Promise.all(later)).toEqual([2, 2, 2]);
    // Idle again: the next caller starts a read of its own.
    const next = reads.get();
    expect(started).toBe(3);
    gates.shift()!();
    expect(await next).toBe(3);
  });

  it('a failed read fails its callers only; the next read runs', async () => {
    let n = 0;
    const reads = new SharedRead(async () => {
      n++;
      if (n === 1) throw new Error('boom');
      return n;
    });
    await expect(reads.get()).rejects.toThrow('boom');
    expect(await reads.get()).toBe(2);
  });
});
