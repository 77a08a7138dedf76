// Crash safety of the daemon's refresh (issue 3, "The broker"): a real `mcp-auth serve` process,
// a real oidc-provider that rotates refresh tokens (and, like most servers, revokes the whole
// grant when a rotated-away refresh token comes back), Chromium for the login, and a pausable
// proxy in front of the token endpoint (the stored authorization-server snapshot is pointed at it,
// as in cli-concurrency.test.ts). The daemon is SIGKILLed at the two moments that matter:
//
//   (a) before the refresh request reaches the AS: nothing was spent, so after a restart the
//       untouched refresh token still refreshes, and the new token works at the MCP server;
//   (b) after the AS answered (the refresh token is rotated, the new one exists only in that
//       answer) but before the daemon got it: after a restart, a clean "login required" naming
//       `mcp-auth login demo` (no hang, no crash loop, an intact store), and that command works.
//
// Daemons are started with `mcp-auth serve` by the test (MCP_AUTH_NO_DAEMON unset), so their PIDs
// are known and each is stopped in afterAll.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import { BROWSER_COMMAND, completeLogin, launchBrowser, waitForAuthorizationUrl, type LaunchedBrowser } from '../fixtures/browser.js';
import { cliEnv, runCli, startCli, type CliResult } from '../support/cli.js';
import { callTool } from '../support/mcp-client.js';
import { startPausableProxy, type PausableProxy } from '../support/pausable-proxy.js';
import { startDaemon, stopAllDaemons, type DaemonProcess } from '../support/daemon-process.js';
import { resolvePaths, type Paths } from '../../src/config/paths.js';
import { FileStore } from '../../src/store/file.js';
import { serverStateKey } from '../../src/store/key.js';
import { readCredential, readServerState, writeRecord, type CredentialRecord, type ServerState } from '../../src/broker/records.js';
import { refreshMargin } from '../../src/broker/refresh-policy.js';

/** Access tokens live 6 s: due for refresh 1.5 s before expiry, so each wait below is ~5 s. */
const TTL = 6;
/** Upper bound for one CLI run: a run that needs longer is treated as hung (and killed). */
const HANG_MS = 20_000;

let as: AuthServerFixture;
let mcp: McpServerFixture;
let proxy: PausableProxy;
let browser: LaunchedBrowser;
let home: string;
let env: NodeJS.ProcessEnv;
let paths: Paths;
let store: FileStore;
let urlFile: string;
let logFile: string;
let opened = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

beforeAll(async () => {
  as = await startAuthorizationServer({ accessTokenTtl: TTL, scopes: ['mcp:read'] });
  mcp = await startMcpServer({ authServer: as, requiredScopes: ['mcp:read'] });
  proxy = await startPausableProxy(as.issuer);
  browser = await launchBrowser();
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-crash-'));
  urlFile = join(home, 'opened-urls.txt');
  logFile = join(home, 'daemons.log');
  env = cliEnv(home, { BROWSER: `${process.execPath} ${BROWSER_COMMAND}`, MCP_AUTH_TEST_URL_FILE: urlFile });
  paths = resolvePaths(env);
  store = new FileStore({ file: paths.credentialsFile, locksDir: paths.locksDir });
});

afterAll(async () => {
  await stopAllDaemons();
  await browser?.close();
  await proxy?.close();
  await mcp?.close();
  await as?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

/** Runs the CLI; one that has not finished within HANG_MS is killed and reported as hung. */
async function runBounded(args: string[]): Promise<CliResult> {
  const running = startCli(args, env);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    running.child.kill('SIGKILL');
  }, HANG_MS);
  const result = await running.result;
  clearTimeout(timer);
  expect(hung, `\`mcp-auth ${args.join(' ')}\` hung (no answer within ${HANG_MS} ms)`).toBe(false);
  return result;
}

async function serverState(): Promise<ServerState> {
  const state = await readServerState(store, serverStateKey('demo'));
  if (!state) throw new Error('no stored server state for "demo"');
  return state;
}

async function credential(): Promise<CredentialRecord> {
  const cred = await readCredential(store, (await serverState()).credentialKey);
  if (!cred) throw new Error('no stored credential for "demo"');
  return cred;
}

