import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, McpAuthError } from '../../../src/errors.js';
import { exchangeCode, refreshTokens, revokeToken, tokenError } from '../../../src/oauth/grants.js';
import { createSafeFetch } from '../../../src/oauth/http.js';
import { createPkce } from '../../../src/oauth/pkce.js';
import type { ClientIdentity } from '../../../src/oauth/registration.js';
import { startHostileAs, type HostileAs } from '../../support/hostile-as.js';
import { createFakeClock } from '../../support/test-deps.js';

let h: HostileAs;
let as: oauth.AuthorizationServer;
const fetchFn = createSafeFetch();
const REDIRECT = 'http://127.0.0.1:49152/callback';
const publicClient: ClientIdentity = { clientId: 'client-1', tokenEndpointAuthMethod: 'none', redirectUri: REDIRECT, source: 'dcr' };

beforeAll(async () => {
  h = await startHostileAs();
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.reset();
  as = h.defaultMetadata() as unknown as oauth.AuthorizationServer;
});

/** Runs the authorization request against the hostile AS by hand; returns the validated callback params. */
async function authorize(opts: { resource?: string; scope?: string } = {}): Promise<{ params: URLSearchParams; verifier: string }> {
  const pkce = await createPkce();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: publicClient.clientId,
    redirect_uri: REDIRECT,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    state: 'st',
  });
  if (opts.resource) q.set('resource', opts.resource);
  if (opts.scope) q.set('scope', opts.scope);
  const res = await fetch(`${h.origin}/authorize?${q}`, { redirect: 'manual' });
  const callback = new URL(res.headers.get('location')!);
  const params = oauth.validateAuthResponse(as, { client_id: publicClient.clientId }, callback.searchParams, 'st');
  return { params, verifier: pkce.verifier };
}

async function codeGrant(opts: { resource?: string; now?: () => number; requestedScope?: string; identity?: ClientIdentity } = {}) {
  const { params, verifier } = await authorize(opts.resource ? { resource: opts.resource } : {});
  return exchangeCode(as, opts.identity ?? publicClient, params, {
    fetch: fetchFn,
    now: opts.now ?? (() => 1_000),
    codeVerifier: verifier,
    ...(opts.resource ? { resource: opts.resource } : {}),
    ...(opts.requestedScope ? { requestedScope: opts.requestedScope } : {}),
  });
}

function liveRefreshToken(value = `rt_live_${Math.random().toString(36).slice(2)}`): string {
  h.liveRefreshTokens.add(value);
  return value;
}

function refresh(rt: string, extra: { resource?: string; previousScope?: string; now?: () => number } = {}) {
  return refreshTokens(as, publicClient, rt, { fetch: fetchFn, now: extra.now ?? (() => 1_000), ...extra });
}

