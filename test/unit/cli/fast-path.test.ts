// The CommonJS entry's fast path for `mcp-auth headers [name]` (bin/mcp-auth.cjs): one request to
// a running daemon, no /v1/health, the same output as the full CLI; the full CLI on any deviation.
// Also the parity of its copies of resolvePaths, readRuntimeFile, selectRequestEnv and
// daemonDisabled with the TypeScript originals.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { daemonDisabled } from '../../../src/cli/daemon.js';
import { selectRequestEnv } from '../../../src/client/request-env.js';
import { readRuntimeFile } from '../../../src/client/runtime.js';
import { resolvePaths } from '../../../src/config/paths.js';
import { problem, startFakeDaemon, TOKEN, type FakeDaemon } from '../client/fake-daemon.js';

interface Fast {
  fastHeaders(argv: string[], env: NodeJS.ProcessEnv): Promise<string | undefined>;
  fastName(argv: string[], env: NodeJS.ProcessEnv): string | undefined;
  runtimePaths(env: NodeJS.ProcessEnv): { runtimeFile: string; configFile: string };
  readRuntime(file: string): unknown;
  selectEnv(config: unknown, name: string, env: NodeJS.ProcessEnv): Record<string, string>;
  daemonDisabled(env: NodeJS.ProcessEnv): boolean;
  parseResponse(raw: Buffer): unknown;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CJS_BIN = join(ROOT, 'bin', 'mcp-auth.cjs');
const ESM_BIN = join(ROOT, 'bin', 'mcp-auth.js');
const fast = createRequire(import.meta.url)(CJS_BIN) as Fast;

let dir: string;
let daemon: FakeDaemon;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-fast-'));
  daemon = await startFakeDaemon();
  env = { PATH: process.env.PATH, HOME: dir, MCP_AUTH_HOME: dir };
});
afterEach(async () => {
  await daemon.close();
  await rm(dir, { recursive: true, force: true });
});

const runtimeFile = (): string => resolvePaths(env).runtimeFile;
const paths = (): string[] => daemon.requests.map((r) => `${r.method} ${r.url}`);

async function servers(mcpServers: Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, 'servers.json'), JSON.stringify({ mcpServers }));
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], e: NodeJS.ProcessEnv = env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The full ES module CLI alone (what bin/mcp-auth.js ran before the fast path). */
function fullCli(argv: string[], e: NodeJS.ProcessEnv = env): Promise<Run> {
  const url = new URL('dist/cli/index.js', `file://${ROOT}`).href;
  const script = `import(${JSON.stringify(url)}).then((m) => m.main(${JSON.stringify(argv)})).then((c) => { process.exitCode = c; });`;
  return run(['--input-type=module', '-e', script], e);
}