/** Sleeps until the stored token is inside its refresh margin. */
async function untilRefreshDue(cred: CredentialRecord): Promise<void> {
  const due = cred.expiresAt! - refreshMargin(cred.expiresAt! - cred.obtainedAt);
  await sleep(due - Date.now() + 100);
}

/** The whole credential store must still parse (a crash must never leave it half-written). */
async function storeFile(): Promise<{ version: number; entries: Record<string, string> }> {
  return JSON.parse(await readFile(paths.credentialsFile, 'utf8')) as { version: number; entries: Record<string, string> };
}

async function echo(headers: Record<string, string>, text: string): Promise<unknown> {
  return (await callTool({ url: mcp.url, headers, clientName: 'e2e-crash-safety' }, 'echo', { text })).content;
}

/** `mcp-auth login demo` through the running daemon, completed in Chromium. */
async function browserLogin(): Promise<CliResult> {
  const running = startCli(['login', 'demo'], env);
  // Fails fast (with what the CLI said) if it finishes without ever opening a browser.
  const url = await Promise.race([
    waitForAuthorizationUrl(urlFile, 30_000, opened),
    running.result.then((r) => {
      throw new Error(`\`mcp-auth login demo\` finished without opening a browser (exit ${r.code}): ${r.stderr.trim()}`);
    }),
  ]);
  opened += 1;
  const page = await completeLogin(browser.context, url, as.user);
  expect(page.pageText).toContain('Logged in');
  return running.result;
}

/** Points the stored authorization-server snapshot's token endpoint at the proxy. */
async function routeTokenEndpointThroughProxy(): Promise<void> {
  const state = await serverState();
  const direct = state.as.token_endpoint!;
  expect(new URL(direct).origin).toBe(as.issuer);
  const routed: ServerState = { ...state, as: { ...state.as, token_endpoint: proxy.via(direct) } };
  await writeRecord(store, serverStateKey('demo'), routed);
}

function bearer(headers: Record<string, string>): string {
  expect(headers.Authorization).toMatch(/^Bearer \S+$/);
  return headers.Authorization!.slice('Bearer '.length);
}

