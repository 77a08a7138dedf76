// The broker's long-lived state, as the daemon uses it: pending logins owned by the broker
// (start, join, leave, pasted callback), single-flight refreshes, and challenge reports.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Broker } from '../../../src/broker/broker.js';
import { tokenHash } from '../../../src/broker/fresh-token.js';
import { isMcpAuthError } from '../../../src/errors.js';
import { startHostileAs, type HostileAs } from '../../support/hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from '../../support/test-deps.js';

let as: HostileAs;
let deps: TestDeps;
let broker: Broker;

beforeEach(async () => {
  as = await startHostileAs();
  deps = createTestDeps();
  broker = new Broker(deps);
  await addServer(deps, 'demo', { type: 'http', url: as.mcpUrl });
});

afterEach(async () => {
  await broker.close();
  await as.close();
  await deps.cleanup();
});

/** Completes a pending login by visiting its URL with the test browser. */
async function approve(url: string): Promise<void> {
  await deps.openBrowser(url);
  await deps.browser.idle();
}

async function loggedIn(): Promise<void> {
  const r = await broker.startLogin('demo');
  expect(r.status).toBe('pending');
  await approve(r.login!.url!);
  const done = await broker.waitLogin(r.login!.id, 5_000);
  expect(done?.status, JSON.stringify(done?.error)).toBe('succeeded');
}