describe('authorization code grant', () => {
  it('redeems the code with the PKCE verifier, redirect_uri and the same resource (RFC 8707)', async () => {
    const tokens = await codeGrant({ resource: h.mcpUrl });
    expect(tokens.accessToken).toMatch(/^at_/);
    expect(tokens.refreshToken).toMatch(/^rt_/);
    const [req] = h.tokenRequests('authorization_code');
    expect(req!.form.get('resource')).toBe(h.mcpUrl);
    expect(req!.form.get('redirect_uri')).toBe(REDIRECT);
    expect(req!.form.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(req!.form.get('client_id')).toBe('client-1');
    expect(req!.headers.authorization).toBeUndefined();
  });

  it('sends no resource when none is given', async () => {
    await codeGrant();
    expect(h.tokenRequests('authorization_code')[0]!.form.has('resource')).toBe(false);
  });

  it('expiresAt is the time the request was SENT plus expires_in, by our clock', async () => {
    const clock = createFakeClock(5_000_000);
    // The server takes "40 s" to answer: the lifetime must not be stretched by that.
    h.config.onRequest = (req) => {
      if (req.path === '/token') clock.advance(40_000);
    };
    h.config.token = { kind: 'ok', expiresIn: 600 };
    const tokens = await codeGrant({ now: clock.now });
    expect(tokens.obtainedAt).toBe(5_000_000);
    expect(tokens.expiresAt).toBe(5_000_000 + 600_000);
  });

  it.each([
    ['absent', null],
    ['zero', 0],
  ] as const)('no expiresAt when expires_in is %s', async (_label, expiresIn) => {
    h.config.token = { kind: 'ok', expiresIn };
    const tokens = await codeGrant();
    expect(tokens.expiresAt).toBeUndefined();
  });

  it('a negative expires_in is TOKEN_RESPONSE_INVALID', async () => {
    h.config.token = { kind: 'ok', expiresIn: -5 };
    await expect(codeGrant()).rejects.toMatchObject({ code: ErrorCode.TokenResponseInvalid });
  });

  it('granted scope: the response, else the requested one', async () => {
    h.config.token = { kind: 'ok', scope: 'a' };
    expect((await codeGrant({ requestedScope: 'a b' })).scope).toBe('a');
    h.config.token = { kind: 'ok', scope: null };
    expect((await codeGrant({ requestedScope: 'a b' })).scope).toBe('a b');
  });

  it('invalid_grant during the code exchange is TOKEN_REQUEST_FAILED (not LOGIN_REQUIRED)', async () => {
    h.config.token = { kind: 'invalid_grant', errorDescription: 'code expired' };
    await expect(codeGrant()).rejects.toMatchObject({ code: ErrorCode.TokenRequestFailed, hint: expect.any(String) });
  });

  it('a code bound to another verifier is refused by the server and reported, not retried', async () => {
    const { params } = await authorize();
    await expect(
      exchangeCode(as, publicClient, params, { fetch: fetchFn, now: () => 0, codeVerifier: 'x'.repeat(43) }),
    ).rejects.toMatchObject({ code: ErrorCode.TokenRequestFailed });
    expect(h.tokenRequests().length).toBe(1);
  });
});

describe('token responses a real server should never send', () => {
  const cases: Array<[string, string, Parameters<typeof h.config.tokenQueue.push>[0]]> = [
    ['token_type DPoP', ErrorCode.UnsupportedTokenType, { kind: 'dpop' }],
    ['token_type mac', ErrorCode.UnsupportedTokenType, { kind: 'ok', tokenType: 'mac' }],
    ['HTTP 500 with an HTML body', ErrorCode.AuthServerUnavailable, { kind: 'status_500' }],
    ['HTTP 503 with a JSON error body', ErrorCode.AuthServerUnavailable, { kind: 'invalid_grant', status: 503 }],
    ['malformed JSON', ErrorCode.TokenResponseInvalid, { kind: 'malformed_json' }],
    ['HTML instead of JSON with 200', ErrorCode.TokenResponseInvalid, { kind: 'not_json' }],
    ['HTML instead of a JSON error with 400', ErrorCode.TokenResponseInvalid, { kind: 'not_json', status: 400 }],
    ['a 2 MiB body', ErrorCode.ResponseTooLarge, { kind: 'huge' }],
    ['no access_token', ErrorCode.TokenResponseInvalid, { kind: 'ok', extra: { access_token: undefined } }],
    ['an empty access_token', ErrorCode.TokenResponseInvalid, { kind: 'ok', accessToken: '' }],
    ['a numeric refresh_token', ErrorCode.TokenResponseInvalid, { kind: 'ok', extra: { refresh_token: 42 } }],
    ['a redirect', ErrorCode.TokenResponseInvalid, () => ({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } })],
  ];

  it.each(cases)('%s → %s on the code exchange', async (_label, code, behaviour) => {
    h.config.token = behaviour;
    const err = await codeGrant().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpAuthError);
    expect(err).toMatchObject({ code });
    expect((err as McpAuthError).hint).toBeTruthy();
  });

  it.each(cases)('%s → %s on refresh', async (_label, code, behaviour) => {
    h.config.token = behaviour;
    await expect(refresh(liveRefreshToken())).rejects.toMatchObject({ code });
  });

  it('a redirect from the token endpoint is not followed', async () => {
    let followed = 0;
    h.config.routes['/elsewhere'] = () => {
      followed++;
      return { body: { access_token: 'stolen', token_type: 'Bearer' } };
    };
    h.config.token = () => ({ status: 307, headers: { location: `${h.origin}/elsewhere` } });
    await expect(refresh(liveRefreshToken())).rejects.toBeInstanceOf(McpAuthError);
    expect(followed).toBe(0);
  });

  it('an unreachable token endpoint is NETWORK_ERROR naming only the host', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    as = { ...as, token_endpoint: `http://127.0.0.1:${port}/token?x=1` };
    const err = (await refresh(liveRefreshToken()).catch((e: unknown) => e)) as McpAuthError;
    expect(err.code).toBe(ErrorCode.Network);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).not.toContain('x=1');
  });

  it('no token_endpoint in the metadata is METADATA_INVALID', async () => {
    const { token_endpoint: _omit, ...rest } = as;
    await expect(refreshTokens(rest as oauth.AuthorizationServer, publicClient, 'rt', { fetch: fetchFn, now: () => 0 })).rejects.toMatchObject({
      code: ErrorCode.MetadataInvalid,
    });
  });
});

