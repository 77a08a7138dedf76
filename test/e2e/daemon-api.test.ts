// MCP clients that get their credentials from the daemon's HTTP API directly (issue 3, "Proof"):
// the runtime file gives the port and API token; each client is the MCP SDK's Client over
// StreamableHTTPClientTransport with a `fetch` that asks the daemon for headers on every request
// and reports the MCP server's 401/403 to POST /v1/servers/:name/challenge (test/support/daemon-api.ts).
// Real `mcp-auth serve` process, real oidc-provider, real protected MCP server, Chromium.
//
//   (a) two clients, neither logged in, share one login: one login id, one registration, one
//       token request, the same Authorization for both;
//   (b) the access token stops working before the expiry the daemon knows of → the MCP server
//       answers 401 invalid_token → the challenge (401 + WWW-Authenticate + sha256 of the token)
//       gets new headers (`refreshed`), the call succeeds; a second report about the same old
//       token is `current`, with no token request;
//   (c) a tool needing an extra scope → 403 insufficient_scope → the challenge starts a step-up
//       login (`login`, with its URL) → Chromium → GET /v1/logins/:id?wait=30 → succeeded → the
//       call succeeds; the same 403 reported now is `unchanged`;
//   (d) the token revoked at the AS: oidc-provider then revokes every token of the grant, the
//       refresh token included, so the challenge's one refresh meets invalid_grant → a
//       LOGIN_REQUIRED problem naming `mcp-auth login demo`, and the server is listed login_required.
//
// Why (b) does not revoke: revoking an access token at oidc-provider revokes its whole grant
// (lib/helpers/revoke.js), which leaves nothing to refresh with — that is case (d). To get a token
// the resource server refuses while its refresh token is still good, (b) lets the access token
// really expire at the AS after telling the daemon (through its store) that it lives an hour: the
// AS ended it earlier than announced, which the daemon cannot know until a server says 401.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import type { PendingLoginView } from '../../src/api-types.js';
import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import { completeLogin, launchBrowser, type LaunchedBrowser } from '../fixtures/browser.js';
import { cliEnv, runCli } from '../support/cli.js';
import { DaemonApi, daemonFetch, sha256, type AuthEvent } from '../support/daemon-api.js';
import { startDaemon, stopAllDaemons } from '../support/daemon-process.js';
import { resolvePaths } from '../../src/config/paths.js';
import { FileStore } from '../../src/store/file.js';
import { serverStateKey } from '../../src/store/key.js';
import { readCredential, readServerState, writeRecord, type CredentialRecord } from '../../src/broker/records.js';

/** Long enough that no refresh is due while (a)–(c) run; (b) waits for one token to expire. */
const TTL = 15;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

let as: AuthServerFixture;
let mcp: McpServerFixture;
let browser: LaunchedBrowser;
let home: string;
let env: NodeJS.ProcessEnv;
let store: FileStore;
let api: DaemonApi;

/** Logins completed in Chromium, by login id: a login joined by several clients is completed once. */
const completed = new Map<string, Promise<void>>();
async function completeInBrowser(login: PendingLoginView): Promise<void> {
  let done = completed.get(login.id);
  if (!done) {
    expect(login.url).toBeDefined();
    done = completeLogin(browser.context, login.url!, as.user).then((page) => {
      expect(page.pageText).toContain('Logged in');
    });
    completed.set(login.id, done);
  }
  await done;
}

beforeAll(async () => {
  as = await startAuthorizationServer({ accessTokenTtl: TTL, scopes: ['mcp:read', 'mcp:write'] });
  mcp = await startMcpServer({
    authServer: as,
    requiredScopes: ['mcp:read'],
    toolScopes: { write_note: ['mcp:write'] },
    // Only mcp:read is advertised, so the first login asks for that and write_note needs a step-up.
    scopesSupported: ['mcp:read'],
  });
  browser = await launchBrowser();
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-api-'));
  env = cliEnv(home);
  const paths = resolvePaths(env);
  store = new FileStore({ file: paths.credentialsFile, locksDir: paths.locksDir });
  expect((await runCli(['add', 'demo', mcp.url], env)).code).toBe(0);
  const daemon = await startDaemon(env, join(home, 'daemon.log'));
  // What any client does: the runtime file names the port and the API token.
  api = await DaemonApi.fromRuntimeFile(paths);
  expect((await api.health()).pid).toBe(daemon.pid);
});

afterAll(async () => {
  await stopAllDaemons();
  await browser?.close();
  await mcp?.close();
  await as?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

interface ApiClient {
  client: Client;
  events: AuthEvent[];
}

async function connectClient(label: string): Promise<ApiClient> {
  const events: AuthEvent[] = [];
  const client = new Client({ name: `daemon-api-${label}`, version: '1.0.0' });
  const fetch = daemonFetch({ api, server: 'demo', onLogin: completeInBrowser, events });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url), { fetch }));
  return { client, events };
}

/** The Authorization values the MCP server received from `from` on (in arrival order). */
function authorizationsSince(from: number): string[] {
  return mcp.requestLog.slice(from).map((r) => r.authorization ?? '(none)');
}

