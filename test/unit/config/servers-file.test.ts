import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolvePaths, type Paths } from '../../../src/config/paths.js';
import { getServer, loadConfig, updateConfig } from '../../../src/config/servers-file.js';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

let dir: string;
let paths: Paths;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-config-'));
  paths = resolvePaths({ MCP_AUTH_HOME: join(dir, 'home') });
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

describe('loadConfig', () => {
  it('returns an empty configuration when the file is missing', async () => {
    expect(await loadConfig(paths)).toEqual({ mcpServers: {} });
  });

  it('reports invalid content as CONFIG_INVALID naming the file', async () => {
    await mkdir(paths.home, { recursive: true });
    await writeFile(paths.configFile, '{"mcpServers": {"a": {"url": 1}}}');
    const err = await errorOf(loadConfig(paths));
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
    expect((err as Error).message).toContain(`${paths.configFile}: mcpServers.a.url`);
    await writeFile(paths.configFile, '{ nope');
    expect(isMcpAuthError(await errorOf(loadConfig(paths)), ErrorCode.ConfigInvalid)).toBe(true);
  });

  it('reports an unreadable file as CONFIG_INVALID', async () => {
    await mkdir(paths.configFile, { recursive: true });
    expect(isMcpAuthError(await errorOf(loadConfig(paths)), ErrorCode.ConfigInvalid)).toBe(true);
  });
});

describe('updateConfig', () => {
  it('creates the file with mode 0600 and returns what it wrote', async () => {
    const cfg = await updateConfig(paths, (c) => {
      c.mcpServers.github = { type: 'http', url: 'https://api.githubcopilot.com/mcp/' };
    });
    expect(cfg.mcpServers.github?.url).toBe('https://api.githubcopilot.com/mcp/');
    expect((await stat(paths.configFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(paths.configFile, 'utf8'))).toEqual(cfg);
    expect(await loadConfig(paths)).toEqual(cfg);
    expect(await readdir(paths.home)).toEqual(['servers.json']);
  });

  it('normalises what mutate adds (type defaults to http)', async () => {
    await updateConfig(paths, (c) => {
      (c.mcpServers as Record<string, unknown>).a = { url: 'https://a.example.com/mcp' };
    });
    expect((await loadConfig(paths)).mcpServers.a?.type).toBe('http');
  });

  it('writes nothing when mutate throws', async () => {
    await updateConfig(paths, (c) => {
      c.mcpServers.a = { type: 'http', url: 'https://a.example.com/mcp' };
    });
    const before = await readFile(paths.configFile, 'utf8');
    await expect(
      updateConfig(paths, async (c) => {
        delete c.mcpServers.a;
        c.mcpServers.b = { type: 'http', url: 'https://b.example.com/mcp' };
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await readFile(paths.configFile, 'utf8')).toBe(before);
  });

  it('writes nothing when mutate produces an invalid configuration', async () => {
    const err = await errorOf(
      updateConfig(paths, (c) => {
        c.mcpServers.a = { type: 'http', url: 'gopher://a' };
      }),
    );
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
    expect(await readdir(paths.home).catch(() => [])).not.toContain('servers.json');
  });

  it('does not overwrite an invalid file', async () => {
    await mkdir(paths.home, { recursive: true });
    await writeFile(paths.configFile, '{ broken');
    const err = await errorOf(updateConfig(paths, () => undefined));
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
    expect(await readFile(paths.configFile, 'utf8')).toBe('{ broken');
  });

  it('loses no update when several processes change the file at once', async () => {
    const go = join(dir, 'go');
    const script = `
      const { updateConfig } = await import(process.argv[1]);
      const { access } = await import('node:fs/promises');
      const { setTimeout: sleep } = await import('node:timers/promises');
      const [, , , home, who, go] = process.argv;
      const paths = { configFile: home + '/servers.json' };
      console.log('ready');
      for (;;) { try { await access(go); break; } catch { await sleep(5); } }
      for (let i = 0; i < 5; i++) {
        await updateConfig(paths, (c) => { c.mcpServers[who + i] = { type: 'http', url: 'https://' + who + '.example.com/' + i }; });
      }
    `;
    const modUrl = pathToFileURL(join(root, 'src/config/servers-file.ts')).href;
    const children = ['a', 'b', 'c'].map((who) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, modUrl, '', paths.home, who, go], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let errText = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (errText += d));
      const ready = new Promise<void>((resolve) =>
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('ready')) resolve();
        }),
      );
      const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
        child.on('close', (code) => resolve({ code, stderr: errText })),
      );
      return { ready, done };
    });
    await Promise.all(children.map((c) => Promise.race([c.ready, c.done])));
    await writeFile(go, '');
    expect(await Promise.all(children.map((c) => c.done))).toEqual(Array.from({ length: 3 }, () => ({ code: 0, stderr: '' })));
    expect(Object.keys((await loadConfig(paths)).mcpServers)).toHaveLength(15);
  });
});

describe('getServer', () => {
  it('returns the server or throws SERVER_NOT_FOUND with a hint', () => {
    const cfg = { mcpServers: { a: { type: 'http' as const, url: 'https://a' } } };
    expect(getServer(cfg, 'a').url).toBe('https://a');
    for (const name of ['b', 'constructor', 'toString', '__proto__']) {
      let err: unknown;
      try {
        getServer(cfg, name);
      } catch (e) {
        err = e;
      }
      expect(isMcpAuthError(err, ErrorCode.ServerNotFound)).toBe(true);
      expect((err as { hint?: string }).hint).toContain('mcp-auth list');
      expect((err as { hint?: string }).hint).toContain('mcp-auth add');
    }
  });
});
