import { createHash } from 'node:crypto';
import type * as oauth from 'oauth4webapi';
import { beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { ErrorCode, McpAuthError } from '../../../src/errors.js';
import {
  buildAuthorizationRequest,
  parsePastedCallback,
  validateAuthorizationResponse,
  type AuthorizationRequest } from '../../../src/oauth/authorize.js';
import type { ClientIdentity } from '../../../src/oauth/registration.js';
import { type HostileAs } from '../../support/hostile-as.js';
import { type TestDeps } from '../../support/test-deps.js';
import { useHostileAs } from '../../support/hostile-suite.js';

const ISSUER = 'https://auth.example.com';
const as = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  code_challenge_methods_supported: ['S256'],
  authorization_response_iss_parameter_supported: true } satisfies oauth.AuthorizationServer;
const identity: ClientIdentity = { clientId: 'client-1', tokenEndpointAuthMethod: 'none', redirectUri: 'http://127.0.0.1:8123/callback', source: 'dcr' };

function thrown(fn: () => unknown): McpAuthError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(McpAuthError);
    expect((e as McpAuthError).hint, 'every error needs a hint').toBeTruthy();
    return e as McpAuthError;
  }
  throw new Error('expected a throw');
}

describe('buildAuthorizationRequest', () => {
  it('sends code + PKCE S256 + state + scope + resource, and remembers verifier and issuer', async () => {
    const req = await buildAuthorizationRequest(as, identity, { scope: 'mcp:read offline_access', resource: 'https://mcp.example.com/mcp', state: 'st-1' });
    const url = new URL(req.url);
    const p = url.searchParams;
    expect(url.origin + url.pathname).toBe(`${ISSUER}/authorize`);
    expect(p.get('response_type')).toBe('code');
    expect(p.get('client_id')).toBe('client-1');
    expect(p.get('redirect_uri')).toBe(identity.redirectUri);
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toBe(createHash('sha256').update(req.codeVerifier).digest('base64url'));
    expect(p.get('state')).toBe('st-1');
    expect(p.get('scope')).toBe('mcp:read offline_access');
    expect(p.get('resource')).toBe('https://mcp.example.com/mcp');
    expect(req).toMatchObject({ state: 'st-1', issuer: ISSUER, redirectUri: identity.redirectUri, resource: 'https://mcp.example.com/mcp' });
  });

  it('omits scope and resource when there are none; a fresh state and verifier each time', async () => {
    const a = await buildAuthorizationRequest(as, identity, {});
    const b = await buildAuthorizationRequest(as, identity, {});
    const p = new URL(a.url).searchParams;
    expect(p.has('scope')).toBe(false);
    expect(p.has('resource')).toBe(false);
    expect(a.state).not.toBe(b.state);
    expect(a.codeVerifier).not.toBe(b.codeVerifier);
    expect(a.state.length).toBeGreaterThanOrEqual(32);
  });

  it('keeps a query the endpoint already has', async () => {
    const req = await buildAuthorizationRequest({ ...as, authorization_endpoint: `${ISSUER}/authorize?tenant=t1` }, identity, {});
    expect(new URL(req.url).searchParams.get('tenant')).toBe('t1');
  });

  it('encodes a hostile scope instead of breaking the URL', async () => {
    const req = await buildAuthorizationRequest(as, identity, { scope: 'a&redirect_uri=https://evil.example/cb' });
    const p = new URL(req.url).searchParams;
    expect(p.getAll('redirect_uri')).toEqual([identity.redirectUri]);
  });

  it.each([
    'javascript:alert(1)',
    'http://auth.example.com/authorize',
    'https://auth.example.com/authorize\u0007',
    'https://auth.example.com/auth\nrize',
    'https://auth.example.com/authorize?x=$(id)',
    'https://user:pw@auth.example.com/authorize',
    'file:///etc/passwd',
    'data:text/html,<script>alert(1)</script>',
  ])('refuses the authorization endpoint %j with UNSAFE_AUTHORIZATION_URL', async (endpoint) => {
    const err = await buildAuthorizationRequest({ ...as, authorization_endpoint: endpoint }, identity, {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.UnsafeAuthorizationUrl, hint: expect.any(String) });
  });

  it('no authorization_endpoint → METADATA_INVALID', async () => {
    const { authorization_endpoint: _drop, ...rest } = as;
    await expect(buildAuthorizationRequest(rest, identity, {})).rejects.toMatchObject({ code: ErrorCode.MetadataInvalid });
  });
});

