// The interactive login as the broker runs it, against a hostile authorization server (and, for
// the happy path, the real oidc-provider fixture): callback ports, registration reuse, stale
// registrations, step-up limits, the issuer policy hook, and that a failed login loses nothing.
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { AUTH_ATTEMPT_WINDOW_MS } from '../../../src/broker/login.js';
import { readServerState } from '../../../src/broker/records.js';
import { ErrorCode, McpAuthError } from '../../../src/errors.js';
import { registrationKey, serverStateKey } from '../../../src/store/key.js';
import { startAuthorizationServer, type AuthServerFixture } from '../../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../../fixtures/mcp-server.js';
import { createConsentBrowser } from '../../support/consent-browser.js';
import { startHostileAs, type HostileAs } from '../../support/hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from '../../support/test-deps.js';
import { failure as authFailure } from '../../support/errors.js';

const NAME = 'srv';
let h: HostileAs;
let deps: TestDeps;
let broker: Broker;
const occupied: Server[] = [];

beforeAll(async () => {
  h = await startHostileAs();
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  h.reset();
  deps = createTestDeps();
  broker = new Broker(deps);
  await addServer(deps, NAME, { type: 'http', url: h.mcpUrl });
});
afterEach(async () => {
  await broker.close();
  await Promise.all(occupied.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  await deps.cleanup();
});

/** Holds a TCP port on 127.0.0.1 (port 0: a free one) until the test ends. */
async function occupy(port = 0): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
  });
  occupied.push(s);
  return (s.address() as { port: number }).port;
}

const failure = (p: Promise<unknown>) => authFailure(p, 'expected the login to fail');

const redirectPorts = () => h.requests.filter((r) => r.path === '/authorize').map((r) => new URL(r.query.get('redirect_uri')!).port);

async function snapshot(): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const k of await deps.store.keys()) out[k] = await deps.store.get(k);
  return out;
}

describe('callback port', () => {
  it('a fixed callbackPort that is taken → CALLBACK_PORT_IN_USE naming the port; nothing registered or opened', async () => {
    const port = await occupy();
    await addServer(deps, NAME, { type: 'http', url: h.mcpUrl, oauth: { callbackPort: port } });
    const err = await failure(broker.login(NAME, { timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCode.CallbackPortInUse);
    expect(err.message).toContain(String(port));
    expect(err.hint).toContain(String(port));
    expect(h.count('/register')).toBe(0);
    expect(h.count('/authorize')).toBe(0);
    expect(deps.browser.opened).toEqual([]);
  });

  it('…also for a pre-registered client on localhost', async () => {
    const port = await occupy();
    await addServer(deps, NAME, { type: 'http', url: h.mcpUrl, oauth: { clientId: 'pre', callbackPort: port } });
    const err = await failure(broker.login(NAME, { timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCode.CallbackPortInUse);
    expect(err.message).toContain(String(port));
  });
});

describe('dynamic registration reuse', () => {
  it('a second login reuses the registration and its redirect port', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    await broker.login(NAME, { timeoutMs: 5_000, force: true });
    expect(h.count('/register')).toBe(1);
    const [first, second] = redirectPorts();
    expect(second).toBe(first);
    const clientIds = h.requests.filter((r) => r.path === '/authorize').map((r) => r.query.get('client_id'));
    expect(clientIds[0]).toBe(clientIds[1]);
  });

  it('re-registers on a free port when the saved one is taken', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    const [savedPort] = redirectPorts();
    await occupy(Number(savedPort));
    await broker.login(NAME, { timeoutMs: 5_000, force: true });
    expect(h.count('/register')).toBe(2);
    expect(redirectPorts()[1]).not.toBe(savedPort);
    expect(deps.logs.join('\n')).toContain(`${savedPort} is in use`);
  });

  it.each([
    ['400 JSON', { kind: 'invalid_client' as const, status: 400 }],
    ['401 with a Basic challenge', { kind: 'invalid_client' as const, status: 401, wwwAuthenticate: 'Basic realm="as", error="invalid_client"' }],
  ])('invalid_client (%s) with a reused registration → one re-registration and a second authorization', async (_label, behaviour) => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    h.config.tokenQueue = [behaviour];
    const out = await broker.login(NAME, { timeoutMs: 5_000, force: true });
    expect(out).toMatchObject({ status: 'logged_in' });
    expect(h.count('/register')).toBe(2);
    expect(h.count('/authorize')).toBe(3);
    expect(h.tokenRequests('authorization_code')).toHaveLength(3);
    expect(deps.logs.join('\n')).toContain('registering again');
    const state = await readServerState(deps.store, serverStateKey(NAME));
    expect(state!.client.clientId).toBe(h.requests.filter((r) => r.path === '/authorize').at(-1)!.query.get('client_id'));
  });

  it('invalid_client again with the fresh registration → INVALID_CLIENT, no third registration, old login kept', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    const before = await snapshot();
    h.config.token = { kind: 'invalid_client' };
    const err = await failure(broker.login(NAME, { timeoutMs: 5_000, force: true }));
    expect(err.code).toBe(ErrorCode.InvalidClient);
    expect(h.count('/register')).toBe(2);
    // The credential and the server state of the earlier login are untouched.
    for (const [k, v] of Object.entries(before)) {
      if (k.startsWith('cred:') || k === serverStateKey(NAME)) expect(await deps.store.get(k)).toBe(v);
    }
  });

  it('invalid_client for a client registered in this very login is not retried', async () => {
    h.config.token = { kind: 'invalid_client' };
    expect((await failure(broker.login(NAME, { timeoutMs: 5_000 }))).code).toBe(ErrorCode.InvalidClient);
    expect(h.count('/register')).toBe(1);
    expect(h.count('/authorize')).toBe(1);
  });
});