describe('fast path', () => {
  it('answers with one GET, no /v1/health, the bearer token, and the same output as the full CLI', async () => {
    daemon.on('GET /v1/servers/demo/headers', { body: { headers: { Authorization: 'Bearer at-1', 'X-A': 'é"\\' } } });
    await daemon.writeRuntime(runtimeFile());
    const out = await fast.fastHeaders(['headers', 'demo'], env);
    expect(out).toBe(JSON.stringify({ Authorization: 'Bearer at-1', 'X-A': 'é"\\' }) + '\n');
    expect(paths()).toEqual(['GET /v1/servers/demo/headers']);
    const req = daemon.requests[0]!;
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.headers.host).toBe(`127.0.0.1:${daemon.port}`);
    expect(req.headers.connection).toBe('close');

    for (const bin of [CJS_BIN, ESM_BIN]) {
      daemon.requests.length = 0;
      const r = await run([bin, 'headers', 'demo']);
      expect(paths(), bin).toEqual(['GET /v1/servers/demo/headers']);
      daemon.requests.length = 0;
      const full = await fullCli(['headers', 'demo']);
      expect(paths()).toEqual(['GET /v1/health', 'GET /v1/servers/demo/headers']);
      expect(r).toEqual(full);
      expect(r).toEqual({ code: 0, stdout: out, stderr: '' });
    }
  });

  it('takes the name from CLAUDE_CODE_MCP_SERVER_NAME and percent-encodes it', async () => {
    daemon.on('GET /v1/servers/a%2Fb%20c/headers', { body: { headers: { Authorization: 'Bearer x' } } });
    await daemon.writeRuntime(runtimeFile());
    expect(await fast.fastHeaders(['headers'], { ...env, CLAUDE_CODE_MCP_SERVER_NAME: 'a/b c' })).toBe('{"Authorization":"Bearer x"}\n');
    expect(paths()).toEqual(['GET /v1/servers/a%2Fb%20c/headers']);
  });

  it('lends exactly the referenced ${VAR}s and MCP_CLIENT_SECRET, with a POST like the full CLI', async () => {
    await servers({
      demo: { type: 'http', url: 'https://${HOST}/mcp', headers: { 'X-K': '${KEY:-none}', 'X-E': '${EMPTY}' } },
      other: { type: 'http', url: 'https://${OTHER}/mcp' },
    });
    daemon.on('POST /v1/servers/demo/headers', { body: { headers: { Authorization: 'Bearer p' } } });
    await daemon.writeRuntime(runtimeFile());
    const e = { ...env, HOST: 'h.example', EMPTY: '', OTHER: 'no', MCP_CLIENT_SECRET: 's3', UNRELATED: 'u' };
    const r = await run([CJS_BIN, 'headers', 'demo'], e);
    expect(r).toEqual({ code: 0, stdout: '{"Authorization":"Bearer p"}\n', stderr: '' });
    const fastBody = daemon.requests.map((q) => q.body);
    daemon.requests.length = 0;
    await fullCli(['headers', 'demo'], e);
    expect(fastBody).toEqual([daemon.requests[1]!.body]);
    expect(fastBody[0]).toEqual({ env: { HOST: 'h.example', EMPTY: '', MCP_CLIENT_SECRET: 's3' } });
  });

  it('is not taken for other verbs, flags, extra arguments, an empty name or MCP_AUTH_NO_DAEMON', () => {
    const withName = { ...env, CLAUDE_CODE_MCP_SERVER_NAME: 'demo' };
    expect(fast.fastName(['headers', 'demo'], env)).toBe('demo');
    expect(fast.fastName(['headers'], withName)).toBe('demo');
    expect(fast.fastName(['headers', 'demo'], { ...env, MCP_AUTH_NO_DAEMON: '0' })).toBe('demo');
    for (const argv of [['token', 'demo'], ['headers', '--json'], ['headers', 'demo', '--json'], ['headers', '-h'], ['headers', '--', 'x'], ['headers', ''], ['headers']]) {
      expect(fast.fastName(argv, env), argv.join(' ')).toBeUndefined();
    }
    expect(fast.fastName(['headers', 'demo'], { ...env, MCP_AUTH_NO_DAEMON: '1' })).toBeUndefined();
  });

  describe('falls back to the full CLI', () => {
    it('without a runtime file, with a refused connection, or with an untrusted runtime file', async () => {
      expect(await fast.fastHeaders(['headers', 'demo'], env)).toBeUndefined();
      await daemon.writeRuntime(runtimeFile(), { port: await closedPort() });
      expect(await fast.fastHeaders(['headers', 'demo'], env)).toBeUndefined();
      await daemon.writeRuntime(runtimeFile());
      await chmod(runtimeFile(), 0o640);
      expect(await fast.fastHeaders(['headers', 'demo'], env)).toBeUndefined();
      expect(daemon.requests).toEqual([]);
    });

    it('on a 401 (a stale token), a problem, a non-JSON answer, a bad body, or a hang', async () => {
      await daemon.writeRuntime(runtimeFile(), { token: 'S'.repeat(43) });
      expect(await fast.fastHeaders(['headers', 'demo'], env)).toBeUndefined();
      expect(daemon.requests.map((r) => r.url)).toEqual(['/v1/servers/demo/headers']);
      await daemon.writeRuntime(runtimeFile());
      const replies = [
        problem(403, 'LOGIN_REQUIRED', 'log in first'),
        { body: '{"headers":{}}', contentType: 'text/plain' },
        { body: { headers: { A: 1 } } },
        { body: { nope: true } },
        { status: 204 },
        { destroy: true },
        { hang: true },
      ];
      for (const reply of replies) {
        daemon.on('GET /v1/servers/demo/headers', reply);
        expect(await fast.fastHeaders(['headers', 'demo'], env), JSON.stringify(reply)).toBeUndefined();
      }
    });

    it('and prints what the full CLI prints, with its exit code (a problem answer)', async () => {
      daemon.on('GET /v1/servers/demo/headers', problem(403, 'LOGIN_REQUIRED', 'not logged in to demo', 'Run `mcp-auth login demo`'));
      await daemon.writeRuntime(runtimeFile());
      const r = await run([CJS_BIN, 'headers', 'demo']);
      expect(paths()).toEqual(['GET /v1/servers/demo/headers', 'GET /v1/health', 'GET /v1/servers/demo/headers']);
      const full = await fullCli(['headers', 'demo']);
      expect(r).toEqual(full);
      expect(r.code).toBe(3);
    });

    it('and works in-process like the full CLI when no daemon can be used', async () => {
      // A runtime directory others can enter: the full CLI does not try to start a daemon there.
      await mkdir(join(dir, 'run'), { mode: 0o755 });
      await chmod(join(dir, 'run'), 0o755);
      const r = await run([CJS_BIN, 'headers', 'demo']);
      expect(r.code).not.toBe(0);
      expect(r).toEqual(await fullCli(['headers', 'demo']));
      expect(await run([ESM_BIN, 'headers', 'demo'])).toEqual(r);
    });
  });
});