describe('refresh grant', () => {
  it('invalid_grant → LOGIN_REQUIRED (exit code 3)', async () => {
    h.config.token = { kind: 'invalid_grant', errorDescription: 'grant revoked' };
    const err = (await refresh(liveRefreshToken()).catch((e: unknown) => e)) as McpAuthError;
    expect(err.code).toBe(ErrorCode.LoginRequired);
    expect(err.exitCode).toBe(3);
  });

  it('invalid_client (400 JSON) → INVALID_CLIENT', async () => {
    h.config.token = { kind: 'invalid_client', status: 400 };
    await expect(refresh(liveRefreshToken())).rejects.toMatchObject({ code: ErrorCode.InvalidClient });
  });

  // RFC 6749 §5.2: a 401 invalid_client carries a WWW-Authenticate challenge; oidc-provider sends
  // `Basic realm=…, error="invalid_client"` for every failed client_secret_basic authentication.
  it('invalid_client as a 401 with a Basic challenge → INVALID_CLIENT (regression)', async () => {
    h.config.token = { kind: 'invalid_client', status: 401, wwwAuthenticate: `Basic realm="${h.issuer}", error="invalid_client"` };
    await expect(refresh(liveRefreshToken())).rejects.toMatchObject({ code: ErrorCode.InvalidClient });
  });

  it('invalid_grant as a 401 with a challenge → LOGIN_REQUIRED (regression)', async () => {
    h.config.token = { kind: 'invalid_grant', status: 401, wwwAuthenticate: 'Basic realm="x"' };
    await expect(refresh(liveRefreshToken())).rejects.toMatchObject({ code: ErrorCode.LoginRequired });
  });

  it('a 401 challenge without any error body → INVALID_CLIENT on the code exchange too', async () => {
    h.config.token = () => ({ status: 401, headers: { 'www-authenticate': 'Basic realm="as"' }, body: '' });
    await expect(codeGrant()).rejects.toMatchObject({ code: ErrorCode.InvalidClient });
  });

  it('sends the resource and no scope; keeps the previous scope when none is returned', async () => {
    h.config.token = { kind: 'ok', scope: null };
    const tokens = await refresh(liveRefreshToken(), { resource: h.mcpUrl, previousScope: 'mcp:read' });
    const [req] = h.tokenRequests('refresh_token');
    expect(req!.form.get('resource')).toBe(h.mcpUrl);
    expect(req!.form.has('scope')).toBe(false);
    expect(tokens.scope).toBe('mcp:read');
  });

  it('returns no refresh token when the server sent none (the caller keeps the old one)', async () => {
    h.config.token = { kind: 'ok', refreshToken: null };
    const tokens = await refresh(liveRefreshToken());
    expect(tokens.refreshToken).toBeUndefined();
    expect(tokens.accessToken).toMatch(/^at_/);
  });

  it('client_secret_basic puts the secret in the Authorization header, never in the body', async () => {
    const rt = liveRefreshToken();
    await refreshTokens(as, { clientId: 'conf-client', clientSecret: 's3cr3t-value', tokenEndpointAuthMethod: 'client_secret_basic' }, rt, {
      fetch: fetchFn,
      now: () => 0,
    });
    const [req] = h.tokenRequests('refresh_token');
    const basic = Buffer.from(String(req!.headers.authorization).replace(/^Basic /, ''), 'base64').toString();
    expect(basic).toBe('conf-client:s3cr3t-value');
    expect(req!.body).not.toContain('s3cr3t-value');
  });

  it('client_secret_post puts the secret in the body', async () => {
    const rt = liveRefreshToken();
    await refreshTokens(as, { clientId: 'conf-client', clientSecret: 'post-secret', tokenEndpointAuthMethod: 'client_secret_post' }, rt, {
      fetch: fetchFn,
      now: () => 0,
    });
    const [req] = h.tokenRequests('refresh_token');
    expect(req!.form.get('client_secret')).toBe('post-secret');
    expect(req!.headers.authorization).toBeUndefined();
  });

  it('a confidential client without its secret is NO_CLIENT_IDENTITY before any request', async () => {
    await expect(
      refreshTokens(as, { clientId: 'c', tokenEndpointAuthMethod: 'client_secret_basic' }, 'rt', { fetch: fetchFn, now: () => 0 }),
    ).rejects.toMatchObject({ code: ErrorCode.NoClientIdentity });
    expect(h.count('/token')).toBe(0);
  });
});

