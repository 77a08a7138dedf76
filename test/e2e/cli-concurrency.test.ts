// Many `mcp-auth headers` processes at once (Claude Code starts one per MCP connection) against a
// real oidc-provider that rotates refresh tokens: exactly one refresh, one shared new token —
// in-process under the cross-process lock, and through the daemon they autostart together. Then
// the authorization server becomes unreachable and comes back: a still-valid token keeps working,
// an expired one fails as AUTH_SERVER_UNAVAILABLE (exit 1, not "log in again"), and once the
// server is back the kept refresh token still works.
//
// "Unreachable" must be reversible, and oidc-provider's issuer is tied to its port, so the token
// endpoint is reached through a loopback TCP relay that the test can close and re-open on the same
// port: after the browser login, the stored authorization-server snapshot (which is what `headers`
// refreshes against, with no discovery) is pointed at the relay.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import { BROWSER_COMMAND, completeLogin, launchBrowser, waitForAuthorizationUrl, type LaunchedBrowser } from '../fixtures/browser.js';
import { cliEnv, runCli, startCli, type CliResult } from '../support/cli.js';
import { callTool } from '../support/mcp-client.js';
import { resolvePaths } from '../../src/config/paths.js';
import { FileStore } from '../../src/store/file.js';
import { serverStateKey } from '../../src/store/key.js';
import { readCredential, readServerState, writeRecord, type CredentialRecord, type ServerState } from '../../src/broker/records.js';
import { refreshMargin } from '../../src/broker/refresh-policy.js';

// Long enough that the last quarter of the lifetime (the refresh margin, 2.5 s) comfortably holds
// one CLI run; short enough to keep the file well under a minute.
const TTL = 10;
const PARALLEL = 4;

let as: AuthServerFixture;
let mcp: McpServerFixture;
let browser: LaunchedBrowser;
let relay: Relay;
let home: string;
let env: NodeJS.ProcessEnv;
let store: FileStore;