describe('validateAuthorizationResponse', () => {
  const request: AuthorizationRequest = { url: '', state: 'st-1', codeVerifier: 'v', redirectUri: identity.redirectUri, issuer: ISSUER };
  const cb = (q: string) => new URL(`${identity.redirectUri}?${q}`);
  const validate = (q: string, server: oauth.AuthorizationServer = as) => validateAuthorizationResponse(server, identity, request, cb(q));
  const noIss = { ...as, authorization_response_iss_parameter_supported: false };

  it('accepts the right state and iss', () => {
    expect(validate(`code=c1&state=st-1&iss=${encodeURIComponent(ISSUER)}`).get('code')).toBe('c1');
  });

  it('accepts a missing iss when the AS does not advertise RFC 9207', () => {
    expect(validate('code=c1&state=st-1', noIss).get('code')).toBe('c1');
  });

  it.each([
    ['a wrong state', ErrorCode.StateMismatch, 'code=c1&state=other&iss=https://auth.example.com'],
    ['no state', ErrorCode.StateMismatch, 'code=c1&iss=https://auth.example.com'],
    ['an empty state', ErrorCode.StateMismatch, 'code=c1&state=&iss=https://auth.example.com'],
    ['no iss although advertised', ErrorCode.IssMismatch, 'code=c1&state=st-1'],
    ['a foreign iss', ErrorCode.IssMismatch, 'code=c1&state=st-1&iss=https://evil.example.com'],
    ['an iss that differs by a trailing slash', ErrorCode.IssMismatch, 'code=c1&state=st-1&iss=https://auth.example.com/'],
    ['access_denied', ErrorCode.AccessDenied, 'error=access_denied&state=st-1&iss=https://auth.example.com'],
    ['another error', ErrorCode.AuthorizationError, 'error=invalid_scope&state=st-1&iss=https://auth.example.com'],
    ['an error from a foreign iss (iss is checked first)', ErrorCode.IssMismatch, 'error=access_denied&state=st-1&iss=https://evil.example.com'],
    ['an error with a wrong state (state is checked first)', ErrorCode.StateMismatch, 'error=access_denied&state=x&iss=https://evil.example.com'],
    ['no code', ErrorCode.CallbackInvalid, 'state=st-1&iss=https://auth.example.com'],
    ['two codes', ErrorCode.CallbackInvalid, 'code=a&code=b&state=st-1&iss=https://auth.example.com'],
    ['a second, foreign iss', ErrorCode.CallbackInvalid, 'code=a&state=st-1&iss=https://auth.example.com&iss=https://evil.example.com'],
    ['an implicit-flow token', ErrorCode.CallbackInvalid, 'code=a&access_token=x&token=x&state=st-1&iss=https://auth.example.com'],
  ])('%s → %s', (_label, code, query) => {
    expect(thrown(() => validate(query)).code).toBe(code);
  });

  it('a foreign iss is refused even when the AS does not advertise RFC 9207', () => {
    expect(thrown(() => validate('code=c1&state=st-1&iss=https://evil.example.com', noIss)).code).toBe(ErrorCode.IssMismatch);
  });

  it('server text in an error is cleaned of terminal control sequences and bounded', () => {
    const desc = `\u001b]8;;https://evil.example\u0007click me\u001b]8;;\u0007 ${'x'.repeat(500)}`;
    const err = thrown(() => validate(`error=access_denied&error_description=${encodeURIComponent(desc)}&state=st-1&iss=${ISSUER}`));
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(err.message.length).toBeLessThan(300);
  });
});

describe('parsePastedCallback', () => {
  const redirect = 'http://127.0.0.1:8123/callback';
  it('accepts the callback, with localhost for 127.0.0.1', () => {
    expect(parsePastedCallback('  http://localhost:8123/callback?code=c&state=s\n', redirect).searchParams.get('code')).toBe('c');
  });
  it.each([
    ['text', 'hello'],
    ['another path', 'http://127.0.0.1:8123/other?code=c&state=s'],
    ['no code and no error', 'http://127.0.0.1:8123/callback?state=s'],
  ])('refuses %s with CALLBACK_INVALID', (_label, text) => {
    expect(thrown(() => parsePastedCallback(text, redirect)).code).toBe(ErrorCode.CallbackInvalid);
  });
  it('never echoes the code of a wrong paste', () => {
    const err = thrown(() => parsePastedCallback('http://127.0.0.1:8123/nope?code=SECRET-CODE&state=s', redirect));
    expect(err.message).not.toContain('SECRET-CODE');
  });
});