describe('a failed login loses nothing', () => {
  it.each([
    ['the token endpoint answers 500', ErrorCode.AuthServerUnavailable, (): void => void (h.config.token = { kind: 'status_500' })],
    ['the user denies', ErrorCode.AccessDenied, (): void => void (h.config.authorize = { error: 'access_denied' })],
    ['the token is DPoP', ErrorCode.UnsupportedTokenType, (): void => void (h.config.token = { kind: 'dpop' })],
    ['the callback carries a foreign iss', ErrorCode.IssMismatch, (): void => void (h.config.authorize = { iss: 'https://evil.example.com' })],
  ])('forced re-login where %s → %s; the stored login is unchanged', async (_label, code, breakIt) => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    const before = await snapshot();
    const headers = await broker.headers(NAME);
    breakIt();
    expect((await failure(broker.login(NAME, { timeoutMs: 5_000, force: true }))).code).toBe(code);
    const after = await snapshot();
    for (const [k, v] of Object.entries(before)) {
      if (!k.endsWith('.attempts')) expect(after[k], k).toBe(v);
    }
    expect(await broker.headers(NAME)).toEqual(headers);
  });

  it('a confidential client re-registered on a taken port: a failed re-login keeps the old login refreshable (regression)', async () => {
    h.config.metadata = { ...h.defaultMetadata(), token_endpoint_auth_methods_supported: ['client_secret_basic'] };
    await broker.login(NAME, { timeoutMs: 5_000 });
    const firstClient = h.requests.find((r) => r.path === '/authorize')!.query.get('client_id');
    await occupy(Number(redirectPorts()[0]));
    h.config.authorize = { error: 'access_denied' };
    expect((await failure(broker.login(NAME, { timeoutMs: 5_000, force: true }))).code).toBe(ErrorCode.AccessDenied);
    expect(h.count('/register')).toBe(2);

    // The earlier login still refreshes with its own client secret.
    deps.clock.advance(60 * 60_000);
    expect((await broker.headers(NAME)).Authorization).toMatch(/^Bearer at_/);
    const basic = Buffer.from(String(h.tokenRequests('refresh_token')[0]!.headers.authorization).slice(6), 'base64').toString();
    expect(basic.split(':')[0]).toBe(firstClient);

    // A re-login that succeeds adopts the new registration.
    h.config.authorize = {};
    await broker.login(NAME, { timeoutMs: 5_000, force: true });
    const state = await readServerState(deps.store, serverStateKey(NAME));
    const reg = JSON.parse((await deps.store.get(registrationKey({ issuer: h.issuer })))!) as { clientId: string; clientSecret?: string };
    expect(state!.client.clientId).not.toBe(firstClient);
    expect(reg.clientId).toBe(state!.client.clientId);
    expect(reg.clientSecret).toBeTruthy();
  });

  it('an already logged-in server is not logged in again without --force', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    expect(await broker.login(NAME, { timeoutMs: 5_000 })).toMatchObject({ status: 'unchanged' });
    expect(h.count('/authorize')).toBe(1);
  });

  it('no authorization response in time → LOGIN_TIMEOUT, nothing stored', async () => {
    deps.browser.mode = 'ignore';
    expect((await failure(broker.login(NAME, { timeoutMs: 50 }))).code).toBe(ErrorCode.LoginTimeout);
    expect((await deps.store.keys()).filter((k) => k.startsWith('cred:'))).toEqual([]);
  });
});