describe('pending logins owned by the broker', () => {
  it('starts without opening a browser, hands out the URL, and completes on the callback', async () => {
    deps.browser.mode = 'fail';
    const r = await broker.startLogin('demo');
    expect(r.status).toBe('pending');
    expect(deps.browser.opened).toEqual([]);
    const view = r.login!;
    expect(view.kind).toBe('browser');
    expect(view.url).toContain('code_challenge_method=S256');
    expect(view.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(view.expiresAt).toBe(deps.clock.now() + 10 * 60_000);
    deps.browser.mode = 'follow';
    await approve(view.url!);
    const done = await broker.waitLogin(view.id, 5_000);
    expect(done?.status).toBe('succeeded');
    expect((await broker.headers('demo')).Authorization).toMatch(/^Bearer \S+$/);
  });

  it('a second start for the same server joins the first; leaving cancels only when nobody is left', async () => {
    const a = await broker.startLogin('demo');
    const b = await broker.startLogin('demo');
    expect(b.login!.id).toBe(a.login!.id);
    expect(as.count('/authorize')).toBe(0);
    broker.leaveLogin(a.login!.id);
    expect(broker.getLogin(a.login!.id)?.status).toBe('pending');
    broker.leaveLogin(b.login!.id);
    const view = await broker.waitLogin(a.login!.id, 5_000);
    expect(view?.status).toBe('cancelled');
    expect(view?.error?.code).toBe('LOGIN_CANCELLED');
  });

  it('a pasted callback URL completes the login; one with the wrong state does not', async () => {
    as.config.authorize = { ...as.config.authorize };
    const r = await broker.startLogin('demo');
    const view = r.login!;
    // Ask the AS for the redirect without following it, as a person would copy it from the address bar.
    const res = await fetch(view.url!, { redirect: 'manual' });
    const callback = res.headers.get('location')!;
    const wrong = new URL(callback);
    wrong.searchParams.set('state', 'not-this-login');
    const afterWrong = await Promise.race([
      broker.submitCallback(view.id, wrong.href),
      new Promise<'still waiting'>((r2) => setTimeout(() => r2('still waiting'), 300)),
    ]);
    expect(afterWrong === 'still waiting' || afterWrong.status === 'pending').toBe(true);
    const done = await broker.submitCallback(view.id, callback);
    expect(done.status).toBe('succeeded');
    expect(as.tokenRequests('authorization_code')).toHaveLength(1);
  });

  it('an unknown login id is a clear error', async () => {
    await expect(broker.submitCallback('nope', 'http://127.0.0.1/callback')).rejects.toSatisfy((e) => isMcpAuthError(e, 'LOGIN_NOT_FOUND'));
    expect(broker.getLogin('nope')).toBeUndefined();
  });

  it('starting when already logged in is a no-op with a reason', async () => {
    await loggedIn();
    const again = await broker.startLogin('demo');
    expect(again.status).toBe('unchanged');
    expect(again.reason).toMatch(/already logged in/);
  });
});

describe('single-flight refresh and challenges', () => {
  it('N concurrent headers calls for a due token make exactly one refresh request', async () => {
    await loggedIn();
    deps.clock.advance(3600_000);
    const results = await Promise.all(Array.from({ length: 50 }, () => broker.headers('demo')));
    expect(new Set(results.map((h) => h.Authorization)).size).toBe(1);
    expect(as.tokenRequests('refresh_token')).toHaveLength(1);
  });

  it('a report about a token that was already replaced returns the current one with no token request', async () => {
    await loggedIn();
    const before = as.tokenRequests().length;
    const r = await broker.challenge('demo', { status: 401, wwwAuthenticate: 'Bearer error="invalid_token"', tokenHash: tokenHash('an-old-token') });
    expect(r.action).toBe('current');
    expect(r.headers?.Authorization).toMatch(/^Bearer /);
    expect(as.tokenRequests()).toHaveLength(before);
  });

  it('a 401 for the current token gets one refresh; a 401 for the refreshed token is login required', async () => {
    await loggedIn();
    const current = (await broker.headers('demo')).Authorization!.slice('Bearer '.length);
    const r = await broker.challenge('demo', { status: 401, wwwAuthenticate: 'Bearer error="invalid_token"', tokenHash: tokenHash(current) });
    expect(r.action).toBe('refreshed');
    const next = r.headers!.Authorization!.slice('Bearer '.length);
    expect(next).not.toBe(current);
    expect(as.tokenRequests('refresh_token')).toHaveLength(1);
    await expect(
      broker.challenge('demo', { status: 401, wwwAuthenticate: 'Bearer error="invalid_token"', tokenHash: tokenHash(next) }),
    ).rejects.toSatisfy((e) => isMcpAuthError(e, 'LOGIN_REQUIRED'));
    expect(as.tokenRequests('refresh_token')).toHaveLength(1);
  });

  it('a 403 insufficient_scope for held scopes changes nothing; for new scopes it starts a step-up login', async () => {
    await loggedIn();
    const held = (await broker.list())[0]!.scope ?? '';
    const same = await broker.challenge('demo', { status: 403, wwwAuthenticate: `Bearer error="insufficient_scope", scope="${held}"` });
    expect(same.action).toBe('unchanged');
    const more = await broker.challenge('demo', { status: 403, wwwAuthenticate: 'Bearer error="insufficient_scope", scope="files:write"' });
    expect(more.action).toBe('login');
    expect(new URL(more.login!.url!).searchParams.get('scope')).toContain('files:write');
  });

  it('the background refresher refreshes recently used credentials ahead of their callers', async () => {
    await loggedIn();
    await broker.headers('demo');
    const cred = (await broker.list())[0]!;
    // Just outside the callers' margin, inside the refresher's look-ahead.
    const lifetime = cred.expiresAt! - deps.clock.now();
    deps.clock.advance(lifetime - Math.min(5 * 60_000, lifetime * 0.25) - 30_000);
    await broker.headers('demo');
    expect(as.tokenRequests('refresh_token')).toHaveLength(0);
    await broker.refreshRecent();
    expect(as.tokenRequests('refresh_token')).toHaveLength(1);
  });
});

describe('a fixed callback port shared by several servers', () => {
  it('two logins on the same callbackPort at once share one listener, each callback routed by state', async () => {
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await addServer(deps, 'a', { type: 'http', url: as.mcpUrl, oauth: { clientId: 'shared-client', callbackPort: port } });
    await addServer(deps, 'b', { type: 'http', url: `${as.mcpUrl}?tenant=b`, oauth: { clientId: 'shared-client', callbackPort: port } });
    const a = await broker.startLogin('a');
    const b = await broker.startLogin('b');
    expect(a.status).toBe('pending');
    expect(b.status).toBe('pending');
    expect(a.login!.redirectUri).toBe(`http://localhost:${port}/callback`);
    expect(b.login!.redirectUri).toBe(a.login!.redirectUri);
    // Completed in the other order than started.
    await approve(b.login!.url!);
    expect((await broker.waitLogin(b.login!.id, 5_000))?.status).toBe('succeeded');
    expect(broker.getLogin(a.login!.id)?.status).toBe('pending');
    await approve(a.login!.url!);
    expect((await broker.waitLogin(a.login!.id, 5_000))?.status).toBe('succeeded');
    expect((await broker.headers('a')).Authorization).toMatch(/^Bearer /);
    expect((await broker.headers('b')).Authorization).toMatch(/^Bearer /);
  });
});

describe('background refresh while the authorization server fails', () => {
  it('keeps the valid token, and retries with a doubling delay until it succeeds', async () => {
    await loggedIn();
    await broker.headers('demo');
    const cred = (await broker.list())[0]!;
    const lifetime = cred.expiresAt! - deps.clock.now();
    deps.clock.advance(lifetime - Math.min(5 * 60_000, lifetime * 0.25) - 30_000);
    await broker.headers('demo'); // recently used, so the refresher looks after it
    as.config.token = { kind: 'status_500' };
    const attempts = () => as.tokenRequests('refresh_token').length;

    await broker.refreshRecent();
    expect(attempts()).toBe(1);
    await broker.refreshRecent(); // backing off: 15 s
    expect(attempts()).toBe(1);
    deps.clock.advance(15_000);
    await broker.refreshRecent();
    expect(attempts()).toBe(2);
    deps.clock.advance(15_000); // now 30 s
    await broker.refreshRecent();
    expect(attempts()).toBe(2);
    deps.clock.advance(15_000);
    await broker.refreshRecent();
    expect(attempts()).toBe(3);
    // Inside the callers' own margin now: a caller tries too (on demand), and still gets the
    // current, valid token; nothing was lost.
    expect((await broker.headers('demo')).Authorization).toMatch(/^Bearer /);
    expect(attempts()).toBe(4);

    as.config.token = { kind: 'ok' };
    deps.clock.advance(60_000);
    await broker.refreshRecent();
    expect(attempts()).toBe(5);
    expect(broker.shared.backoff.has('demo')).toBe(false);
  });
});
