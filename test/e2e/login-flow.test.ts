// The whole user journey against real parts: oidc-provider (dynamic registration, PKCE, resource
// indicators, rotating refresh tokens, 30 s access tokens), a protected MCP server built with the
// SDK, Chromium filling the real login and consent pages, and the `mcp-auth` binary.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import { BROWSER_COMMAND, launchBrowser, type LaunchedBrowser } from '../fixtures/browser.js';
import { startBrowserLogin } from '../support/browser-login.js';
import { cliEnv, cliHeaders, runCli } from '../support/cli.js';
import { callTool as callMcpTool } from '../support/mcp-client.js';

const TTL = 30;
let as: AuthServerFixture;
let mcp: McpServerFixture;
let browser: LaunchedBrowser;
let home: string;
let env: NodeJS.ProcessEnv;
let urlFile: string;
let logins = 0;

beforeAll(async () => {
  as = await startAuthorizationServer({ accessTokenTtl: TTL, scopes: ['mcp:read', 'mcp:write'] });
  mcp = await startMcpServer({
    authServer: as,
    requiredScopes: ['mcp:read'],
    toolScopes: { write_note: ['mcp:write'] },
    scopesSupported: ['mcp:read'],
  });
  browser = await launchBrowser();
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-e2e-'));
  urlFile = join(home, 'opened-urls.txt');
  // The engine in-process, so token request counts are exact; test/e2e/daemon-cli.test.ts runs
  // the same journey through the daemon (whose background refresher makes counts timing-bound).
  env = cliEnv(home, { BROWSER: `${process.execPath} ${BROWSER_COMMAND}`, MCP_AUTH_TEST_URL_FILE: urlFile, MCP_AUTH_NO_DAEMON: '1' });
});

afterAll(async () => {
  // login/headers start a daemon on demand; stop it so no process outlives the test.
  if (env) await runCli(['stop'], env);
  await browser?.close();
  await mcp?.close();
  await as?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

/** Runs `mcp-auth login …`, completes the browser part in Chromium, returns the CLI's result. */
async function browserLogin(args: string[]) {
  const { running, url, page } = await startBrowserLogin({ env, urlFile, index: logins++, context: browser.context, user: as.user }, args);
  const result = await running.result;
  return { result, url, page };
}

const headers = () => cliHeaders(env);

const callTool = (h: Record<string, string>, name: string, args: Record<string, unknown> = {}) =>
  callMcpTool({ url: mcp.url, headers: h, clientName: 'e2e' }, name, args);

describe('mcp-auth against a real authorization server, MCP server and browser', () => {
  it('add → login in Chromium → headers → tool call → expiry and refresh → step-up → logout', { timeout: 180_000 }, async () => {
    const add = await runCli(['add', 'demo', mcp.url], env);
    expect(add.code, add.stderr).toBe(0);

    const before = await runCli(['headers', 'demo'], env);
    expect(before.code).toBe(3);
    expect(before.stderr).toContain('mcp-auth login demo');

    const started = Date.now();
    const first = await browserLogin(['demo']);
    const loginMs = Date.now() - started;
    expect(first.result.code, first.result.stderr).toBe(0);
    expect(first.page.pages).toEqual(['login', 'consent']);
    expect(first.page.pageText).toContain('Logged in');
    const auth = new URL(first.url);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('resource')).toBe(mcp.url);
    // The challenge asked for mcp:read; offline_access because this AS lists it.
    expect(auth.searchParams.get('scope')).toBe('mcp:read offline_access');
    expect(as.registrations).toBe(1);
    console.log(`e2e: browser login took ${loginMs} ms`);

    const h1 = await headers();
    expect(h1.Authorization).toMatch(/^Bearer \S+$/);
    const echoed = await callTool(h1, 'echo', { text: 'hello' });
    expect(echoed.content).toEqual([{ type: 'text', text: 'hello' }]);

    // Nothing refreshes while the token is fresh.
    expect((await headers()).Authorization).toBe(h1.Authorization);
    expect(as.tokenRequests.refresh_token).toBe(0);

    // Past expiry the server rejects the old token; headers refreshes it and the tool works again.
    await new Promise((r) => setTimeout(r, TTL * 1000 + 1000));
    await expect(callTool(h1, 'echo', { text: 'stale' })).rejects.toThrow();
    const h2 = await headers();
    expect(h2.Authorization).not.toBe(h1.Authorization);
    expect(as.tokenRequests.refresh_token).toBe(1);
    expect((await callTool(h2, 'echo', { text: 'again' })).content).toEqual([{ type: 'text', text: 'again' }]);

    // A tool that needs mcp:write: 403 insufficient_scope → step-up login with the union of scopes.
    const res = await fetch(mcp.url, {
      method: 'POST',
      headers: { ...h2, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'write_note', arguments: {} } }),
    });
    expect(res.status).toBe(403);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toContain('insufficient_scope');
    const stepUp = await browserLogin(['demo', '--www-authenticate', challenge]);
    expect(stepUp.result.code, stepUp.result.stderr).toBe(0);
    expect(new URL(stepUp.url).searchParams.get('scope')?.split(' ').sort()).toEqual(['mcp:read', 'mcp:write', 'offline_access']);
    const h3 = await headers();
    expect((await callTool(h3, 'write_note')).content).toEqual([{ type: 'text', text: 'write_note ok' }]);
    // Already holding every challenged scope: a no-op, no browser.
    const noop = await runCli(['login', 'demo', '--www-authenticate', challenge], env);
    expect(noop.code, noop.stderr).toBe(0);
    expect(noop.stderr).toContain('Nothing to do');

    const list = await runCli(['list', '--json'], env);
    const listed = JSON.parse(list.stdout) as { servers: Array<{ name: string; state: string; scope?: string }> };
    expect(listed.servers).toMatchObject([{ name: 'demo', state: 'ok' }]);

    const token = (await runCli(['token', 'demo'], env)).stdout.trim();
    expect(`Bearer ${token}`).toBe(h3.Authorization);
    const out = await runCli(['logout', 'demo'], env);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('revoked');
    expect((await as.introspect(token)).active).toBe(false);
    const after = await runCli(['headers', 'demo'], env);
    expect(after.code).toBe(3);

    // The credential store is 0600 and never holds the token in the config file.
    const config = await readFile(join(home, 'servers.json'), 'utf8');
    expect(config).not.toContain(token);
  });
});
