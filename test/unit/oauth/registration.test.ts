import type * as oauth from 'oauth4webapi';
import { beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { ErrorCode, McpAuthError } from '../../../src/errors.js';
import { createSafeFetch } from '../../../src/oauth/http.js';
import {
  chooseAuthMethod,
  clientMetadataDocument,
  clientSecretBasic,
  preferredRegistrationMethod,
  registerClient,
  registrationUsable,
  sanitizeServerText,
  toOAuthClient,
  type StoredRegistration } from '../../../src/oauth/registration.js';
import { type HostileAs } from '../../support/hostile-as.js';
import { addServer, createRouteFetch, json, type TestDeps } from '../../support/test-deps.js';
import { useHostileAs } from '../../support/hostile-suite.js';

const AS = 'https://auth.example.com';
const REGISTER = `${AS}/register`;
const REDIRECT = 'http://127.0.0.1:8123/callback';
const meta = (extra: Partial<oauth.AuthorizationServer> = {}): oauth.AuthorizationServer => ({
  issuer: AS,
  authorization_endpoint: `${AS}/authorize`,
  token_endpoint: `${AS}/token`,
  registration_endpoint: REGISTER,
  ...extra });

/** Registers against a table-driven endpoint; returns the result (or error) and the request body sent. */
async function register(reply: () => Response, as = meta()) {
  const route = createRouteFetch({ [REGISTER]: reply });
  const result = await registerClient(as, { redirectUri: REDIRECT, fetch: createSafeFetch({ fetch: route.fetch }), now: 1_700_000_000_000 }).catch(
    (e: unknown) => e,
  );
  const sent = route.calls[0]?.body === undefined ? undefined : (JSON.parse(route.calls[0].body) as Record<string, unknown>);
  return { result, sent, calls: route.calls };
}

const echo = (extra: Record<string, unknown> = {}) => () =>
  json({ client_id: 'c-123', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', ...extra }, 201);

describe('dynamic client registration request (RFC 7591)', () => {
  it('registers a native public client for the code and refresh grants, without scope', async () => {
    const { result, sent } = await register(echo(), meta({ token_endpoint_auth_methods_supported: ['none', 'client_secret_basic'] }));
    expect(sent).toEqual({
      client_name: 'mcp-auth',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native' });
    expect(sent).not.toHaveProperty('scope');
    expect(result).toEqual({
      v: 1,
      issuer: AS,
      clientId: 'c-123',
      tokenEndpointAuthMethod: 'none',
      redirectUri: REDIRECT,
      registeredAt: 1_700_000_000_000 });
  });

  it('keeps a confidential registration with its secret and expiry', async () => {
    const { result, sent } = await register(
      echo({ token_endpoint_auth_method: 'client_secret_basic', client_secret: 'sek', client_secret_expires_at: 1_900_000_000 }),
      meta({ token_endpoint_auth_methods_supported: ['client_secret_basic'] }),
    );
    expect(sent!.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(result).toMatchObject({ clientSecret: 'sek', clientSecretExpiresAt: 1_900_000_000, tokenEndpointAuthMethod: 'client_secret_basic' });
  });

  it('accepts a server that answers 200 instead of 201 and omits redirect_uris', async () => {
    const { result } = await register(() => json({ client_id: 'c-200' }, 200));
    expect(result).toMatchObject({ clientId: 'c-200', tokenEndpointAuthMethod: 'none' });
  });

  it('no registration_endpoint → NO_CLIENT_IDENTITY, nothing sent', async () => {
    const { registration_endpoint: _drop, ...noReg } = meta();
    const { result, calls } = await register(echo(), noReg);
    expect(result).toMatchObject({ code: ErrorCode.NoClientIdentity, hint: expect.stringContaining('--client-id') });
    expect(calls).toEqual([]);
  });
});

describe('auth method choice', () => {
  it.each([
    [undefined, 'none'],
    [['none', 'client_secret_basic'], 'none'],
    [['client_secret_basic'], 'client_secret_basic'],
    [['private_key_jwt', 'client_secret_post'], 'client_secret_post'],
    [['private_key_jwt'], 'client_secret_basic'],
  ] as const)('registration with %j offered → %s', (offered, expected) => {
    expect(preferredRegistrationMethod(meta(offered ? { token_endpoint_auth_methods_supported: [...offered] } : {}))).toBe(expected);
  });

  it.each([
    [undefined, false, 'none'],
    [undefined, true, 'client_secret_basic'],
    [['client_secret_post'], true, 'client_secret_post'],
    [['client_secret_post', 'client_secret_basic'], true, 'client_secret_basic'],
    [['none'], false, 'none'],
  ] as const)('pre-registered with %j offered, secret %s → %s', (offered, hasSecret, expected) => {
    expect(chooseAuthMethod(meta(offered ? { token_endpoint_auth_methods_supported: [...offered] } : {}), hasSecret)).toBe(expected);
  });

  it('client_secret_basic encodes what must be encoded and leaves unreserved characters alone', () => {
    const headers = new Headers();
    clientSecretBasic('p:ss wörd')(meta(), { client_id: 'my-client_1.x~' }, new URLSearchParams(), headers);
    const decoded = Buffer.from(headers.get('authorization')!.replace(/^Basic /, ''), 'base64').toString();
    expect(decoded).toBe('my-client_1.x~:p%3Ass%20w%C3%B6rd');
  });

  it('a confidential method without a stored secret → NO_CLIENT_IDENTITY', () => {
    let err: unknown;
    try {
      toOAuthClient({ clientId: 'c', tokenEndpointAuthMethod: 'client_secret_post' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: ErrorCode.NoClientIdentity, hint: expect.stringContaining('MCP_CLIENT_SECRET') });
  });
});

describe('malformed registration responses → REGISTRATION_FAILED', () => {
  it.each([
    ['HTTP 400 with an OAuth error', () => json({ error: 'invalid_redirect_uri', error_description: 'loopback not allowed' }, 400)],
    ['HTTP 500 with HTML', () => new Response('<h1>oops</h1>', { status: 500, headers: { 'content-type': 'text/html' } })],
    ['HTTP 201 with HTML', () => new Response('<h1>welcome</h1>', { status: 201, headers: { 'content-type': 'text/html' } })],
    ['HTTP 201 with malformed JSON', () => new Response('{"client_id":', { status: 201, headers: { 'content-type': 'application/json' } })],
    ['a JSON array', () => json([{ client_id: 'c' }], 201)],
    ['no client_id', () => json({ redirect_uris: [REDIRECT] }, 201)],
    ['an empty client_id', () => json({ client_id: '' }, 201)],
    ['a numeric client_id', () => json({ client_id: 42 }, 201)],
    ['an unsupported auth method', echo({ token_endpoint_auth_method: 'private_key_jwt' })],
    ['a confidential client without a secret', echo({ token_endpoint_auth_method: 'client_secret_basic' })],
    ['other redirect URIs than requested', echo({ redirect_uris: ['http://127.0.0.1:9999/callback'] })],
    ['a redirect', () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example/register' } })],
  ])('%s', async (_label, reply) => {
    const { result, calls } = await register(reply);
    expect(result).toBeInstanceOf(McpAuthError);
    expect(result).toMatchObject({ code: ErrorCode.RegistrationFailed, hint: expect.any(String) });
    expect(calls.map((c) => c.url)).toEqual([REGISTER]);
  });

  it('an oversized response → RESPONSE_TOO_LARGE', async () => {
    const { result } = await register(() => json({ client_id: 'c', pad: 'x'.repeat(2 * 1024 * 1024) }, 201));
    expect(result).toMatchObject({ code: ErrorCode.ResponseTooLarge });
  });

  it('server text in the message is cleaned of control characters and bounded', async () => {
    const { result } = await register(() => json({ error: 'bad\u001b[31m', error_description: `\u001b[2J${'y'.repeat(1000)}` }, 400));
    const message = (result as McpAuthError).message;
    expect(message).not.toMatch(/[\u0000-\u001f]/);
    expect(message.length).toBeLessThan(400);
  });

  it('sanitizeServerText strips bidi overrides and non-strings', () => {
    expect(sanitizeServerText('safe\u202etxt.exe')).toBe('safe txt.exe');
    expect(sanitizeServerText({ not: 'text' })).toBe('');
  });
});

describe('registrationUsable', () => {
  const reg: StoredRegistration = { v: 1, issuer: AS, clientId: 'c', tokenEndpointAuthMethod: 'none', redirectUri: REDIRECT, registeredAt: 0 };
  const now = 1_800_000_000_000;
  it('for the same issuer, without or before secret expiry', () => {
    expect(registrationUsable(reg, AS, now)).toBe(true);
    expect(registrationUsable({ ...reg, clientSecretExpiresAt: now / 1000 + 3600 }, AS, now)).toBe(true);
  });
  it('not for another issuer, an expired secret, one expiring within a minute, or nothing', () => {
    expect(registrationUsable(reg, 'https://other.example.com', now)).toBe(false);
    expect(registrationUsable({ ...reg, clientSecretExpiresAt: now / 1000 - 1 }, AS, now)).toBe(false);
    expect(registrationUsable({ ...reg, clientSecretExpiresAt: now / 1000 + 30 }, AS, now)).toBe(false);
    expect(registrationUsable(undefined, AS, now)).toBe(false);
  });
});

describe('client ID metadata document (CIMD)', () => {
  it('lists its own URL as client_id, loopback redirect URIs on the port, and the grants', () => {
    expect(clientMetadataDocument({ clientMetadataUrl: 'https://example.com/mcp-auth/client.json', callbackPort: 8765 })).toEqual({
      client_id: 'https://example.com/mcp-auth/client.json',
      client_name: 'mcp-auth',
      redirect_uris: ['http://localhost:8765/callback', 'http://127.0.0.1:8765/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native' });
  });

  it('portless loopback redirect URIs without a port; explicit ones win', () => {
    expect(clientMetadataDocument({ clientMetadataUrl: 'https://example.com/c.json' }).redirect_uris).toEqual([
      'http://localhost/callback',
      'http://127.0.0.1/callback',
    ]);
    expect(clientMetadataDocument({ clientMetadataUrl: 'https://example.com/c.json', redirectUris: ['http://127.0.0.1:1/cb'] }).redirect_uris).toEqual([
      'http://127.0.0.1:1/cb',
    ]);
  });

  it.each([
    ['http', 'http://example.com/client.json'],
    ['no path', 'https://example.com/'],
    ['a fragment', 'https://example.com/client.json#x'],
  ])('a URL with %s → CONFIG_INVALID', (_label, url) => {
    let err: unknown;
    try {
      clientMetadataDocument({ clientMetadataUrl: url });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: ErrorCode.ConfigInvalid, hint: expect.any(String) });
  });
});

describe('client identity in a login', () => {
  let h: HostileAs;
  let deps: TestDeps;
  const CIMD = 'https://client.example.com/mcp-auth/client.json';
  const suite = useHostileAs();
  beforeEach(() => {
    ({ h, deps } = suite);
  });

  it('uses the CIMD URL as client_id when the AS supports it: no registration', async () => {
    h.config.metadata = { ...h.defaultMetadata(), client_id_metadata_document_supported: true };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl, oauth: { clientMetadataUrl: CIMD } });
    await new Broker(deps).login('srv', { timeoutMs: 5_000 });
    expect(h.count('/register')).toBe(0);
    expect(new URL(deps.browser.opened[0]!).searchParams.get('client_id')).toBe(CIMD);
    expect(new URL(deps.browser.opened[0]!).searchParams.get('redirect_uri')).toMatch(/^http:\/\/localhost:\d+\/callback$/);
    expect(h.tokenRequests('authorization_code')[0]!.form.get('client_id')).toBe(CIMD);
  });

  it('falls back to dynamic registration when the AS does not advertise CIMD', async () => {
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl, oauth: { clientMetadataUrl: CIMD } });
    await new Broker(deps).login('srv', { timeoutMs: 5_000 });
    expect(h.count('/register')).toBe(1);
    expect(new URL(deps.browser.opened[0]!).searchParams.get('client_id')).not.toBe(CIMD);
  });

  it('a pre-registered client is used as is: no registration, its secret from MCP_CLIENT_SECRET', async () => {
    deps.env = { MCP_CLIENT_SECRET: 'pre-secret' };
    h.config.metadata = { ...h.defaultMetadata(), token_endpoint_auth_methods_supported: ['client_secret_post'] };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl, oauth: { clientId: 'pre-client' } });
    await new Broker(deps).login('srv', { timeoutMs: 5_000 });
    expect(h.count('/register')).toBe(0);
    const [req] = h.tokenRequests('authorization_code');
    expect(req!.form.get('client_id')).toBe('pre-client');
    expect(req!.form.get('client_secret')).toBe('pre-secret');
  });

  it('no registration endpoint, no CIMD, no client id → NO_CLIENT_IDENTITY before the browser', async () => {
    const { registration_endpoint: _drop, ...meta2 } = h.defaultMetadata();
    h.config.metadata = meta2;
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    await expect(new Broker(deps).login('srv', { timeoutMs: 5_000 })).rejects.toMatchObject({
      code: ErrorCode.NoClientIdentity,
      hint: expect.stringContaining('--client-id') });
    expect(deps.browser.opened).toEqual([]);
  });

  it('a failed registration leaves nothing stored and opens no browser', async () => {
    h.config.register = { status: 400, body: { error: 'invalid_client_metadata' } };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    await expect(new Broker(deps).login('srv', { timeoutMs: 5_000 })).rejects.toMatchObject({ code: ErrorCode.RegistrationFailed });
    expect((await deps.store.keys()).filter((k) => k.startsWith('reg:') || k.startsWith('cred:'))).toEqual([]);
    expect(deps.browser.opened).toEqual([]);
  });
});