describe('the daemon killed in the middle of a refresh', () => {
  let daemon: DaemonProcess;

  it('logs in through a daemon the test started, refreshes routed through the pausable proxy', { timeout: 45_000 }, async () => {
    expect((await runCli(['add', 'demo', mcp.url], env)).code).toBe(0);
    // A second server, with static headers: the daemon must keep serving it whatever happens to "demo".
    const other = await runCli(['add-json', 'other', JSON.stringify({ type: 'http', url: 'http://127.0.0.1:9/mcp', headers: { 'X-Api-Key': 'static-key' }, oauth: false })], env);
    expect(other.code, other.stderr).toBe(0);

    daemon = await startDaemon(env, logFile);
    const login = await browserLogin();
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain('Logged in to "demo"');
    await routeTokenEndpointThroughProxy();
    expect(as.tokenRequests.refresh_token).toBe(0);
  });

  it('(a) killed before the refresh is forwarded: after a restart the untouched refresh token refreshes', { timeout: 40_000 }, async () => {
    const before = await credential();
    expect(before.refreshToken).toBeDefined();
    const state = await serverState();

    const heldRequest = proxy.pauseBeforeForward();
    await untilRefreshDue(before);
    // A client asks for headers; the daemon starts the refresh, which the proxy holds.
    const asked = daemon.api.request('GET', '/v1/servers/demo/headers');
    asked.catch(() => undefined);
    const held = await heldRequest;
    expect(held.form().get('grant_type')).toBe('refresh_token');
    // Refreshed with what the store holds.
    expect(held.form().get('refresh_token')).toBe(before.refreshToken);

    await daemon.kill();
    await expect(asked).rejects.toThrow();
    await held.clientGone;
    await proxy.release();
    // The request died with the daemon: the AS never saw it.
    expect(proxy.counters.forwarded).toBe(0);
    expect(proxy.counters.dropped).toBe(1);
    expect(as.tokenRequests.refresh_token).toBe(0);
    // It died inside the credential's critical section: its lock file is still there…
    expect(existsSync(join(paths.locksDir, `${state.credentialKey}.lock`))).toBe(true);
    // …and the store is intact and unchanged.
    expect((await storeFile()).version).toBe(1);
    expect(await credential()).toEqual(before);

    daemon = await startDaemon(env, logFile);
    const r = await runBounded(['headers', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    const headers = JSON.parse(r.stdout) as Record<string, string>;
    const token = bearer(headers);
    expect(token).not.toBe(before.accessToken);
    // The new daemon refreshed once, with the same (never spent) refresh token.
    expect(as.tokenRequests.refresh_token).toBe(1);
    expect(proxy.counters.forwarded).toBe(1);
    const after = await credential();
    expect(after.accessToken).toBe(token);
    expect(after.refreshToken).toBeDefined();
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(await echo(headers, 'after the crash')).toEqual([{ type: 'text', text: 'after the crash' }]);
  });

  it('(b) killed after the AS rotated the refresh token, before the daemon saved it: a clean login_required', { timeout: 60_000 }, async () => {
    const before = await credential();
    const refreshesBefore = as.tokenRequests.refresh_token;
    const forwardedBefore = proxy.counters.forwarded;

    const heldAnswer = proxy.pauseAfterResponse();
    await untilRefreshDue(before);
    const asked = daemon.api.request('GET', '/v1/servers/demo/headers');
    asked.catch(() => undefined);
    const answer = await heldAnswer;
    // The AS has answered: it spent the stored refresh token and issued a new one, which now
    // exists only in this held answer.
    expect(answer.request.form().get('refresh_token')).toBe(before.refreshToken);
    expect(answer.status).toBe(200);
    const rotated = answer.json<{ access_token: string; refresh_token: string }>();
    expect(rotated.refresh_token).toBeDefined();
    expect(rotated.refresh_token).not.toBe(before.refreshToken);
    expect(as.tokenRequests.refresh_token).toBe(refreshesBefore + 1);

    await daemon.kill();
    await expect(asked).rejects.toThrow();
    await answer.request.clientGone;
    await proxy.release();
    expect(proxy.counters.dropped).toBe(2);

    // Nothing half-written: the store parses and still holds the last saved credential.
    const file = await storeFile();
    expect(file.version).toBe(1);
    expect(Object.keys(file.entries).length).toBeGreaterThan(0);
    expect(await credential()).toEqual(before);
    expect(JSON.stringify(file)).not.toContain(rotated.refresh_token);

    daemon = await startDaemon(env, logFile);
    const r = await runBounded(['headers', 'demo']);
    // Login required (exit 3), saying what to run; nothing on stdout for Claude Code to misuse.
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('mcp-auth login demo');
    expect(r.stderr).toContain('LOGIN_REQUIRED');
    // It tried the stored (spent) refresh token once, and the AS refused it.
    expect(as.tokenRequests.refresh_token).toBe(refreshesBefore + 2);
    expect(proxy.counters.forwarded).toBe(forwardedBefore + 2);

    // No crash loop: the same daemon is up, healthy, serving other servers and the same answer.
    expect(daemon.running).toBe(true);
    expect((await daemon.api.health()).pid).toBe(daemon.pid);
    const other = await runBounded(['headers', 'other']);
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout)).toEqual({ 'X-Api-Key': 'static-key' });
    const again = await runBounded(['headers', 'demo']);
    expect(again.code, again.stderr).toBe(3);
    expect(again.stderr).toContain('mcp-auth login demo');
    expect(daemon.running).toBe(true);
    const listed = await daemon.api.request('GET', '/v1/servers');
    expect(listed.status).toBe(200);
    const servers = (listed.json as { servers: Array<{ name: string; state: string }> }).servers;
    expect(servers.map((s) => s.name).sort()).toEqual(['demo', 'other']);
    expect(servers.find((s) => s.name === 'demo')?.state).toBe('login_required');
    expect((await storeFile()).version).toBe(1);

    // What the message says to run works: a new browser login, and the server is usable again.
    const login = await browserLogin();
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain('Logged in to "demo"');
    const h = await runBounded(['headers', 'demo']);
    expect(h.code, h.stderr).toBe(0);
    const headers = JSON.parse(h.stdout) as Record<string, string>;
    expect(await echo(headers, 'logged in again')).toEqual([{ type: 'text', text: 'logged in again' }]);
    expect(await daemon.api.servers()).toMatchObject([{ name: 'demo', state: 'ok' }, { name: 'other', state: 'not_oauth' }]);
    expect(daemon.running).toBe(true);
  });
});
