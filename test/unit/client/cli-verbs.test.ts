// The credential verbs through a daemon (a stand-in on loopback, see fake-daemon.ts): what they
// send (env lent per request, challenge, force), what they print, the exit codes the daemon's
// problems map to, the login loop (URL opened in the user's session, long-poll, timeout, Ctrl-C
// leaving the login), and the in-process fallback when the daemon drops the connection.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { PendingLoginView } from '../../../src/api-types.js';
import { makeHome, seedLogin, type Home } from '../cli/support.js';
import { problem, startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

const BROWSER_COMMAND = fileURLToPath(new URL('../../fixtures/browser-command.mjs', import.meta.url));
const URL_ = 'https://mcp.example.com/mcp';
const AUTH_URL = 'http://127.0.0.1:9/authorize?client_id=c&state=s';

let home: Home;
let daemon: FakeDaemon;
/** Talk to the daemon (support.ts turns it off for the in-process verb tests). */
const DAEMON = { MCP_AUTH_NO_DAEMON: '' };

beforeEach(async () => {
  home = await makeHome();
  daemon = await startFakeDaemon();
  await daemon.writeRuntime(home.paths.runtimeFile);
  const add = await home.run(['add-json', 'demo', JSON.stringify({ type: 'http', url: URL_, headers: { 'X-Key': '${API_KEY}', 'X-Region': '${REGION:-eu}' } })]);
  expect(add.code, add.stderr).toBe(0);
});
afterEach(async () => {
  await daemon.close();
  await home.remove();
});

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  return home.run(argv, { env: { ...DAEMON, ...env } });
}

function pending(over: Partial<PendingLoginView> = {}): PendingLoginView {
  return { id: 'L1', server: 'demo', kind: 'browser', status: 'pending', url: AUTH_URL, expiresAt: Date.now() + 600_000, ...over };
}

