/**
 * Threat: credentials sent in clear text or to an attacker-chosen place. OAuth 2.1 §1.5 and RFC 9700
 * §2.6 allow plain http only to loopback; metadata is attacker-influenced, so every URL it names is
 * checked before a request is made, userinfo in URLs is refused, look-alike "loopback" names are not
 * loopback, and redirects are never followed (a token request must not be replayed elsewhere).
 * Every refusal happens before anything is sent and leaves stored credentials as they were.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { freshCredential } from '../../src/broker/fresh-token.js';
import type { CredentialRecord, ServerState } from '../../src/broker/records.js';
import { ErrorCode } from '../../src/errors.js';
import { createSafeFetch } from '../../src/oauth/http.js';
import { credentialKey, serverStateKey } from '../../src/store/key.js';
import { type HostileAs } from '../support/hostile-as.js';
import { addServer, createRouteFetch, json, type TestDeps } from '../support/test-deps.js';
import { failure } from '../support/errors.js';
import { useHostileAs } from '../support/hostile-suite.js';

let h: HostileAs;
let deps: TestDeps;

const suite = useHostileAs();
beforeEach(() => {
  ({ h, deps } = suite);
});

describe('non-loopback http is refused before any request', () => {
  it('an http MCP server URL: nothing is fetched at all', async () => {
    const route = createRouteFetch({});
    deps.fetch = createSafeFetch({ fetch: route.fetch });
    await addServer(deps, 'srv', { type: 'http', url: 'http://mcp.example.com/mcp' });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.InsecureUrl);
    expect(route.calls).toEqual([]);
  });

  it.each([
    ['http to a public host', 'http://auth.example.com'],
    ['a "localhost" look-alike', 'http://localhost.evil.example'],
    ['a name that resolves to 127.0.0.1', 'http://127.0.0.1.nip.io'],
    ['0.0.0.0', 'http://0.0.0.0'],
    ['userinfo', `https://admin:hunter2@auth.example.com`],
  ])('a PRM naming an authorization server with %s → INSECURE_URL, never contacted', async (_label, issuer) => {
    h.config.prm = { resource: h.mcpUrl, authorization_servers: [issuer] };
    const inner = createRouteFetch({});
    // Loopback goes to the hostile server; anything else would be recorded (and answered 404).
    deps.fetch = createSafeFetch({
      fetch: (input, init) => (String(input).startsWith(h.origin) ? fetch(input, init) : inner.fetch(input, init)) });
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.InsecureUrl);
    expect(inner.calls).toEqual([]);
  });

  it.each(['token_endpoint', 'registration_endpoint', 'authorization_endpoint', 'revocation_endpoint'])(
    'metadata with an http %s → INSECURE_URL: no registration, no browser, no token request',
    async (field) => {
      h.config.metadata = { ...h.defaultMetadata(), [field]: `http://auth.example.com/${field}` };
      await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
      expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.InsecureUrl);
      expect(h.count('/register')).toBe(0);
      expect(h.count('/token')).toBe(0);
      expect(deps.browser.opened).toEqual([]);
    },
  );

  it('a resource_metadata URL over http → INSECURE_URL, never fetched', async () => {
    const route = createRouteFetch({});
    deps.fetch = createSafeFetch({ fetch: (i, init) => (String(i).startsWith(h.origin) ? fetch(i, init) : route.fetch(i, init)) });
    h.config.mcp = { status: 401, challenge: 'Bearer resource_metadata="http://mcp.example.com/.well-known/oauth-protected-resource"' };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.InsecureUrl);
    expect(route.calls).toEqual([]);
  });

  it('config refuses an http authServerMetadataUrl to a public host', async () => {
    await expect(
      addServer(deps, 'srv', { type: 'http', url: h.mcpUrl, oauth: { authServerMetadataUrl: 'http://idp.example.com/.well-known/openid-configuration' } }),
    ).rejects.toMatchObject({ code: ErrorCode.ConfigInvalid });
  });
});

describe('a tampered stored state cannot send a refresh token in clear text', () => {
  it('an http token endpoint in the stored metadata → INSECURE_URL, nothing sent, nothing changed', async () => {
    const route = createRouteFetch({});
    deps.fetch = createSafeFetch({ fetch: route.fetch });
    const key = credentialKey({ resource: h.mcpUrl, issuer: h.issuer, clientId: 'c' });
    const now = deps.clock.now();
    const cred: CredentialRecord = {
      v: 1, issuer: h.issuer, resource: h.mcpUrl, clientId: 'c', account: 'default',
      accessToken: 'at', refreshToken: 'rt-must-not-travel', obtainedAt: now - 3_600_000, expiresAt: now - 1 };
    const state: ServerState = {
      v: 1, serverUrl: h.mcpUrl, issuer: h.issuer, as: { ...h.defaultMetadata(), issuer: h.issuer, token_endpoint: 'http://attacker.example.com/token' },
      client: { clientId: 'c', tokenEndpointAuthMethod: 'none', source: 'dcr', redirectUri: 'http://127.0.0.1:1/callback' },
      credentialKey: key, account: 'default', updatedAt: now };
    await deps.store.set(key, JSON.stringify(cred));
    await deps.store.set(serverStateKey('srv'), JSON.stringify(state));
    const before = [await deps.store.get(key), await deps.store.get(serverStateKey('srv'))];
    expect((await failure(freshCredential(deps, 'srv', state))).code).toBe(ErrorCode.InsecureUrl);
    expect(route.calls).toEqual([]);
    expect([await deps.store.get(key), await deps.store.get(serverStateKey('srv'))]).toEqual(before);
  });
});

describe('redirects are never followed', () => {
  it('a PRM redirect is not followed to the attacker', async () => {
    let reached = 0;
    h.config.routes['/elsewhere/prm'] = () => {
      reached++;
      return { body: { resource: h.mcpUrl, authorization_servers: [h.issuer] } };
    };
    h.config.prm = { reply: { status: 302, headers: { location: `${h.origin}/elsewhere/prm` } } };
    h.config.prmPaths = [new URL(h.prmUrl).pathname, '/.well-known/oauth-protected-resource'];
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.MetadataInvalid);
    expect(reached).toBe(0);
  });

  it('a metadata redirect is not followed', async () => {
    let reached = 0;
    h.config.routes['/moved'] = () => {
      reached++;
      return { body: h.defaultMetadata() };
    };
    h.config.metadata = { reply: { status: 301, headers: { location: `${h.origin}/moved` } } };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.MetadataInvalid);
    expect(reached).toBe(0);
    expect(h.count('/register')).toBe(0);
  });

  it('a token endpoint redirect does not replay the code elsewhere', async () => {
    let replayed = 0;
    h.config.routes['/stolen'] = () => {
      replayed++;
      return { body: { access_token: 'x', token_type: 'Bearer' } };
    };
    h.config.token = () => ({ status: 307, headers: { location: `${h.origin}/stolen` } });
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.TokenResponseInvalid);
    expect(replayed).toBe(0);
    expect((await deps.store.keys()).filter((k) => k.startsWith('cred:'))).toEqual([]);
  });

  it('a registration redirect is not followed', async () => {
    let reached = 0;
    h.config.routes['/register2'] = () => {
      reached++;
      return { status: 201, body: { client_id: 'c' } };
    };
    h.config.register = { status: 308, headers: { location: `${h.origin}/register2` } };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    expect((await failure(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.RegistrationFailed);
    expect(reached).toBe(0);
  });
});

describe('loopback http stays allowed (the redirect URI and local servers need it)', () => {
  it.each(['http://127.0.0.1', 'http://127.8.9.10', 'http://localhost', 'http://[::1]'])('%s as an issuer passes the URL check', async (base) => {
    const route = createRouteFetch({
      'https://mcp.example.com/mcp': () => new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="x"' } }),
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp': () => json({ resource: 'https://mcp.example.com/mcp', authorization_servers: [`${base}:1`] }) });
    const { discover } = await import('../../src/oauth/discovery.js');
    // The table has no metadata for the loopback issuer: reaching METADATA_NOT_FOUND means the URL
    // was accepted and asked for (and answered 404).
    const err = await failure(discover('https://mcp.example.com/mcp', { fetch: createSafeFetch({ fetch: route.fetch }) }));
    expect(err.code).toBe(ErrorCode.MetadataNotFound);
    expect(route.calls.some((c) => c.url.startsWith(`${base}:1/.well-known/`))).toBe(true);
  });
});
