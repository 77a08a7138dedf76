/**
 * Threat: secrets leaking through error output. Error messages go to terminals, CI logs, the
 * daemon's problem+json and the browser tab; a server that echoes a refresh token, code, verifier
 * or client secret in `error_description`, or puts credentials in a URL, must not get them printed.
 * Every error path below is triggered with planted canaries, and no McpAuthError message, hint,
 * JSON form or string form, nor any log line, may contain one.
 */
import * as oauth from 'oauth4webapi';
import { beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { freshCredential } from '../../src/broker/fresh-token.js';
import type { CredentialRecord, ServerState } from '../../src/broker/records.js';
import { McpAuthError } from '../../src/errors.js';
import { discover } from '../../src/oauth/discovery.js';
import { exchangeCode, refreshTokens } from '../../src/oauth/grants.js';
import { createSafeFetch } from '../../src/oauth/http.js';
import { registerClient, type ClientIdentity } from '../../src/oauth/registration.js';
import { credentialKey, registrationKey, serverStateKey } from '../../src/store/key.js';
import { type Handler, type HostileAs } from '../support/hostile-as.js';
import { addServer, createRouteFetch, json, type TestDeps } from '../support/test-deps.js';
import { useHostileAs } from '../support/hostile-suite.js';

const CANARY_RT = 'rt_CANARY_refresh_6f1d2c9a8b7e';
const CANARY_AT = 'at_CANARY_access_0a9b8c7d6e5f';
const CANARY_SECRET = 'cs_CANARY_client_secret_5e4d3c';
const CANARY_URL = 'CANARY_url_part_77aa66bb';
const CANARIES = [CANARY_RT, CANARY_AT, CANARY_SECRET, CANARY_URL];

let h: HostileAs;
let deps: TestDeps;
const fetchFn = createSafeFetch();

const suite = useHostileAs();
beforeEach(() => {
  ({ h, deps } = suite);
});

/** Everything a user or a log could see of an error. */
function surfaces(err: McpAuthError): string[] {
  return [err.message, err.hint ?? '', JSON.stringify(err), String(err), JSON.stringify(err.toJSON())];
}

/** Awaits a rejection and checks that none of `secrets` (plus the fixed canaries) shows anywhere. */
async function expectClean(p: Promise<unknown>, secrets: string[] = []): Promise<McpAuthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected an McpAuthError').toBeInstanceOf(McpAuthError);
  const err = e as McpAuthError;
  expect(err.hint, `${err.code} has no hint`).toBeTruthy();
  for (const text of [...surfaces(err), ...deps.logs]) {
    for (const secret of [...CANARIES, ...secrets]) expect(text, `${err.code} leaks ${secret}`).not.toContain(secret);
  }
  // The cause may hold the raw response; it must not be enumerable.
  expect(Object.keys(err)).not.toContain('cause');
  return err;
}

/**
 * A token endpoint that echoes everything it was sent — form values (refresh token, code, verifier,
 * client secret) and the Authorization header (Basic credentials) — in its error.
 */
function echoingError(error: string, status = 400, challenge = false): Handler {
  return (req) => {
    const auth = String(req.headers.authorization ?? '');
    const echoed = [...req.form.values(), auth, auth.replace(/^Basic /, '')].join(' | ');
    return {
      status,
      headers: challenge ? { 'www-authenticate': `Basic realm="as", error="${error}", error_description="${echoed}"` } : ({} as Record<string, string>),
      body: { error, error_description: echoed, refresh_token: CANARY_RT, access_token: CANARY_AT } };
  };
}

const as = () => h.defaultMetadata() as unknown as oauth.AuthorizationServer;
const confidential = { clientId: 'client-c', clientSecret: CANARY_SECRET, tokenEndpointAuthMethod: 'client_secret_post' as const };
const basic = { ...confidential, tokenEndpointAuthMethod: 'client_secret_basic' as const };
const basicBlob = Buffer.from(`client-c:${CANARY_SECRET}`).toString('base64');