describe('the authorization response through a real login', () => {
  let h: HostileAs;
  let deps: TestDeps;
  const suite = useHostileAs({ serverName: 'srv' });
  beforeEach(() => {
    ({ h, deps } = suite);
  });

  const login = (opts: Parameters<Broker['login']>[1] = {}) =>
    new Broker(deps).login('srv', { timeoutMs: 5_000, ...opts }).then(
      () => {
        throw new Error('login unexpectedly succeeded');
      },
      (e: unknown) => e as McpAuthError,
    );

  it('opens the URL with resource, S256 and the listener redirect_uri, then redeems once', async () => {
    const out = await new Broker(deps).login('srv', { timeoutMs: 5_000 });
    expect(out).toMatchObject({ status: 'logged_in', issuer: h.issuer });
    const p = new URL(deps.browser.opened[0]!).searchParams;
    expect(p.get('resource')).toBe(h.mcpUrl);
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(h.tokenRequests('authorization_code')).toHaveLength(1);
  });

  it('a callback with a wrong state never reaches the login: the tab is refused, no code is redeemed', async () => {
    h.config.authorize = { state: 'forged-state' };
    const cancel = new AbortController();
    const open = deps.openBrowser;
    deps.openBrowser = async (url) => {
      const r = await open(url);
      await deps.browser.idle();
      cancel.abort();
      return r;
    };
    const err = await login({ signal: cancel.signal });
    expect(err.code).toBe(ErrorCode.LoginCancelled);
    expect(deps.browser.visits.at(-1)).toMatchObject({ status: 400 });
    expect(deps.browser.visits.at(-1)!.url).toContain('/callback');
    expect(h.count('/token')).toBe(0);
  });

  it.each([
    ['a missing iss (the AS advertises RFC 9207)', ErrorCode.IssMismatch, { iss: 'missing' }],
    ['a foreign iss', ErrorCode.IssMismatch, { iss: 'https://evil.example.com' }],
    ['access_denied', ErrorCode.AccessDenied, { error: 'access_denied', errorDescription: 'User said no' }],
    ['invalid_scope', ErrorCode.AuthorizationError, { error: 'invalid_scope' }],
  ] as const)('%s → %s, and the code is NOT redeemed', async (_label, code, behaviour) => {
    h.config.authorize = { ...behaviour };
    const err = await login();
    expect(err.code).toBe(code);
    expect(err.hint).toBeTruthy();
    expect(h.count('/authorize')).toBe(1);
    expect(h.count('/token')).toBe(0);
    await deps.browser.idle();
    expect(deps.browser.visits.at(-1)).toMatchObject({ status: 400 });
  });

  it('nothing is stored by a refused response', async () => {
    h.config.authorize = { iss: 'https://evil.example.com' };
    await login();
    const keys = await deps.store.keys();
    expect(keys.filter((k) => k.startsWith('cred:') || /^state:[0-9a-f]+$/.test(k))).toEqual([]);
  });

  it.each([
    ['javascript:', 'javascript:alert(document.cookie)', ErrorCode.InsecureUrl],
    ['http to a non-loopback host', 'http://auth.example.com/authorize', ErrorCode.InsecureUrl],
    ['control characters', 'CONTROL', ErrorCode.UnsafeAuthorizationUrl],
    ['shell syntax', 'SHELL', ErrorCode.UnsafeAuthorizationUrl],
  ])('an authorization_endpoint with %s → %s; the browser is never opened, no client is registered', async (_label, endpoint, code) => {
    const value = endpoint === 'CONTROL' ? `${h.origin}/authorize\u001b[2J` : endpoint === 'SHELL' ? `${h.origin}/authorize?a=$(touch /tmp/x)` : endpoint;
    h.config.metadata = { ...h.defaultMetadata(), authorization_endpoint: value };
    const err = await login();
    expect(err.code).toBe(code);
    expect(deps.browser.opened).toEqual([]);
    expect(h.count('/register')).toBe(0);
    expect(h.count('/authorize')).toBe(0);
  });
});
