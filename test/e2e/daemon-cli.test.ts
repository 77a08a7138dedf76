// The CLI through the real daemon process: `mcp-auth headers` starting exactly one daemon for five
// concurrent callers, a browser login owned by the daemon (completed in Chromium, surviving a
// killed CLI), headers from the daemon driving an SDK MCP client, the `headers` hot path loading
// no OAuth library, fastify or fetch, `status`, `stop`, and MCP_AUTH_NO_DAEMON=1 with no daemon at
// all. Real oidc-provider, real protected MCP server, real `mcp-auth` binary (dist/).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import { BROWSER_COMMAND, completeLogin, launchBrowser, waitForAuthorizationUrl, type LaunchedBrowser } from '../fixtures/browser.js';
import { startBrowserLogin } from '../support/browser-login.js';
import { BIN, cliEnv, cliHeaders, runCli, startCli, type CliResult } from '../support/cli.js';
import { callTool as callMcpTool } from '../support/mcp-client.js';
import { alive, waitFor } from '../support/processes.js';

let as: AuthServerFixture;
let mcp: McpServerFixture;
let browser: LaunchedBrowser;
let home: string;
let env: NodeJS.ProcessEnv;
let urlFile: string;
let opened = 0;
/** Every daemon PID this file has seen, so afterAll can make sure none is left. */
const seenDaemons = new Set<number>();

const SECRET_CANARY = 'mcp-client-secret-canary-1f2e3d';

/** PIDs of `mcp-auth serve` processes serving this test's MCP_AUTH_HOME (Linux /proc). */
function daemonPids(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.includes(BIN) || !argv.includes('serve')) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`MCP_AUTH_HOME=${home}`)) out.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours.
    }
  }
  return out;
}

function processEnv(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

async function runtimeFile(): Promise<{ pid: number; port: number; token: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(home, 'run', 'daemon.json'), 'utf8')) as { pid: number; port: number; token: string };
  } catch {
    return undefined;
  }
}

async function daemonLog(): Promise<string> {
  return readFile(join(home, 'daemon.log'), 'utf8').catch(() => '');
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

async function killAllDaemons(): Promise<void> {
  for (const pid of daemonPids()) seenDaemons.add(pid);
  for (const pid of seenDaemons) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      continue;
    }
    await waitFor(() => !alive(pid), 10_000, `daemon ${pid} to exit`).catch(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
  }
}

beforeAll(async () => {
  as = await startAuthorizationServer({ accessTokenTtl: 300, scopes: ['mcp:read'] });
  mcp = await startMcpServer({ authServer: as, requiredScopes: ['mcp:read'] });
  browser = await launchBrowser();
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-daemon-e2e-'));
  urlFile = join(home, 'opened-urls.txt');
  env = cliEnv(home, { BROWSER: `${process.execPath} ${BROWSER_COMMAND}`, MCP_AUTH_TEST_URL_FILE: urlFile });
});

afterAll(async () => {
  if (home) await killAllDaemons();
  await browser?.close();
  await mcp?.close();
  await as?.close();
  if (home) {
    // Fails the file if a daemon was left running.
    const left = daemonPids();
    await rm(home, { recursive: true, force: true });
    expect(left).toEqual([]);
  }
});

async function headers(extra: NodeJS.ProcessEnv = {}): Promise<Record<string, string>> {
  return cliHeaders({ ...env, ...extra });
}

const callTool = (h: Record<string, string>, name: string, args: Record<string, unknown> = {}) =>
  callMcpTool({ url: mcp.url, headers: h, clientName: 'daemon-e2e' }, name, args);

/** Runs `mcp-auth login …` and completes the browser part in Chromium. */
async function browserLogin(args: string[]): Promise<{ result: CliResult; url: string }> {
  const { running, url, page } = await startBrowserLogin({ env, urlFile, index: opened++, context: browser.context, user: as.user }, args);
  expect(page.pageText).toContain('Logged in');
  return { result: await running.result, url };
}