describe('refresh errors', () => {
  it.each([
    ['invalid_grant', 400, false],
    ['invalid_client', 401, true],
    ['invalid_client', 400, false],
    ['invalid_scope', 400, false],
    ['server_error', 500, false],
  ] as const)('%s (HTTP %d, challenge %s) echoing the refresh token and client secret', async (error, status, challenge) => {
    h.config.token = echoingError(error, status, challenge);
    await expectClean(refreshTokens(as(), confidential, CANARY_RT, { fetch: fetchFn, now: () => 0 }));
    await expectClean(refreshTokens(as(), basic, CANARY_RT, { fetch: fetchFn, now: () => 0 }), [basicBlob]);
  });

  it('every occurrence of the refresh token in a description is redacted', async () => {
    h.config.token = () => ({ status: 400, body: { error: 'invalid_grant', error_description: `token ${CANARY_RT} revoked; also ${CANARY_RT.toUpperCase()}` } });
    const err = await expectClean(refreshTokens(as(), confidential, CANARY_RT, { fetch: fetchFn, now: () => 0 }));
    expect(err.message).toContain('[redacted]');
  });

  it('through freshCredential and the broker log', async () => {
    h.config.token = echoingError('invalid_grant');
    const key = credentialKey({ resource: h.mcpUrl, issuer: h.issuer, clientId: 'client-c' });
    const now = deps.clock.now();
    const cred: CredentialRecord = {
      v: 1, issuer: h.issuer, resource: h.mcpUrl, clientId: 'client-c', account: 'default',
      accessToken: CANARY_AT, refreshToken: CANARY_RT, obtainedAt: now - 3_600_000, expiresAt: now - 1 };
    const state: ServerState = {
      v: 1, serverUrl: h.mcpUrl, issuer: h.issuer, as: as(), resource: h.mcpUrl,
      client: { clientId: 'client-c', tokenEndpointAuthMethod: 'client_secret_post', source: 'dcr', redirectUri: 'http://127.0.0.1:1/callback' },
      credentialKey: key, account: 'default', updatedAt: now };
    await deps.store.set(key, JSON.stringify(cred));
    await deps.store.set(registrationKey({ issuer: h.issuer }), JSON.stringify({ v: 1, issuer: h.issuer, clientId: 'client-c', clientSecret: CANARY_SECRET, tokenEndpointAuthMethod: 'client_secret_post', redirectUri: 'http://127.0.0.1:1/callback', registeredAt: 0 }));
    await expectClean(freshCredential(deps, 'srv', state));

    // A transient failure with a still-valid token is logged: the log line is clean too.
    h.config.token = () => ({ status: 503, body: { error: 'temporarily_unavailable', error_description: CANARY_RT } });
    await deps.store.set(key, JSON.stringify({ ...cred, expiresAt: now + 60_000 }));
    await deps.store.set(serverStateKey('srv'), JSON.stringify(state));
    await freshCredential(deps, 'srv', state);
    expect(deps.logs.length).toBeGreaterThan(0);
    for (const line of deps.logs) for (const c of CANARIES) expect(line).not.toContain(c);
  });

  it('a DPoP or malformed token response carrying tokens', async () => {
    h.config.token = { kind: 'dpop', accessToken: CANARY_AT, refreshToken: CANARY_RT };
    await expectClean(refreshTokens(as(), confidential, CANARY_RT, { fetch: fetchFn, now: () => 0 }));
    h.config.token = { kind: 'ok', accessToken: CANARY_AT, extra: { refresh_token: 42, expires_in: CANARY_RT } };
    await expectClean(refreshTokens(as(), confidential, CANARY_RT, { fetch: fetchFn, now: () => 0 }));
  });
});

describe('code exchange errors', () => {
  async function exchange() {
    const identity: ClientIdentity = { ...basic, redirectUri: 'http://127.0.0.1:1/callback', source: 'preregistered' };
    const res = await fetch(
      `${h.origin}/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'client-c', redirect_uri: identity.redirectUri, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', state: 's' })}`,
      { redirect: 'manual' },
    );
    const params = new URL(res.headers.get('location')!).searchParams;
    const code = params.get('code')!;
    const verifier = `verifier_CANARY_${'v'.repeat(40)}`;
    const validated = oauth.validateAuthResponse(as(), { client_id: 'client-c' }, params, 's');
    return { code, verifier, run: () => exchangeCode(as(), identity, validated, { fetch: fetchFn, now: () => 0, codeVerifier: verifier }) };
  }

  it.each([
    ['invalid_grant', 400, false],
    ['invalid_client', 401, true],
    ['unauthorized_client', 400, false],
  ] as const)('%s echoing the code, the verifier and the client secret', async (error, status, challenge) => {
    h.config.token = echoingError(error, status, challenge);
    const x = await exchange();
    await expectClean(x.run(), [x.code, x.verifier, basicBlob]);
  });
});