describe('tokenError', () => {
  it('passes McpAuthErrors through and maps unknown throwables to TOKEN_RESPONSE_INVALID', () => {
    const own = new McpAuthError(ErrorCode.Timeout, 'slow');
    expect(tokenError(own, 'https://as.example/token', 'refresh')).toBe(own);
    const mapped = tokenError(new TypeError('boom'), 'https://as.example/token?secret=1', 'code');
    expect(mapped.code).toBe(ErrorCode.TokenResponseInvalid);
    expect(mapped.message).not.toContain('secret=1');
  });
});

describe('revocation (RFC 7009)', () => {
  it('revokes with a token_type_hint and reports success', async () => {
    const rt = liveRefreshToken();
    expect(await revokeToken(as, publicClient, rt, 'refresh_token', { fetch: fetchFn })).toBe(true);
    const [req] = h.requests.filter((r) => r.path === '/revoke');
    expect(req!.form.get('token')).toBe(rt);
    expect(req!.form.get('token_type_hint')).toBe('refresh_token');
    expect(h.liveRefreshTokens.has(rt)).toBe(false);
  });

  it('returns false (never throws) without an endpoint, on a 500, or when unreachable', async () => {
    const { revocation_endpoint: _omit, ...noEndpoint } = as;
    expect(await revokeToken(noEndpoint as oauth.AuthorizationServer, publicClient, 't', 'access_token', { fetch: fetchFn })).toBe(false);
    h.config.routes['/revoke'] = () => ({ status: 500, body: 'down' });
    expect(await revokeToken(as, publicClient, 't', 'access_token', { fetch: fetchFn })).toBe(false);
    const insecure = { ...as, revocation_endpoint: 'http://revoke.example.com/revoke' };
    expect(await revokeToken(insecure, publicClient, 't', 'access_token', { fetch: fetchFn })).toBe(false);
  });
});