describe('a pasted callback URL (no browser)', () => {
  it('completes the login; a paste from another login is refused with a message', async () => {
    deps.browser.mode = 'fail';
    let authUrl!: string;
    let gotUrl!: () => void;
    const urlKnown = new Promise<void>((r) => (gotUrl = r));
    async function* pasted(): AsyncGenerator<string> {
      await urlKnown;
      const res = await fetch(authUrl, { redirect: 'manual' });
      const callback = new URL(res.headers.get('location')!);
      yield 'not a url';
      const forged = new URL(callback);
      forged.searchParams.set('state', 'someone-elses');
      yield forged.href;
      yield callback.href;
    }
    const out = await broker.login(NAME, {
      timeoutMs: 5_000,
      noBrowser: true,
      pasted: pasted(),
      onAuthorizationUrl: (u) => {
        authUrl = u;
        gotUrl();
      },
    });
    expect(out).toMatchObject({ status: 'logged_in' });
    expect(deps.browser.opened).toEqual([]);
    expect(h.tokenRequests('authorization_code')).toHaveLength(1);
    const log = deps.logs.join('\n');
    expect(log).toContain('state mismatch');
    expect(log).toContain('not a URL');
  });
});

describe('step-up attempts (SPEC-NOTES 7)', () => {
  const CHALLENGE = 'Bearer error="insufficient_scope", scope="b"';

  beforeEach(() => {
    h.config.prm = { resource: h.mcpUrl, authorization_servers: [h.issuer], scopes_supported: ['a'] };
    // The server never grants "b": every step-up comes back with "a" only.
    h.config.authorize = { grantScope: 'a' };
  });

  const stepUp = () => broker.login(NAME, { timeoutMs: 5_000, challenge: CHALLENGE });

  it('3 authorization requests for one scope set, then the 4th → STEP_UP_LIMIT without a request', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    for (let i = 0; i < 3; i++) expect(await stepUp()).toMatchObject({ status: 'logged_in', scope: 'a' });
    expect(h.count('/authorize')).toBe(4);
    const err = await failure(stepUp());
    expect(err.code).toBe(ErrorCode.StepUpLimit);
    expect(err.exitCode).toBe(1);
    expect(h.count('/authorize')).toBe(4);
    const scopes = h.requests.filter((r) => r.path === '/authorize').map((r) => r.query.get('scope'));
    expect(scopes).toEqual(['a', 'a b', 'a b', 'a b']);
  });

  it('a plain login resets the count', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    for (let i = 0; i < 3; i++) await stepUp();
    expect((await failure(stepUp())).code).toBe(ErrorCode.StepUpLimit);
    expect(await broker.login(NAME, { timeoutMs: 5_000 })).toMatchObject({ status: 'unchanged' });
    expect(await stepUp()).toMatchObject({ status: 'logged_in' });
  });

  it('ten minutes reset the count', async () => {
    await broker.login(NAME, { timeoutMs: 5_000 });
    for (let i = 0; i < 3; i++) await stepUp();
    deps.clock.advance(AUTH_ATTEMPT_WINDOW_MS - 1);
    expect((await failure(stepUp())).code).toBe(ErrorCode.StepUpLimit);
    deps.clock.advance(1);
    expect(await stepUp()).toMatchObject({ status: 'logged_in' });
  });

  it('a challenge for scopes already held is a no-op, and a repeated one is bounded too', async () => {
    h.config.authorize = {};
    await broker.login(NAME, { timeoutMs: 5_000 });
    const held = 'Bearer error="insufficient_scope", scope="a"';
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) outcomes.push(await broker.login(NAME, { challenge: held }).then((r) => r.status, (e: McpAuthError) => e.code));
    expect(outcomes[0]).toBe('unchanged');
    expect(outcomes.at(-1)).toBe(ErrorCode.StepUpLimit);
    expect(h.count('/authorize')).toBe(1);
  });
});