describe('login errors', () => {
  beforeEach(async () => {
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl, oauth: { clientId: 'pre-client' } });
    deps.env = { MCP_CLIENT_SECRET: CANARY_SECRET };
  });

  it('a token endpoint that echoes everything on the code exchange', async () => {
    h.config.token = echoingError('invalid_request');
    const err = await expectClean(new Broker(deps).login('srv', { timeoutMs: 5_000 }));
    // The code and verifier were sent; neither may show up.
    const sent = h.tokenRequests('authorization_code')[0]!.form;
    for (const s of [sent.get('code')!, sent.get('code_verifier')!]) expect(surfaces(err).join('\n')).not.toContain(s);
  });

  it('an authorization error whose description echoes the client secret', async () => {
    h.config.authorize = { error: 'access_denied', errorDescription: `client pre-client with secret ${CANARY_SECRET} is not allowed` };
    await expectClean(new Broker(deps).login('srv', { timeoutMs: 5_000 }));
  });
});

describe('discovery errors with credentials in URLs', () => {
  const MCP = 'https://mcp.example.com/mcp';
  const PRM = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
  const unauthorized = () => new Response('{}', { status: 401, headers: { 'www-authenticate': 'Bearer realm="x"' } });

  it.each([
    ['an issuer mismatch', { resource: MCP, authorization_servers: ['https://auth.example.com'] }, { issuer: `https://user:${CANARY_URL}@evil.example.com/?t=${CANARY_URL}#${CANARY_URL}` }],
    ['a resource mismatch', { resource: `https://evil.example.com/mcp?token=${CANARY_URL}`, authorization_servers: ['https://auth.example.com'] }, {}],
    ['an insecure authorization server', { resource: MCP, authorization_servers: [`http://auth.example.com/?k=${CANARY_URL}`] }, {}],
    ['credentials in the authorization server URL', { resource: MCP, authorization_servers: [`https://u:${CANARY_URL}@auth.example.com`] }, {}],
  ])('%s', async (_label, prm, meta) => {
    const route = createRouteFetch({
      [MCP]: unauthorized,
      [PRM]: () => json(prm),
      'https://auth.example.com/.well-known/oauth-authorization-server': () =>
        json({ issuer: 'https://auth.example.com', authorization_endpoint: 'https://auth.example.com/a', token_endpoint: 'https://auth.example.com/t', ...meta }) });
    await expectClean(discover(MCP, { fetch: createSafeFetch({ fetch: route.fetch }) }));
  });

  it('a metadata endpoint URL with credentials', async () => {
    const route = createRouteFetch({
      [MCP]: unauthorized,
      [PRM]: () => json({ resource: MCP, authorization_servers: ['https://auth.example.com'] }),
      'https://auth.example.com/.well-known/oauth-authorization-server': () =>
        json({ issuer: 'https://auth.example.com', authorization_endpoint: 'https://auth.example.com/a', token_endpoint: `https://client:${CANARY_URL}@auth.example.com/t?x=${CANARY_URL}` }) });
    await expectClean(discover(MCP, { fetch: createSafeFetch({ fetch: route.fetch }) }));
  });

  it('an unreachable server named with a query', async () => {
    const failing: typeof fetch = () => Promise.reject(new TypeError(`connect ECONNREFUSED (${CANARY_URL})`));
    await expectClean(discover(`https://mcp.example.com/mcp?key=${CANARY_URL}`, { fetch: createSafeFetch({ fetch: failing }) }));
  });
});

describe('registration and storage errors', () => {
  it('a registration assigning an unsupported method with a secret', async () => {
    const route = createRouteFetch({
      'https://auth.example.com/register': () =>
        json({ client_id: 'c', client_secret: CANARY_SECRET, token_endpoint_auth_method: 'private_key_jwt', redirect_uris: ['http://127.0.0.1:1/callback'] }, 201) });
    await expectClean(
      registerClient(
        { issuer: 'https://auth.example.com', registration_endpoint: 'https://auth.example.com/register' },
        { redirectUri: 'http://127.0.0.1:1/callback', fetch: createSafeFetch({ fetch: route.fetch }), now: 0 },
      ),
    );
  });

  it('a damaged credential record that still contains tokens', async () => {
    const key = credentialKey({ resource: h.mcpUrl, issuer: h.issuer, clientId: 'c' });
    await deps.store.set(key, `{"v":1,"accessToken":"${CANARY_AT}","refreshToken":"${CANARY_RT}"`);
    const state = { v: 1, serverUrl: h.mcpUrl, issuer: h.issuer, as: as(), client: { clientId: 'c', tokenEndpointAuthMethod: 'none', source: 'dcr', redirectUri: 'x' }, credentialKey: key, account: 'default', updatedAt: 0 } as ServerState;
    await expectClean(freshCredential(deps, 'srv', state));
  });
});
