// The other ways a login goes, with the real binary, oidc-provider, the SDK MCP server and
// Chromium: --no-browser, a pasted callback URL at a terminal (under a pseudo-terminal made by
// util-linux `script`), a fixed callback port that is taken, `login <url>` for a new server,
// "already logged in" / --force, and a denied consent that must not cost the earlier credential.
// Every case runs twice: in-process (MCP_AUTH_NO_DAEMON=1) and through the autostarted daemon,
// whose use is checked (a silent in-process fallback would otherwise pass for it).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import { BROWSER_COMMAND, completeLogin, launchBrowser, waitForAuthorizationUrl, type LaunchedBrowser } from '../fixtures/browser.js';
import { BIN, cliEnv, cliHeaders, runCli, startCli, type CliResult } from '../support/cli.js';
import { callTool } from '../support/mcp-client.js';

const SCRIPT = '/usr/bin/script';

let as: AuthServerFixture;
let mcp: McpServerFixture;
let browser: LaunchedBrowser;
const homes: string[] = [];

beforeAll(async () => {
  // A prerequisite, not an option: without it the pasted-URL path would go untested.
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} (util-linux) is needed to run the CLI under a pseudo-terminal`);
  as = await startAuthorizationServer({ accessTokenTtl: 300, scopes: ['mcp:read'] });
  mcp = await startMcpServer({ authServer: as, requiredScopes: ['mcp:read'] });
  browser = await launchBrowser();
});

afterAll(async () => {
  // Daemons started on demand by the daemon-mode cases.
  for (const h of homes) await runCli(['stop'], cliEnv(h)).catch(() => undefined);
  await browser?.close();
  await mcp?.close();
  await as?.close();
  for (const h of homes) await rm(h, { recursive: true, force: true });
});

interface Mode {
  label: string;
  daemon: boolean;
  env: NodeJS.ProcessEnv;
}

const MODES: Mode[] = [
  { label: 'in-process', daemon: false, env: { MCP_AUTH_NO_DAEMON: '1' } },
  { label: 'through the daemon', daemon: true, env: {} },
];

interface Home {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Where the $BROWSER stand-in records each URL it was asked to open. */
  urlFile: string;
  mode: Mode;
}

async function newHome(mode: Mode): Promise<Home> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-auth-e2e-variants-'));
  homes.push(dir);
  const urlFile = join(dir, 'opened-urls.txt');
  return { dir, urlFile, mode, env: cliEnv(dir, { BROWSER: `${process.execPath} ${BROWSER_COMMAND}`, MCP_AUTH_TEST_URL_FILE: urlFile, ...mode.env }) };
}

/** Whether the work went where the mode says: a running daemon, or none at all. */
async function expectMode(home: Home, output: string): Promise<void> {
  const st = await runCli(['status', '--json'], cliEnv(home.dir));
  expect(st.code, st.stderr).toBe(0);
  expect((JSON.parse(st.stdout) as { daemon: { running: boolean } }).daemon.running).toBe(home.mode.daemon);
  expect(output).not.toMatch(/without (it|the daemon)/);
}

async function openedUrls(home: Home): Promise<string[]> {
  if (!existsSync(home.urlFile)) return [];
  return (await readFile(home.urlFile, 'utf8')).split('\n').filter(Boolean);
}

/** Collects a child's output and resolves once `pattern` matches what it has printed so far. */
function watchOutput(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m) {
        stream.off('data', onData);
        resolve(m);
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`output ended without matching ${pattern}: ${JSON.stringify(text)}`)));
  });
}

const PRINTED_URL = /open this URL in a browser:\r?\n\r?\n {2}(http\S+)\r?\n/;

function exited(child: ChildProcess, output: () => string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: output(), stderr: '' }));
  });
}

async function headers(home: Home, name: string): Promise<string> {
  return ((await cliHeaders(home.env, name)) as { Authorization: string }).Authorization;
}

async function echo(auth: string, text: string): Promise<unknown> {
  return (await callTool({ url: mcp.url, headers: { Authorization: auth }, clientName: 'e2e-variants' }, 'echo', { text })).content;
}

const blockers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (blockers.length) await blockers.pop()!();
});

describe.each(MODES)('login variants ($label)', (mode) => {
  it('--no-browser prints the URL on stderr, runs no $BROWSER, and completes when Chromium opens it', { timeout: 40_000 }, async () => {
    const home = await newHome(mode);
    expect((await runCli(['add', 'demo', mcp.url], home.env)).code).toBe(0);
    const running = startCli(['login', '--no-browser', 'demo'], home.env);
    const [, url] = await watchOutput(running.child.stderr!, PRINTED_URL);
    expect(new URL(url!).origin).toBe(as.issuer);
    expect(new URL(url!).searchParams.get('code_challenge_method')).toBe('S256');

    const page = await completeLogin(browser.context, url!, as.user);
    expect(page.pageText).toContain('Logged in');
    const r = await running.result;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('Could not open a browser');
    // Without a terminal there is nobody to paste, so no paste prompt.
    expect(r.stderr).not.toContain('paste');
    await expectMode(home, r.stderr);
    expect(await openedUrls(home)).toEqual([]);
    expect(await echo(await headers(home, 'demo'), 'no-browser')).toEqual([{ type: 'text', text: 'no-browser' }]);
  });

  it('at a terminal, completes from a pasted callback URL when the browser cannot reach the listener', { timeout: 40_000 }, async () => {
    const home = await newHome(mode);
    expect((await runCli(['add', 'demo', mcp.url], home.env)).code).toBe(0);
    const codeExchanges = as.tokenRequests.authorization_code;

    // `script` gives the CLI a pseudo-terminal as stdin/stdout/stderr; we type into its stdin.
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const child = spawn(SCRIPT, ['-qfec', `${quote(process.execPath)} ${quote(BIN)} login --no-browser --timeout 30 demo`, '/dev/null'], {
      env: home.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    blockers.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const done = exited(child, () => output);
    // The URL and the paste prompt come in one go; wait for the prompt, the last of the two.
    await watchOutput(child.stdout!, /paste the URL it ends on here/);
    const url = PRINTED_URL.exec(output)?.[1];
    expect(url, output).toBeDefined();

    // The browser never reaches the loopback listener, as when it runs on another machine: the
    // consent form's POST is answered by the test, which follows the authorization server's
    // redirects itself (with the browser's cookies) up to the callback URL and shows that URL on
    // the page instead of sending the browser there — what a person would then copy and paste.
    // (Playwright cannot intercept the redirect to the callback itself: redirects are not routed.)
    const redirect = new URL(new URL(url!).searchParams.get('redirect_uri')!);
    const isCallback = (u: URL) => u.origin === redirect.origin && u.pathname === redirect.pathname;
    let callbackUrl: string | undefined;
    const isConfirm = (u: URL) => u.origin === as.issuer && /^\/interaction\/[^/]+\/confirm$/.test(u.pathname);
    await browser.context.route(isConfirm, async (route) => {
      let res = await route.fetch({ maxRedirects: 0 });
      let next = new URL(res.headers()['location'] ?? '', as.issuer);
      for (let hops = 0; !isCallback(next) && hops < 5; hops++) {
        res = await browser.context.request.get(next.href, { maxRedirects: 0 });
        next = new URL(res.headers()['location'] ?? '', as.issuer);
      }
      callbackUrl = isCallback(next) ? next.href : undefined;
      await route.fulfill({ status: 200, contentType: 'text/html', body: `<p id="pasteme">${callbackUrl ? 'callback captured' : 'no callback'}</p>` });
    });
    blockers.push(() => browser.context.unroute(isConfirm));
    const page = await browser.context.newPage();
    blockers.push(() => page.close());
    page.setDefaultTimeout(20_000);
    await page.goto(url!);
    if ((await page.locator('form#login').count()) > 0) {
      await page.locator('#login-input').fill(as.user.login);
      await page.locator('#password-input').fill(as.user.password);
      await page.locator('#login-button').click();
    }
    await page.locator('#approve-button').click();
    expect(await page.locator('#pasteme').innerText()).toBe('callback captured');
    expect(new URL(callbackUrl!).searchParams.get('code')).toBeTruthy();
    // The CLI is still waiting: nothing reached its listener.
    expect(child.exitCode).toBeNull();

    child.stdin!.write(`${callbackUrl}\n`);
    const r = await done;
    expect(r.code, output).toBe(0);
    expect(output).toMatch(/Logged in to "?demo"?/);
    await expectMode(home, output);
    expect(as.tokenRequests.authorization_code).toBe(codeExchanges + 1);
    child.stdin!.end();
    expect(await echo(await headers(home, 'demo'), 'pasted')).toEqual([{ type: 'text', text: 'pasted' }]);
  });

  it('fails with CALLBACK_PORT_IN_USE naming a fixed callback port that is taken, opening no browser', { timeout: 30_000 }, async () => {
    const home = await newHome(mode);
    const squatter: Server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    blockers.push(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const port = (squatter.address() as AddressInfo).port;

    expect((await runCli(['add', '--callback-port', String(port), 'demo', mcp.url], home.env)).code).toBe(0);
    const r = await runCli(['login', 'demo'], home.env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('[CALLBACK_PORT_IN_USE]');
    expect(r.stderr).toContain(String(port));
    expect(r.stderr).not.toContain('open this URL');
    expect(await openedUrls(home)).toEqual([]);
    expect((await runCli(['headers', 'demo'], home.env)).code).toBe(3);
    await expectMode(home, r.stderr);
  });

  it('login <url> adds the server and logs in; again is "Nothing to do"; --force logs in anew; a denied consent keeps the old credential', { timeout: 50_000 }, async () => {
    const home = await newHome(mode);

    // An unconfigured URL: a server entry named after its host is added, then the login runs.
    const first = startCli(['login', mcp.url], home.env);
    const page1 = await completeLogin(browser.context, await waitForAuthorizationUrl(home.urlFile, 20_000, 0), as.user);
    expect(page1.pageText).toContain('Logged in');
    const r1 = await first.result;
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stderr).toContain(`Added server "127.0.0.1" for ${mcp.url}.`);
    await expectMode(home, r1.stderr);
    expect(JSON.parse(await readFile(join(home.dir, 'servers.json'), 'utf8'))).toEqual({
      mcpServers: { '127.0.0.1': { type: 'http', url: mcp.url } },
    });
    const a1 = await headers(home, '127.0.0.1');
    expect(await echo(a1, 'by url')).toEqual([{ type: 'text', text: 'by url' }]);

    // Already logged in, by name or by the same URL: nothing happens, no browser.
    for (const target of ['127.0.0.1', mcp.url]) {
      const again = await runCli(['login', target], home.env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('Nothing to do for "127.0.0.1"');
      expect(again.stderr).not.toContain('open this URL');
    }
    const asJson = await runCli(['login', '--json', '127.0.0.1'], home.env);
    expect(asJson.code, asJson.stderr).toBe(0);
    expect(JSON.parse(asJson.stdout)).toEqual({ server: '127.0.0.1', status: 'unchanged', reason: expect.stringContaining('already logged in') as string });
    expect(await openedUrls(home)).toHaveLength(1);
    expect(Object.keys((JSON.parse(await readFile(join(home.dir, 'servers.json'), 'utf8')) as { mcpServers: object }).mcpServers)).toEqual(['127.0.0.1']);

    // --force: a new browser login and a new token.
    const forced = startCli(['login', '--force', '127.0.0.1'], home.env);
    await completeLogin(browser.context, await waitForAuthorizationUrl(home.urlFile, 20_000, 1), as.user);
    const r2 = await forced.result;
    expect(r2.code, r2.stderr).toBe(0);
    const a2 = await headers(home, '127.0.0.1');
    expect(a2).not.toBe(a1);

    // Denied at the consent page: ACCESS_DENIED, and the credential from before still works.
    const denied = startCli(['login', '--force', '127.0.0.1'], home.env);
    const deniedPage = await completeLogin(browser.context, await waitForAuthorizationUrl(home.urlFile, 20_000, 2), as.user, { deny: true });
    expect(new URL(deniedPage.finalUrl).searchParams.get('error')).toBe('access_denied');
    const r3 = await denied.result;
    expect(r3.code, r3.stderr).toBe(1);
    expect(r3.stderr).toContain('[ACCESS_DENIED]');
    expect(await headers(home, '127.0.0.1')).toBe(a2);
    expect(await echo(a2, 'still here')).toEqual([{ type: 'text', text: 'still here' }]);
  });
});