describe('headers via the daemon', () => {
  it("prints the daemon's headers and lends only the variables the server uses, plus MCP_CLIENT_SECRET", async () => {
    daemon.on('POST /v1/servers/demo/headers', { body: { headers: { Authorization: 'Bearer from-daemon', 'X-Key': 'k' } } });
    const r = await run(['headers', 'demo'], { API_KEY: 'k', OTHER: 'never', MCP_CLIENT_SECRET: 'cs' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('{"Authorization":"Bearer from-daemon","X-Key":"k"}\n');
    const req = daemon.requests.find((q) => q.url === '/v1/servers/demo/headers')!;
    expect(req.body).toEqual({ env: { API_KEY: 'k', MCP_CLIENT_SECRET: 'cs' } });
  });

  it('takes the name from CLAUDE_CODE_MCP_SERVER_NAME and GETs when there is nothing to lend', async () => {
    await home.run(['add', 'plain', 'https://plain.example.com/mcp']);
    daemon.on('GET /v1/servers/plain/headers', { body: { headers: { Authorization: 'Bearer p' } } });
    const r = await run(['headers'], { CLAUDE_CODE_MCP_SERVER_NAME: 'plain' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ Authorization: 'Bearer p' });
  });

  it("exits with the daemon's code: 3 and its hint for LOGIN_REQUIRED, nothing on stdout", async () => {
    daemon.on('POST /v1/servers/demo/headers', problem(409, 'LOGIN_REQUIRED', 'login required for "demo": not logged in', 'Run: mcp-auth login demo'));
    const r = await run(['headers', 'demo'], { API_KEY: 'k' });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[LOGIN_REQUIRED]');
    expect(r.stderr).toContain('hint: Run: mcp-auth login demo');
    daemon.on('POST /v1/servers/demo/headers', problem(400, 'CONFIG_INVALID', 'bad config', 'fix it'));
    expect((await run(['headers', 'demo', '--json'], { API_KEY: 'k' })).stdout).toContain('"code":"CONFIG_INVALID"');
  });

  it('does the work in-process when the daemon drops the connection', async () => {
    await seedLogin(home, 'demo', URL_, { accessToken: 'at-local', expiresAt: Date.now() + 3_600_000 });
    daemon.on('POST /v1/servers/demo/headers', { destroy: true });
    const r = await run(['headers', 'demo'], { API_KEY: 'k', MCP_AUTH_DEBUG: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ Authorization: 'Bearer at-local', 'X-Key': 'k', 'X-Region': 'eu' });
    expect(r.stderr).toContain('in-process');
  });
});

describe('token and logout via the daemon', () => {
  it('token prints the bearer token of the headers; NOT_OAUTH without one', async () => {
    daemon.on('POST /v1/servers/demo/headers', { body: { headers: { authorization: 'Bearer tok-1', 'X-Key': 'k' } } });
    const r = await run(['token', 'demo'], { API_KEY: 'k' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('tok-1\n');
    daemon.on('POST /v1/servers/demo/headers', { body: { headers: { 'X-Key': 'k' } } });
    const none = await run(['token', 'demo'], { API_KEY: 'k' });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('[NOT_OAUTH]');
  });

  it('token refuses a server with oauth: false without asking the daemon', async () => {
    await home.run(['add-json', 'static', JSON.stringify({ type: 'http', url: 'https://s.example.com/mcp', headers: { Authorization: 'Bearer static' }, oauth: false })]);
    const r = await run(['token', 'static']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[NOT_OAUTH]');
    expect(daemon.requests.some((q) => q.url.includes('/static/'))).toBe(false);
  });

  it('logout reports what the daemon did', async () => {
    daemon.on('POST /v1/servers/demo/logout', { body: { loggedOut: true, revoked: true } });
    const r = await run(['logout', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Logged out of "demo" (token revoked at the server)');
    daemon.on('POST /v1/servers/demo/logout', { body: { loggedOut: false, revoked: false } });
    expect((await run(['logout', 'demo'])).stderr).toContain('was not logged in');
    daemon.on('POST /v1/servers/demo/logout', problem(404, 'SERVER_NOT_FOUND', 'No server named "demo"', 'Run `mcp-auth list`'));
    expect((await run(['logout', 'demo'])).stderr).toContain('[SERVER_NOT_FOUND]');
  });

  it('logout lends the same variables as headers: the ones the server uses, plus MCP_CLIENT_SECRET', async () => {
    daemon.on('POST /v1/servers/demo/logout', { body: { loggedOut: true, revoked: true } });
    const r = await run(['logout', 'demo'], { API_KEY: 'k', OTHER: 'never', MCP_CLIENT_SECRET: 'cs' });
    expect(r.code, r.stderr).toBe(0);
    expect(daemon.requests.at(-1)!.body).toEqual({ env: { API_KEY: 'k', MCP_CLIENT_SECRET: 'cs' } });
    // Nothing to lend: an empty body.
    await run(['logout', 'demo']);
    expect(daemon.requests.at(-1)!.body).toEqual({});
  });
});

describe('login via the daemon', () => {
  it('says so when nothing needs doing, or a refresh sufficed', async () => {
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'unchanged', reason: 'already logged in' } });
    const r = await run(['login', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Nothing to do for "demo": already logged in.');
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'refreshed' } });
    const j = await run(['login', 'demo', '--json', '--www-authenticate', 'Bearer error="invalid_token"', '--force'], { API_KEY: 'k' });
    expect(JSON.parse(j.stdout)).toEqual({ server: 'demo', status: 'refreshed' });
    expect(daemon.requests.at(-1)!.body).toEqual({ force: true, challenge: 'Bearer error="invalid_token"', env: { API_KEY: 'k' } });
  });

  it('opens the URL in the user session, long-polls until done, and reports the result', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-auth-open-'));
    try {
      const urlFile = join(dir, 'urls.txt');
      daemon.on('POST /v1/servers/demo/login', { body: { status: 'pending', login: pending() } });
      let polls = 0;
      daemon.on('GET /v1/logins/L1', () => (++polls < 3 ? { body: { login: pending() } } : { body: { login: pending({ status: 'succeeded', scope: 'mcp:read' }) } }));
      daemon.on('GET /v1/servers', { body: { servers: [{ name: 'demo', url: URL_, type: 'http', state: 'ok', store: 'file', scope: 'mcp:read', expiresAt: Date.now() + 3_600_000, issuer: 'https://as' }] } });
      const r = await run(['login', 'demo'], { BROWSER: `${process.execPath} ${BROWSER_COMMAND}`, MCP_AUTH_TEST_URL_FILE: urlFile });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(AUTH_URL);
      expect(r.stderr).toContain('Logged in to "demo". Token expires in 60m; scope: mcp:read.');
      expect((await readFile(urlFile, 'utf8')).trim()).toBe(AUTH_URL);
      const gets = daemon.requests.filter((q) => q.url.startsWith('/v1/logins/L1'));
      expect(gets.map((q) => q.url)).toEqual(['/v1/logins/L1?wait=30', '/v1/logins/L1?wait=30', '/v1/logins/L1?wait=30']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--no-browser only prints the URL; --json prints the outcome', async () => {
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'pending', login: pending() } });
    daemon.on('GET /v1/logins/L1', { body: { login: pending({ status: 'succeeded', scope: 'mcp:read' }) } });
    daemon.on('GET /v1/servers', { body: { servers: [{ name: 'demo', url: URL_, type: 'http', state: 'ok', store: 'file', expiresAt: 42, issuer: 'https://as' }] } });
    // A BROWSER that would fail the test if it ran.
    const r = await run(['login', 'demo', '--no-browser', '--json'], { BROWSER: '/nonexistent/browser' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(AUTH_URL);
    expect(r.stderr).not.toContain('Could not open');
    expect(JSON.parse(r.stdout)).toEqual({ server: 'demo', status: 'logged_in', scope: 'mcp:read', expiresAt: 42, issuer: 'https://as' });
  });

  it("a failed login exits with the daemon's code and hint", async () => {
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'pending', login: pending() } });
    daemon.on('GET /v1/logins/L1', { body: { login: pending({ status: 'failed', error: { code: 'ACCESS_DENIED', message: 'the user denied access', hint: 'Try again and allow' } }) } });
    const r = await run(['login', 'demo', '--no-browser']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the user denied access [ACCESS_DENIED]');
    expect(r.stderr).toContain('hint: Try again and allow');
  });

  it('--timeout gives up, leaving the login (DELETE), with LOGIN_TIMEOUT', { timeout: 10_000 }, async () => {
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'pending', login: pending() } });
    daemon.on('GET /v1/logins/L1', (req) => ({ body: { login: pending() }, delayMs: req.url.includes('wait=1') ? 300 : 0 }));
    daemon.on('DELETE /v1/logins/L1', { status: 204 });
    const r = await run(['login', 'demo', '--no-browser', '--timeout', '0.5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[LOGIN_TIMEOUT]');
    expect(daemon.requests.some((q) => q.method === 'DELETE' && q.url === '/v1/logins/L1')).toBe(true);
  });

  it('Ctrl-C leaves the login (the daemon decides whether to cancel) and exits 1', { timeout: 10_000 }, async () => {
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'pending', login: pending() } });
    daemon.on('GET /v1/logins/L1', { hang: true });
    daemon.on('DELETE /v1/logins/L1', { status: 204 });
    const running = run(['login', 'demo', '--no-browser']);
    const deadline = Date.now() + 5_000;
    while (!daemon.requests.some((q) => q.url.startsWith('/v1/logins/L1?wait'))) {
      if (Date.now() > deadline) throw new Error('no long-poll');
      await new Promise((r) => setTimeout(r, 10));
    }
    process.emit('SIGINT', 'SIGINT');
    const r = await running;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[LOGIN_CANCELLED]');
    expect(daemon.requests.some((q) => q.method === 'DELETE' && q.url === '/v1/logins/L1')).toBe(true);
  });
});

describe('status', () => {
  it('shows the daemon and the servers it reports', async () => {
    daemon.on('GET /v1/servers', { body: { servers: [{ name: 'demo', url: URL_, type: 'http', state: 'refreshing', store: 'file' }] } });
    const j = await run(['status', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({
      daemon: { running: true, pid: process.pid, port: daemon.port, uptimeMs: 1234, version: '0.1.0', store: 'memory' },
      servers: [{ name: 'demo', url: URL_, type: 'http', state: 'refreshing', store: 'file' }],
    });
    const h = await run(['status']);
    expect(h.stdout).toContain(`daemon: running, pid ${process.pid}, 127.0.0.1:${daemon.port}, up 1s`);
    expect(h.stdout).toMatch(/demo\s+https:\/\/mcp\.example\.com\/mcp\s+refreshing/);
  });

  it('without a daemon (or with MCP_AUTH_NO_DAEMON) reads the store itself and starts nothing', async () => {
    const r = await home.run(['status', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ daemon: { running: false }, servers: [{ name: 'demo', state: 'error' }] });
    expect(daemon.requests).toEqual([]);
  });
});