describe('mcp-auth through the daemon', () => {
  let token1 = '';

  it('five concurrent `headers` start exactly one daemon, which answers all of them', { timeout: 60_000 }, async () => {
    const add = await runCli(['add', 'demo', mcp.url], env);
    expect(add.code, add.stderr).toBe(0);
    expect(daemonPids()).toEqual([]);

    const started = Date.now();
    // MCP_CLIENT_SECRET rides along: the daemon these callers start must not inherit it.
    const results = await Promise.all(
      Array.from({ length: 5 }, () => runCli(['headers', 'demo'], { ...env, MCP_CLIENT_SECRET: SECRET_CANARY, MCP_AUTH_DEBUG: '1' })),
    );
    const elapsed = Date.now() - started;
    for (const r of results) {
      // Answered (by the daemon: no "in-process" fallback), with the login it needs.
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('mcp-auth login demo');
      expect(r.stderr).not.toContain('in-process');
    }
    // The callers did not wait for the daemon to exit: it does not hold their stdout/stderr.
    expect(elapsed).toBeLessThan(15_000);

    const rt = await runtimeFile();
    expect(rt).toBeDefined();
    const pids = daemonPids();
    expect(pids).toEqual([rt!.pid]);
    seenDaemons.add(rt!.pid);
    const log = await daemonLog();
    expect(count(log, 'mcp-auth daemon listening')).toBe(1);
    expect(log).not.toContain('already running');
    expect(count(log, '/v1/servers/demo/headers')).toBeGreaterThanOrEqual(5);

    // Its own session, and nobody's client secret.
    const stat = readFileSync(`/proc/${rt!.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(fields[3])).toBe(rt!.pid); // session id == its pid: setsid()
    expect(processEnv(rt!.pid).some((v) => v.startsWith('MCP_CLIENT_SECRET='))).toBe(false);
    expect(log).not.toContain(SECRET_CANARY);

    // A later call reuses it.
    const again = await runCli(['headers', 'demo'], env);
    expect(again.code).toBe(3);
    expect(daemonPids()).toEqual([rt!.pid]);
  });

  it('logs in through the daemon (URL opened by the CLI, completed in Chromium); headers drive an SDK client', { timeout: 90_000 }, async () => {
    const { result, url } = await browserLogin(['demo']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Logged in to "demo"');
    const auth = new URL(url);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('resource')).toBe(mcp.url);
    // The login was the daemon's (the CLI only started and watched it).
    const log = await daemonLog();
    expect(log).toContain('/v1/servers/demo/login');
    expect(log).toContain('/v1/logins/');

    const h = await headers();
    expect(h.Authorization).toMatch(/^Bearer \S+$/);
    token1 = h.Authorization!.slice('Bearer '.length);
    const echoed = await callTool(h, 'echo', { text: 'via daemon' });
    expect(echoed.content).toEqual([{ type: 'text', text: 'via daemon' }]);

    const token = await runCli(['token', 'demo'], env);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim()).toBe(token1);

    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const st = JSON.parse(status.stdout) as { daemon: { running: boolean; pid: number; port: number }; servers: Array<{ name: string; state: string }> };
    const rt = await runtimeFile();
    expect(st.daemon).toMatchObject({ running: true, pid: rt!.pid, port: rt!.port });
    expect(st.servers).toMatchObject([{ name: 'demo', state: 'ok' }]);
    const human = await runCli(['status'], env);
    expect(human.stdout).toContain(`daemon: running, pid ${rt!.pid}`);
    expect(human.stdout).toMatch(/demo\s+\S+\s+logged in/);
    expect(daemonPids()).toEqual([rt!.pid]);
  });

  it('a killed `login` does not abort the login: the daemon owns it and finishes it', { timeout: 90_000 }, async () => {
    const running = startCli(['login', 'demo', '--force'], env);
    const url = await waitForAuthorizationUrl(urlFile, 30_000, opened++);
    running.child.kill('SIGKILL');
    await running.result;
    const page = await completeLogin(browser.context, url, as.user);
    expect(page.pageText).toContain('Logged in');
    // The daemon saved the new credential although nobody is waiting for it.
    await waitFor(async () => (await headers()).Authorization !== `Bearer ${token1}`, 10_000, 'the new token');
    const h = await headers();
    expect((await callTool(h, 'echo', { text: 'again' })).content).toEqual([{ type: 'text', text: 'again' }]);
  });

  it('`headers` with a running daemon loads no OAuth library, fastify, undici or fetch', { timeout: 30_000 }, async () => {
    const record = join(home, 'loaded-modules.txt');
    const hook = join(home, 'record-hook.mjs');
    const register = join(home, 'record-register.mjs');
    await writeFile(
      hook,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.MCP_AUTH_TEST_MODULES, r.url + '\\n');
  return r;
}
`,
    );
    await writeFile(
      register,
      `import { createRequire, register } from 'node:module';
const fs = createRequire(import.meta.url)('node:fs');
register(${JSON.stringify(pathToFileURL(hook).href)});
// undici (behind the global fetch, Headers, Response…) is an internal module loaded on first use.
process.on('exit', () => {
  const internal = process.moduleLoadList.filter((m) => /undici|fetch/i.test(m));
  fs.appendFileSync(process.env.MCP_AUTH_TEST_MODULES, internal.map((m) => 'internal:' + m + '\\n').join(''));
});
`,
    );
    const child = startCli(['headers', 'demo'], { ...env, MCP_AUTH_TEST_MODULES: record, NODE_OPTIONS: `--import ${pathToFileURL(register).href}` });
    const r = await child.result;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('Authorization');
    const loaded = (await readFile(record, 'utf8')).split('\n').filter(Boolean);
    const ours = loaded.filter((u) => u.startsWith('file:')).map((u) => u.replace(/^.*\/dist\//, 'dist/'));
    // The CommonJS fast path (bin/mcp-auth.cjs) answers alone: none of dist/ is loaded.
    expect(ours.some((u) => u.endsWith('/bin/mcp-auth.cjs'))).toBe(true);
    expect(ours.filter((u) => u.startsWith('dist/'))).toEqual([]);
    expect(ours.filter((u) => u.includes('node_modules'))).toEqual([]);
    expect(ours.filter((u) => /dist\/(oauth|broker|daemon|store|helpers)\//.test(u))).toEqual([]);
    expect(loaded.filter((u) => u.startsWith('internal:'))).toEqual([]);
    expect(loaded.filter((u) => /undici|fastify|oauth4webapi|openid-client|pino/.test(u))).toEqual([]);
  });

  it('`stop` stops the daemon and removes the runtime file', { timeout: 30_000 }, async () => {
    const rt = await runtimeFile();
    expect(rt).toBeDefined();
    const r = await runCli(['stop'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Stopped the mcp-auth daemon (pid ${rt!.pid})`);
    expect(alive(rt!.pid)).toBe(false);
    expect(await runtimeFile()).toBeUndefined();
    expect(daemonPids()).toEqual([]);
    const again = await runCli(['stop'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('not running');
    const status = await runCli(['status', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ daemon: { running: false }, servers: [{ name: 'demo', state: 'ok' }] });
    expect(daemonPids()).toEqual([]);
  });

  it('MCP_AUTH_NO_DAEMON=1 works in-process and starts no daemon', { timeout: 30_000 }, async () => {
    const h = await headers({ MCP_AUTH_NO_DAEMON: '1' });
    expect(h.Authorization).toMatch(/^Bearer \S+$/);
    expect((await callTool(h, 'echo', { text: 'no daemon' })).content).toEqual([{ type: 'text', text: 'no daemon' }]);
    const token = await runCli(['token', 'demo'], { ...env, MCP_AUTH_NO_DAEMON: '1' });
    expect(`Bearer ${token.stdout.trim()}`).toBe(h.Authorization);
    expect(await runtimeFile()).toBeUndefined();
    expect(daemonPids()).toEqual([]);
  });

  it('`logout` goes through a daemon it starts, and revokes the token', { timeout: 30_000 }, async () => {
    const h = await headers({ MCP_AUTH_NO_DAEMON: '1' });
    const token = h.Authorization!.slice('Bearer '.length);
    const out = await runCli(['logout', 'demo'], env);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('revoked');
    const rt = await runtimeFile();
    expect(rt).toBeDefined();
    seenDaemons.add(rt!.pid);
    expect(daemonPids()).toEqual([rt!.pid]);
    expect((await as.introspect(token)).active).toBe(false);
    const after = await runCli(['headers', 'demo'], env);
    expect(after.code).toBe(3);
    const stop = await runCli(['stop'], env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(daemonPids()).toEqual([]);
  });

  it('a daemon whose runtime file is removed (no client can find it) shuts down', { timeout: 30_000 }, async () => {
    const r = await runCli(['headers', 'demo'], env);
    expect(r.code).toBe(3);
    const rt = await runtimeFile();
    expect(rt).toBeDefined();
    seenDaemons.add(rt!.pid);
    await rm(join(home, 'run', 'daemon.json'));
    await waitFor(() => !alive(rt!.pid), 15_000, 'the orphaned daemon to exit');
    expect(daemonPids()).toEqual([]);
    expect(await daemonLog()).toContain('no longer names this daemon');
  });
});