/** A TCP relay on a fixed loopback port that can stop accepting (ECONNREFUSED) and start again. */
interface Relay {
  port: number;
  connections: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const relay: Relay = {
    port: 0,
    connections: 0,
    async up() {
      server = createServer((client) => {
        relay.connections += 1;
        const upstream = connect(targetPort, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, '127.0.0.1', () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      relay.port = port;
    },
    async down() {
      if (!server) return;
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async close() {
      await relay.down();
    },
  };
  await relay.up();
  return relay;
}

beforeAll(async () => {
  as = await startAuthorizationServer({ accessTokenTtl: TTL, scopes: ['mcp:read'] });
  mcp = await startMcpServer({ authServer: as, requiredScopes: ['mcp:read'] });
  relay = await startRelay(as.port);
  browser = await launchBrowser();
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-e2e-conc-'));
  env = cliEnv(home, { BROWSER: `${process.execPath} ${BROWSER_COMMAND}`, MCP_AUTH_TEST_URL_FILE: join(home, 'opened-urls.txt') });
  const paths = resolvePaths(env);
  store = new FileStore({ file: paths.credentialsFile, locksDir: paths.locksDir });
});

afterAll(async () => {
  if (home) await runCli(['stop'], env).catch(() => undefined);
  await browser?.close();
  await relay?.close();
  await mcp?.close();
  await as?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function credential(): Promise<CredentialRecord> {
  const state = await readServerState(store, serverStateKey('demo'));
  if (!state) throw new Error('no stored server state for "demo"');
  const cred = await readCredential(store, state.credentialKey);
  if (!cred) throw new Error('no stored credential for "demo"');
  return cred;
}

/** Sleeps until the stored token is inside its refresh margin (but, by then, not yet expired). */
async function untilRefreshDue(cred: CredentialRecord): Promise<void> {
  const due = cred.expiresAt! - refreshMargin(cred.expiresAt! - cred.obtainedAt);
  await sleep(due - Date.now() + 150);
}

async function untilExpired(cred: CredentialRecord): Promise<void> {
  await sleep(cred.expiresAt! - Date.now() + 250);
}

function authorization(r: CliResult): string {
  expect(r.code, r.stderr).toBe(0);
  const h = JSON.parse(r.stdout) as Record<string, string>;
  expect(Object.keys(h)).toEqual(['Authorization']);
  expect(h.Authorization).toMatch(/^Bearer \S+$/);
  return h.Authorization!;
}

async function echo(auth: string, text: string): Promise<unknown> {
  return (await callTool({ url: mcp.url, headers: { Authorization: auth }, clientName: 'e2e-concurrency' }, 'echo', { text })).content;
}

/** `serve` processes whose MCP_AUTH_HOME is `dir` (Linux /proc): how many daemons autostart made. */
async function daemonsFor(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (!cmdline.includes('serve') || !cmdline.some((a) => a.endsWith('mcp-auth.js'))) continue;
      const environ = (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0');
      if (environ.includes(`MCP_AUTH_HOME=${dir}`)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

interface Mode {
  label: string;
  daemon: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * Four `headers` at once with the token due → one refresh; then the AS goes away and comes back.
 * Runs against whatever token is stored, and leaves a fresh one behind.
 */
async function scenario(mode: Mode): Promise<void> {
  const modeEnv = { ...env, ...mode.env };
  const headers = (args: string[] = []) => runCli(['headers', 'demo', ...args], modeEnv);
  const refreshes = as.tokenRequests.refresh_token;
  const before = await credential();
  expect(before.refreshToken).toBeDefined();

  // 1. Four processes at once, token due for refresh: one refresh, one new token for all (and,
  // through the daemon, one daemon started for all of them).
  expect(await daemonsFor(home)).toEqual([]);
  await untilRefreshDue(before);
  const results = await Promise.all(Array.from({ length: PARALLEL }, () => headers()));
  const auths = results.map(authorization);
  expect(new Set(auths).size, JSON.stringify(results.map((r) => r.stderr))).toBe(1);
  expect(auths[0]).not.toBe(`Bearer ${before.accessToken}`);
  expect(as.tokenRequests.refresh_token).toBe(refreshes + 1);
  expect((await daemonsFor(home)).length).toBe(mode.daemon ? 1 : 0);
  const fresh = await credential();
  expect(`Bearer ${fresh.accessToken}`).toBe(auths[0]);
  // Rotated: the refresh token the AS issued with the new access token is the one kept.
  expect(fresh.refreshToken).toBeDefined();
  expect(fresh.refreshToken).not.toBe(before.refreshToken);
  expect(await echo(auths[0]!, 'after refresh')).toEqual([{ type: 'text', text: 'after refresh' }]);

  // 2. The AS becomes unreachable while the token is fresh: nothing to contact, headers works.
  await relay.down();
  expect(authorization(await headers())).toBe(auths[0]);

  // Due for refresh, AS unreachable, token still valid: the refresh fails quietly, exit 0.
  await untilRefreshDue(fresh);
  const stillValid = await headers();
  expect(authorization(stillValid)).toBe(auths[0]);
  // In-process the notice reaches the terminal; the daemon writes it to its log.
  if (!mode.daemon) expect(stillValid.stderr).toContain('the current token is still valid');

  // 3. Expired with the AS unreachable: exit 1 AUTH_SERVER_UNAVAILABLE — not 3, nothing lost.
  await untilExpired(fresh);
  const expired = await headers();
  expect(expired.code, expired.stderr).toBe(1);
  expect(expired.stdout).toBe('');
  expect(expired.stderr).toContain('[AUTH_SERVER_UNAVAILABLE]');
  expect(expired.stderr).not.toContain('mcp-auth login');
  const asJson = await headers(['--json']);
  expect(asJson.code).toBe(1);
  expect((JSON.parse(asJson.stdout) as { error: { code: string } }).error.code).toBe('AUTH_SERVER_UNAVAILABLE');
  const token = await runCli(['token', 'demo'], modeEnv);
  expect(token.code).toBe(1);
  expect(token.stderr).toContain('[AUTH_SERVER_UNAVAILABLE]');
  expect(as.tokenRequests.refresh_token).toBe(refreshes + 1);
  expect(await credential()).toEqual(fresh);
  const listed = await runCli(['list', '--json'], modeEnv);
  expect(JSON.parse(listed.stdout)).toMatchObject({ servers: [{ name: 'demo', state: 'ok', hasRefreshToken: true }] });

  // 4. The AS is reachable again: the kept (rotated) refresh token still works.
  await relay.up();
  const back = authorization(await headers());
  expect(back).not.toBe(auths[0]);
  expect(as.tokenRequests.refresh_token).toBe(refreshes + 2);
  expect(await echo(back, 'back again')).toEqual([{ type: 'text', text: 'back again' }]);
}

describe('concurrent `mcp-auth headers` and an unreachable authorization server', () => {
  it('logs in once in Chromium, with refreshes routed through a relay the test controls', { timeout: 30_000 }, async () => {
    expect((await runCli(['add', 'demo', mcp.url], env)).code).toBe(0);
    const login = startCli(['login', 'demo'], { ...env, MCP_AUTH_NO_DAEMON: '1' });
    const url = await waitForAuthorizationUrl(env.MCP_AUTH_TEST_URL_FILE!, 20_000);
    const page = await completeLogin(browser.context, url, as.user);
    const loggedIn = await login.result;
    expect(loggedIn.code, loggedIn.stderr).toBe(0);
    expect(page.pageText).toContain('Logged in');

    // Route refreshes through the relay (see the header comment).
    const state = (await readServerState(store, serverStateKey('demo')))!;
    const direct = state.as.token_endpoint!;
    expect(new URL(direct).port).toBe(String(as.port));
    const relayed: ServerState = { ...state, as: { ...state.as, token_endpoint: `http://127.0.0.1:${relay.port}${new URL(direct).pathname}` } };
    await writeRecord(store, serverStateKey('demo'), relayed);
    expect(as.tokenRequests.refresh_token).toBe(0);
  });

  it.each<Mode>([
    // Four processes refreshing under the cross-process lock of the credential store.
    { label: 'in-process', daemon: false, env: { MCP_AUTH_NO_DAEMON: '1' } },
    // Four processes racing to autostart the daemon: one daemon, which refreshes once.
    { label: 'daemon', daemon: true, env: {} },
  ])('$label: four at once refresh once; the AS goes away and comes back', { timeout: 40_000 }, async (mode) => {
    const connectionsBefore = relay.connections;
    await scenario(mode);
    expect(relay.connections).toBeGreaterThan(connectionsBefore);
  });
});