describe('the response reader', () => {
  const ok = (head: string, body: string): Buffer => Buffer.from(`${head}\r\n\r\n${body}`, 'utf8');
  it('accepts only a 200 JSON answer, its body framed by Content-Length, chunks or the end of the connection', () => {
    const b = '{"headers":{"A":"ü"}}';
    const len = Buffer.byteLength(b);
    expect(fast.parseResponse(ok(`HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${len}`, b))).toEqual({ headers: { A: 'ü' } });
    for (const head of [
      `HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: ${len}`,
      `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${len}`,
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${len - 1}`,
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${len}\r\ntransfer-encoding: chunked`,
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: gzip`,
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${len}\r\ncontent-length: ${len}`,
    ]) {
      expect(fast.parseResponse(ok(head, b)), head).toBeUndefined();
    }
    expect(fast.parseResponse(ok('HTTP/1.1 200 OK\r\ncontent-type: application/json', b))).toEqual({ headers: { A: 'ü' } });
    expect(fast.parseResponse(Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json'))).toBeUndefined();
    expect(() => fast.parseResponse(ok('HTTP/1.1 200 OK\r\ncontent-type: application/json', '{"head'))).toThrow();
    const chunked = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked';
    const bytes = Buffer.from(b);
    const c1 = `${(bytes.length - 5).toString(16)}\r\n${bytes.subarray(0, -5).toString('latin1')}\r\n5\r\n${bytes.subarray(-5).toString('latin1')}\r\n0\r\n\r\n`;
    expect(fast.parseResponse(Buffer.concat([Buffer.from(`${chunked}\r\n\r\n`), Buffer.from(c1, 'latin1')]))).toEqual({ headers: { A: 'ü' } });
    for (const bad of ['e\r\n{"headers":{}}\r\n', 'e\r\n{"headers":{}}\r\n0\r\nX-T: 1\r\n\r\n', 'e;x=1\r\n{"headers":{}}\r\n0\r\n\r\n', 'f\r\n{"headers":{}}\r\n0\r\n\r\n']) {
      expect(fast.parseResponse(ok(chunked, bad)), bad).toBeUndefined();
    }
  });
});

describe('parity with the TypeScript sources', () => {
  it('resolves the runtime and config files as resolvePaths does', () => {
    const envs: NodeJS.ProcessEnv[] = [
      { MCP_AUTH_HOME: '/a/b' },
      { MCP_AUTH_HOME: 'rel/home', HOME: '/h' },
      { MCP_AUTH_HOME: '', HOME: '/h' },
      { HOME: '/h' },
      { HOME: '/h', XDG_CONFIG_HOME: '/c', XDG_DATA_HOME: '/d', XDG_RUNTIME_DIR: '/r' },
      { HOME: '/h', XDG_CONFIG_HOME: 'rel', XDG_DATA_HOME: '', XDG_RUNTIME_DIR: 'rel' },
      { HOME: '/h', XDG_DATA_HOME: '/d' },
      { HOME: '', XDG_STATE_HOME: '/s' },
      {},
    ];
    for (const e of envs) {
      const p = resolvePaths(e);
      expect(fast.runtimePaths(e), JSON.stringify(e)).toEqual({ runtimeFile: p.runtimeFile, configFile: p.configFile });
    }
  });

  it('lends the same variables as selectRequestEnv', () => {
    const e = { A: 'a', B: '', C: 'c', MCP_CLIENT_SECRET: 's', PATH: '/bin' };
    const configs: unknown[] = [
      undefined,
      null,
      [],
      { mcpServers: null },
      { mcpServers: { demo: 'x' } },
      { mcpServers: { demo: { url: 'https://${A}/${B:-b}/${Z}', headersHelper: 'run ${C}', headers: { h: '${A}${C:-}', n: 1 } } } },
      { mcpServers: { demo: { url: '$A ${1X} ${A-x} ${_ok}', headers: ['${C}'] } } },
      { mcpServers: { other: { url: '${A}' } } },
      { mcpServers: Object.create({ demo: { url: '${A}' } }) },
    ];
    for (const c of configs) {
      for (const env2 of [e, { ...e, MCP_CLIENT_SECRET: '' }, {}]) {
        expect(fast.selectEnv(c, 'demo', env2), JSON.stringify(c)).toEqual(selectRequestEnv(c, 'demo', env2));
      }
    }
  });

  it('reads the runtime file with the same checks as readRuntimeFile', async () => {
    const file = runtimeFile();
    const good = { pid: 123, port: 4567, token: TOKEN, startedAt: 1, version: '0.1.0' };
    const cases: Array<[string, () => Promise<void>]> = [
      ['missing', async () => undefined],
      ['valid', async () => writeFile(file, JSON.stringify(good), { mode: 0o600 })],
      ['group-readable', async () => chmod(file, 0o640)],
      ['symlink', async () => {
        await rm(file);
        await writeFile(join(dir, 'real.json'), JSON.stringify(good), { mode: 0o600 });
        await symlink(join(dir, 'real.json'), file);
      }],
      ['directory', async () => {
        await rm(file);
        await mkdir(file, { mode: 0o700 });
      }],
      ['oversized', async () => {
        await rm(file, { recursive: true });
        await writeFile(file, JSON.stringify({ ...good, pad: 'x'.repeat(5000) }), { mode: 0o600 });
      }],
      ['extra fields', async () => writeFile(file, JSON.stringify({ ...good, extra: 1 }), { mode: 0o600 })],
      ['short token', async () => writeFile(file, JSON.stringify({ ...good, token: 'short' }), { mode: 0o600 })],
      ['bad port', async () => writeFile(file, JSON.stringify({ ...good, port: 70000 }), { mode: 0o600 })],
      ['bad pid', async () => writeFile(file, JSON.stringify({ ...good, pid: 1.5 }), { mode: 0o600 })],
      ['no version', async () => writeFile(file, JSON.stringify({ ...good, version: '' }), { mode: 0o600 })],
      ['not JSON', async () => writeFile(file, '{', { mode: 0o600 })],
      ['array', async () => writeFile(file, '[]', { mode: 0o600 })],
    ];
    await mkdir(join(dir, 'run'), { mode: 0o700 });
    for (const [what, setup] of cases) {
      await setup();
      expect(fast.readRuntime(file), what).toEqual(await readRuntimeFile({ runtimeFile: file }));
    }
    await writeFile(file, JSON.stringify(good), { mode: 0o600 });
    expect(fast.readRuntime(file)).toEqual(good);
  });

  it('reads MCP_AUTH_NO_DAEMON as daemonDisabled does', () => {
    for (const v of [undefined, '', '0', 'false', 'no', ' No ', 'FALSE', '1', 'true', 'yes', 'x']) {
      const e = v === undefined ? {} : { MCP_AUTH_NO_DAEMON: v };
      expect(fast.daemonDisabled(e), String(v)).toBe(daemonDisabled(e));
    }
  });
});