describe('beforeIssuerContact', () => {
  it('is asked about the issuer, with the server name, before any authorization server request', async () => {
    const seen: Array<{ issuer: string; server: string; asRequestsSoFar: number }> = [];
    deps.beforeIssuerContact = (issuer, server) => {
      seen.push({ issuer, server, asRequestsSoFar: h.requests.filter((r) => !r.path.startsWith('/mcp') && !r.path.includes('protected-resource')).length });
    };
    await broker.login(NAME, { timeoutMs: 5_000 });
    expect(seen).toEqual([{ issuer: h.issuer, server: NAME, asRequestsSoFar: 0 }]);
  });

  it('throwing stops the login: no AS request, no registration, no browser, nothing stored', async () => {
    deps.beforeIssuerContact = (issuer) => {
      throw new McpAuthError(ErrorCode.IssuerBlocked, `issuer ${issuer} is not allowed`, { hint: 'Ask your administrator.' });
    };
    const err = await failure(broker.login(NAME, { timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCode.IssuerBlocked);
    const asPaths = h.requests.map((r) => r.path).filter((p) => !p.startsWith('/mcp') && !p.includes('protected-resource'));
    expect(asPaths).toEqual([]);
    expect(deps.browser.opened).toEqual([]);
    expect(await deps.store.keys()).toEqual([]);
  });
});

describe('against the real oidc-provider', () => {
  let as: AuthServerFixture;
  let mcp: McpServerFixture;
  beforeAll(async () => {
    as = await startAuthorizationServer({ accessTokenTtl: 600 });
    mcp = await startMcpServer({ authServer: as, requiredScopes: ['mcp:read'] });
  });
  afterAll(async () => {
    await mcp?.close();
    await as?.close();
  });

  it('logs in, refreshes with rotation, and reuses the registration on the next login', async () => {
    const browser = createConsentBrowser(as.user);
    deps.openBrowser = browser.openBrowser;
    await addServer(deps, 'real', { type: 'http', url: mcp.url });
    const regsBefore = as.registrations;

    expect(await broker.login('real', { timeoutMs: 10_000 })).toMatchObject({ status: 'logged_in', issuer: as.issuer, scope: 'mcp:read' });
    expect(browser.errors).toEqual([]);
    const h1 = await broker.headers('real');
    expect((await as.introspect(h1.Authorization!.slice(7))).active).toBe(true);

    // Within 5 minutes of expiry (600 s lifetime): one refresh, the rotated token saved.
    deps.clock.advance(9 * 60_000);
    const h2 = await broker.headers('real');
    expect(h2.Authorization).not.toBe(h1.Authorization);
    expect(as.tokenRequests.refresh_token).toBe(1);
    expect((await as.introspect(h2.Authorization!.slice(7))).aud).toBe(mcp.url);
    expect(await broker.headers('real')).toEqual(h2);
    expect(as.tokenRequests.refresh_token).toBe(1);

    expect(await broker.login('real', { timeoutMs: 10_000, force: true })).toMatchObject({ status: 'logged_in' });
    expect(as.registrations - regsBefore).toBe(1);
    const ports = browser.opened.map((u) => new URL(new URL(u).searchParams.get('redirect_uri')!).port);
    expect(ports[1]).toBe(ports[0]);
  });

  it('a refresh the AS refuses with 401 invalid_client + Basic challenge → LOGIN_REQUIRED, login kept (regression)', async () => {
    const browser = createConsentBrowser(as.user);
    deps.openBrowser = browser.openBrowser;
    await addServer(deps, 'real', { type: 'http', url: mcp.url });
    await broker.login('real', { timeoutMs: 10_000 });
    // Make our client authenticate with a secret the AS never issued: oidc-provider answers 401
    // with `WWW-Authenticate: Basic …, error="invalid_client"`.
    const state = (await readServerState(deps.store, serverStateKey('real')))!;
    const regKey = registrationKey({ issuer: state.issuer });
    const reg = JSON.parse((await deps.store.get(regKey))!) as Record<string, unknown>;
    await deps.store.set(regKey, JSON.stringify({ ...reg, clientSecret: 'not-the-secret', tokenEndpointAuthMethod: 'client_secret_basic' }));
    await deps.store.set(serverStateKey('real'), JSON.stringify({ ...state, client: { ...state.client, tokenEndpointAuthMethod: 'client_secret_basic' } }));
    const before = await snapshot();
    deps.clock.advance(11 * 60_000);
    const err = await failure(broker.headers('real'));
    expect(err.code).toBe(ErrorCode.LoginRequired);
    expect(err.exitCode).toBe(3);
    expect(as.tokenRequests.refresh_token).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
  });
});