function token(headers: Record<string, string> | undefined): string {
  expect(headers?.Authorization).toMatch(/^Bearer \S+$/);
  return headers!.Authorization!.slice('Bearer '.length);
}

async function stored(): Promise<{ key: string; cred: CredentialRecord }> {
  const state = (await readServerState(store, serverStateKey('demo')))!;
  return { key: state.credentialKey, cred: (await readCredential(store, state.credentialKey))! };
}

/** RFC 7009 revocation of an access token at the AS, as the client that holds it. */
async function revokeAtAs(accessToken: string): Promise<void> {
  const state = (await readServerState(store, serverStateKey('demo')))!;
  const cred = (await readCredential(store, state.credentialKey))!;
  const body = new URLSearchParams({ token: accessToken, token_type_hint: 'access_token' });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const { clientId, tokenEndpointAuthMethod } = state.client;
  if (tokenEndpointAuthMethod === 'client_secret_basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(cred.clientSecret!)}`).toString('base64')}`;
  } else {
    body.set('client_id', clientId);
    if (tokenEndpointAuthMethod === 'client_secret_post') body.set('client_secret', cred.clientSecret!);
  }
  const res = await fetch(state.as.revocation_endpoint!, { method: 'POST', headers, body });
  expect(res.status, await res.text()).toBe(200);
  expect((await as.introspect(accessToken)).active).toBe(false);
}

describe('MCP SDK clients getting their headers from the daemon API', () => {
  let a: ApiClient;
  let b: ApiClient;

  afterAll(async () => {
    await a?.client.close();
    await b?.client.close();
  });

  it('(a) two clients share one login: one token request, the same Authorization', { timeout: 45_000 }, async () => {
    const listed = await api.request('GET', '/v1/servers');
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({ servers: [{ name: 'demo', state: 'login_required' }] });
    const firstRequest = mcp.requestLog.length;

    // Both connect at once, neither logged in: each asks the daemon to log in, and they join.
    [a, b] = await Promise.all([connectClient('a'), connectClient('b')]);
    const started = [...a.events, ...b.events].filter((e): e is Extract<AuthEvent, { kind: 'login-required' }> => e.kind === 'login-required');
    expect(started).toHaveLength(2);
    expect(started[0]!.login.id).toBe(started[1]!.login.id);
    expect(completed.size).toBe(1);
    for (const c of [a, b]) {
      expect(c.events.find((e) => e.kind === 'login-finished')).toMatchObject({ login: { status: 'succeeded' } });
    }

    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'echo', arguments: { text: 'from a' } }),
      b.client.callTool({ name: 'echo', arguments: { text: 'from b' } }),
    ]);
    expect(ra.content).toEqual([{ type: 'text', text: 'from a' }]);
    expect(rb.content).toEqual([{ type: 'text', text: 'from b' }]);

    // One registration, one code exchange, nothing else at the token endpoint.
    expect(as.registrations).toBe(1);
    expect(as.tokenRequests).toEqual({ authorization_code: 1, refresh_token: 0, total: 1 });
    // Every authorized request of both clients carried the same token (the one the daemon holds).
    const current = await api.headers('demo');
    const sent = authorizationsSince(firstRequest).filter((v) => v !== '(none)');
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(new Set(sent)).toEqual(new Set([current.Authorization]));
    expect(await api.servers()).toMatchObject([{ name: 'demo', state: 'ok', hasRefreshToken: true }]);
  });

  it('(b) a token the server no longer accepts → 401 → challenge → refreshed headers → the call succeeds; a stale report is `current`', { timeout: 40_000 }, async () => {
    const { key, cred } = await stored();
    const old = cred.accessToken;
    expect(token(await api.headers('demo'))).toBe(old);
    // The daemon is told the token lives another hour; the AS lets it expire as announced.
    const believed: CredentialRecord = { ...cred, expiresAt: Date.now() + 3_600_000 };
    await writeRecord(store, key, believed);
    await sleep(cred.expiresAt! - Date.now() + 1_500);
    expect((await as.introspect(old)).active).toBe(false);
    expect(token(await api.headers('demo'))).toBe(old);
    const refreshes = as.tokenRequests.refresh_token;
    a.events.length = 0;

    const r = await a.client.callTool({ name: 'echo', arguments: { text: 'after revocation' } });
    expect(r.content).toEqual([{ type: 'text', text: 'after revocation' }]);

    // Exactly one challenge round trip: 401 invalid_token, reported with the rejected token's hash.
    const challenges = a.events.filter((e): e is Extract<AuthEvent, { kind: 'challenge' }> => e.kind === 'challenge');
    expect(challenges).toHaveLength(1);
    const [ch] = challenges;
    expect(ch!.status).toBe(401);
    expect(ch!.wwwAuthenticate).toContain('error="invalid_token"');
    expect(ch!.tokenHash).toBe(sha256(old));
    expect(ch!.response.action).toBe('refreshed');
    const fresh = token(ch!.response.headers);
    expect(fresh).not.toBe(old);
    expect(as.tokenRequests.refresh_token).toBe(refreshes + 1);
    expect((await as.introspect(fresh)).active).toBe(true);
    expect(token(await api.headers('demo'))).toBe(fresh);

    // Another client reporting the same old token (it had it cached): the current headers, no token request.
    const again = await api.challenge('demo', { status: 401, wwwAuthenticate: ch!.wwwAuthenticate, tokenHash: sha256(old) });
    expect(again.action).toBe('current');
    expect(token(again.headers)).toBe(fresh);
    expect(as.tokenRequests.refresh_token).toBe(refreshes + 1);

    // The other client needs no challenge at all: its next request already gets the new token.
    b.events.length = 0;
    const rb = await b.client.callTool({ name: 'echo', arguments: { text: 'b after refresh' } });
    expect(rb.content).toEqual([{ type: 'text', text: 'b after refresh' }]);
    expect(b.events).toEqual([]);
    expect(as.tokenRequests.refresh_token).toBe(refreshes + 1);
  });

  it('(c) 403 insufficient_scope → challenge starts a step-up login → Chromium → the call succeeds; the same 403 again is `unchanged`', { timeout: 45_000 }, async () => {
    const before = token(await api.headers('demo'));
    const codes = as.tokenRequests.authorization_code;
    a.events.length = 0;

    // The SDK call blocks while the client's fetch runs the step-up (the test's Chromium is "the person").
    const r = await a.client.callTool({ name: 'write_note', arguments: {} });
    expect(r.content).toEqual([{ type: 'text', text: 'write_note ok' }]);

    expect(a.events.map((e) => e.kind)).toEqual(['challenge', 'login-finished']);
    const ch = a.events[0] as Extract<AuthEvent, { kind: 'challenge' }>;
    expect(ch.status).toBe(403);
    expect(ch.wwwAuthenticate).toContain('error="insufficient_scope"');
    expect(ch.tokenHash).toBe(sha256(before));
    expect(ch.response.action).toBe('login');
    const login = ch.response.login!;
    expect(login).toMatchObject({ server: 'demo', kind: 'browser', status: 'pending' });
    expect(login.expiresAt).toBeGreaterThan(Date.now());
    // Step-up asks for the union of what is held and what was challenged.
    expect(new URL(login.url!).searchParams.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['mcp:read', 'mcp:write']));
    expect(completed.has(login.id)).toBe(true);
    const finished = a.events[1] as Extract<AuthEvent, { kind: 'login-finished' }>;
    expect(finished.login).toMatchObject({ id: login.id, status: 'succeeded' });
    expect(await api.getLogin(login.id)).toMatchObject({ id: login.id, status: 'succeeded' });
    expect(as.tokenRequests.authorization_code).toBe(codes + 1);

    const after = await api.headers('demo');
    expect(token(after)).not.toBe(before);
    const who = await a.client.callTool({ name: 'whoami', arguments: {} });
    expect((who.structuredContent as { scopes: string[] }).scopes).toEqual(expect.arrayContaining(['mcp:read', 'mcp:write']));
    const tokenRequests = as.tokenRequests.total;

    // The same 403 reported for the new token: every challenged scope is held now — no new login.
    const same = await api.challenge('demo', { status: 403, wwwAuthenticate: ch.wwwAuthenticate, tokenHash: sha256(token(after)) });
    expect(same.action).toBe('unchanged');
    expect(same.login).toBeUndefined();
    expect(same.headers).toEqual(after);
    // The very first report replayed (about the replaced token): the current headers.
    const stale = await api.challenge('demo', { status: 403, wwwAuthenticate: ch.wwwAuthenticate, tokenHash: sha256(before) });
    expect(stale.action).toBe('current');
    expect(stale.headers).toEqual(after);
    expect(as.tokenRequests.total).toBe(tokenRequests);
    expect(completed.size).toBe(2);
  });

  it('(d) a token revoked at the AS (its whole grant with it) → 401 → challenge → LOGIN_REQUIRED, listed login_required', { timeout: 20_000 }, async () => {
    const current = token(await api.headers('demo'));
    await revokeAtAs(current);
    const res = await fetch(mcp.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${current}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(401);
    const wwwAuthenticate = res.headers.get('www-authenticate')!;
    expect(wwwAuthenticate).toContain('error="invalid_token"');
    const refreshes = as.tokenRequests.refresh_token;

    const reported = await api.request('POST', '/v1/servers/demo/challenge', { status: 401, wwwAuthenticate, tokenHash: sha256(current) });
    expect(reported.status).toBe(409);
    expect(reported.contentType).toContain('application/problem+json');
    expect(reported.json).toMatchObject({ code: 'LOGIN_REQUIRED', hint: expect.stringContaining('mcp-auth login demo') });
    // One refresh was tried (and refused), not more.
    expect(as.tokenRequests.refresh_token).toBe(refreshes + 1);
    expect(await api.servers()).toMatchObject([{ name: 'demo', state: 'login_required' }]);
    // Reported again: the same answer (the daemon stays up and consistent).
    const again = await api.request('POST', '/v1/servers/demo/challenge', { status: 401, wwwAuthenticate, tokenHash: sha256(current) });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ code: 'LOGIN_REQUIRED' });
    expect((await api.health()).ok).toBe(true);
  });
});
