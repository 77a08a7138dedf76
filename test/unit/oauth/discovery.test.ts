import type * as oauth from 'oauth4webapi';
import { beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { ErrorCode, McpAuthError } from '../../../src/errors.js';
import {
  assertPkceS256,
  authorizationServerMetadataUrls,
  canonicalResource,
  discover,
  protectedResourceMetadataUrls,
  resourceCovers } from '../../../src/oauth/discovery.js';
import { createSafeFetch } from '../../../src/oauth/http.js';
import { type HostileAs } from '../../support/hostile-as.js';
import { createRouteFetch, json, type TestDeps } from '../../support/test-deps.js';
import { useHostileAs } from '../../support/hostile-suite.js';

// Made-up hosts answered from a table: nothing leaves the machine, and the real safe fetch still
// applies its URL, size and redirect rules.
const MCP = 'https://mcp.example.com/mcp';
const AS = 'https://auth.example.com';
const PRM_PATH = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
const PRM_ROOT = 'https://mcp.example.com/.well-known/oauth-protected-resource';

function asMetadata(issuer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const origin = new URL(issuer).origin;
  return {
    issuer,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    registration_endpoint: `${origin}/register`,
    code_challenge_methods_supported: ['S256'],
    ...extra };
}

const unauthorized = (challenge = 'Bearer realm="mcp"') => () =>
  new Response('{"error":"unauthorized"}', { status: 401, headers: { 'www-authenticate': challenge, 'content-type': 'application/json' } });

function world(routes: Record<string, () => Response>) {
  const route = createRouteFetch(routes);
  const fetchFn = createSafeFetch({ fetch: route.fetch });
  return {
    fetch: fetchFn,
    calls: route.calls,
    /** "METHOD url" of every request, in order. */
    tried: () => route.calls.map((c) => `${c.method} ${c.url}`),
    discover: (serverUrl = MCP, opts: Partial<Parameters<typeof discover>[1]> = {}) => discover(serverUrl, { fetch: fetchFn, ...opts }) };
}

async function caught(p: Promise<unknown>): Promise<McpAuthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(McpAuthError);
  const err = e as McpAuthError;
  expect(err.hint, `${err.code} needs a hint`).toBeTruthy();
  expect(err.hint).not.toContain('\n');
  return err;
}

describe('well-known URL lists', () => {
  it('PRM: path form first, then the root', () => {
    expect(protectedResourceMetadataUrls('https://h.example/a/mcp/')).toEqual([
      'https://h.example/.well-known/oauth-protected-resource/a/mcp',
      'https://h.example/.well-known/oauth-protected-resource',
    ]);
    expect(protectedResourceMetadataUrls('https://h.example')).toEqual(['https://h.example/.well-known/oauth-protected-resource']);
  });

  it('AS: three URLs for an issuer with a path, two without, in the MCP spec order', () => {
    expect(authorizationServerMetadataUrls('https://a.example/t1/')).toEqual([
      'https://a.example/.well-known/oauth-authorization-server/t1',
      'https://a.example/.well-known/openid-configuration/t1',
      'https://a.example/t1/.well-known/openid-configuration',
    ]);
    expect(authorizationServerMetadataUrls('https://a.example')).toEqual([
      'https://a.example/.well-known/oauth-authorization-server',
      'https://a.example/.well-known/openid-configuration',
    ]);
  });

  it('canonical resource: no fragment, no trailing slash on a bare origin, path kept', () => {
    expect(canonicalResource('HTTPS://MCP.Example.com/#x')).toBe('https://mcp.example.com');
    expect(canonicalResource('https://mcp.example.com/mcp#frag')).toBe('https://mcp.example.com/mcp');
    expect(canonicalResource('https://mcp.example.com:443/mcp/')).toBe('https://mcp.example.com/mcp/');
  });

  it('resourceCovers: same origin and a whole-segment path prefix only', () => {
    expect(resourceCovers('https://mcp.example.com', MCP)).toBe(true);
    expect(resourceCovers('https://mcp.example.com/', MCP)).toBe(true);
    expect(resourceCovers('https://mcp.example.com/mcp/', MCP)).toBe(true);
    expect(resourceCovers('https://mcp.example.com/mcp', 'https://mcp.example.com/mcp/tools')).toBe(true);
    expect(resourceCovers('https://mcp.example.com/mcp', 'https://mcp.example.com/mcpx')).toBe(false);
    expect(resourceCovers('https://mcp.example.com/mcpx', MCP)).toBe(false);
    expect(resourceCovers('https://mcp.example.com/other', MCP)).toBe(false);
    expect(resourceCovers('https://evil.example.com/mcp', MCP)).toBe(false);
    expect(resourceCovers('http://mcp.example.com/mcp', MCP)).toBe(false);
    expect(resourceCovers('https://mcp.example.com:8443/mcp', MCP)).toBe(false);
    expect(resourceCovers('https://mcp.example.com/mcp?tenant=2', MCP)).toBe(false);
    expect(resourceCovers('not a url', MCP)).toBe(false);
  });
});

describe('protected resource metadata (RFC 9728)', () => {
  it('follows resource_metadata from the 401 challenge, and nothing else', async () => {
    const w = world({
      [MCP]: unauthorized(`Bearer resource_metadata="https://mcp.example.com/custom/prm.json", scope="mcp:read"`),
      'https://mcp.example.com/custom/prm.json': () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    const d = await w.discover();
    expect(w.tried()).toEqual([
      `POST ${MCP}`,
      'GET https://mcp.example.com/custom/prm.json',
      `GET ${AS}/.well-known/oauth-authorization-server`,
    ]);
    expect(d).toMatchObject({ source: 'prm', issuer: AS, resource: MCP, challenge: { scope: 'mcp:read' } });
  });

  it('a challenge the caller already holds skips the probe; a relative resource_metadata resolves against the server', async () => {
    const w = world({
      'https://mcp.example.com/meta/prm': () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    await w.discover(MCP, { challengeHeader: 'Bearer resource_metadata="/meta/prm"' });
    expect(w.tried()[0]).toBe('GET https://mcp.example.com/meta/prm');
    expect(w.calls.some((c) => c.method === 'POST')).toBe(false);
  });

  it('without resource_metadata: path-form well-known, then the root', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_ROOT]: () => json({ resource: 'https://mcp.example.com', authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    const d = await w.discover();
    expect(w.tried()).toEqual([`POST ${MCP}`, `GET ${PRM_PATH}`, `GET ${PRM_ROOT}`, `GET ${AS}/.well-known/oauth-authorization-server`]);
    expect(d.resource).toBe('https://mcp.example.com');
  });

  it('a resource_metadata URL that 404s falls back to the well-known URLs', async () => {
    const w = world({
      [MCP]: unauthorized('Bearer resource_metadata="https://mcp.example.com/gone"'),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    await w.discover();
    expect(w.tried().slice(0, 3)).toEqual([`POST ${MCP}`, 'GET https://mcp.example.com/gone', `GET ${PRM_PATH}`]);
  });

  it.each([
    ['malformed JSON', () => new Response('{"resource": ', { headers: { 'content-type': 'application/json' } })],
    ['an HTML page', () => new Response('<html></html>', { headers: { 'content-type': 'text/html' } })],
    ['no content-type', () => new Response(JSON.stringify({ resource: MCP, authorization_servers: [AS] }))],
    ['a JSON array', () => json([{ resource: MCP }])],
    ['JSON null', () => json(null)],
    ['no resource', () => json({ authorization_servers: [AS] })],
    ['a numeric resource', () => json({ resource: 42, authorization_servers: [AS] })],
    ['authorization_servers as a string', () => json({ resource: MCP, authorization_servers: AS })],
    ['scopes_supported with a number', () => json({ resource: MCP, authorization_servers: [AS], scopes_supported: ['a', 1] })],
    ['no authorization_servers', () => json({ resource: MCP })],
    ['an empty authorization_servers', () => json({ resource: MCP, authorization_servers: [] })],
    ['HTTP 500', () => new Response('oops', { status: 500 })],
    ['a redirect', () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example/prm' } })],
  ])('PRM that is %s → METADATA_INVALID, and no authorization server is contacted', async (_label, reply) => {
    const w = world({ [MCP]: unauthorized(), [PRM_PATH]: reply, [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    const err = await caught(w.discover());
    expect(err.code).toBe(ErrorCode.MetadataInvalid);
    expect(w.calls.some((c) => c.url.startsWith(AS))).toBe(false);
    expect(w.calls.some((c) => c.url.startsWith('https://elsewhere.example'))).toBe(false);
  });

  it('oversized PRM → RESPONSE_TOO_LARGE', async () => {
    const big = JSON.stringify({ resource: MCP, authorization_servers: [AS], pad: 'x'.repeat(2 * 1024 * 1024) });
    const w = world({ [MCP]: unauthorized(), [PRM_PATH]: () => new Response(big, { headers: { 'content-type': 'application/json' } }) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.ResponseTooLarge);
  });
});

describe('authorization server metadata (RFC 8414 / OIDC discovery)', () => {
  const T1 = `${AS}/t1`;

  it('issuer with a path: three URLs in order; the third answers', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [T1] }),
      [`${T1}/.well-known/openid-configuration`]: () => json(asMetadata(T1)) });
    const d = await w.discover();
    expect(w.tried().slice(2)).toEqual([
      `GET ${AS}/.well-known/oauth-authorization-server/t1`,
      `GET ${AS}/.well-known/openid-configuration/t1`,
      `GET ${T1}/.well-known/openid-configuration`,
    ]);
    expect(d.issuer).toBe(T1);
  });

  it('issuer with a path: the first answer ends the walk', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [T1] }),
      [`${AS}/.well-known/oauth-authorization-server/t1`]: () => json(asMetadata(T1)),
      [`${T1}/.well-known/openid-configuration`]: () => json(asMetadata(T1)) });
    await w.discover();
    expect(w.tried().slice(2)).toEqual([`GET ${AS}/.well-known/oauth-authorization-server/t1`]);
  });

  it('issuer without a path: OAuth then OIDC', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/openid-configuration`]: () => json(asMetadata(AS)) });
    await w.discover();
    expect(w.tried().slice(2)).toEqual([`GET ${AS}/.well-known/oauth-authorization-server`, `GET ${AS}/.well-known/openid-configuration`]);
  });

  it('none of the three answers → METADATA_NOT_FOUND, pointing at authServerMetadataUrl', async () => {
    const w = world({ [MCP]: unauthorized(), [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [T1] }) });
    const err = await caught(w.discover());
    expect(err.code).toBe(ErrorCode.MetadataNotFound);
    expect(err.hint).toContain('auth-server-metadata-url');
    expect(w.calls.length).toBe(2 + 3);
  });

  it('a 5xx is decided where it happens: AUTH_SERVER_UNAVAILABLE, the chain is not walked on', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => new Response('down', { status: 503 }),
      [`${AS}/.well-known/openid-configuration`]: () => json(asMetadata(AS)) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.AuthServerUnavailable);
    expect(w.calls.length).toBe(3);
  });

  it('oauth.authServerMetadataUrl skips the chain', async () => {
    const override = 'https://idp.example.com/custom/metadata.json';
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [override]: () => json(asMetadata('https://idp.example.com/tenant')) });
    const d = await w.discover(MCP, { authServerMetadataUrl: override });
    expect(w.tried()).toEqual([`POST ${MCP}`, `GET ${PRM_PATH}`, `GET ${override}`]);
    expect(d).toMatchObject({ source: 'override', issuer: 'https://idp.example.com/tenant', resource: MCP });
  });

  it('an authServerMetadataUrl that answers 404 → METADATA_NOT_FOUND (not "server down")', async () => {
    const override = 'https://idp.example.com/missing.json';
    const w = world({ [MCP]: unauthorized(), [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }) });
    const err = await caught(w.discover(MCP, { authServerMetadataUrl: override }));
    expect(err.code).toBe(ErrorCode.MetadataNotFound);
    expect(err.message).toContain('404');
  });

  it('metadata that redirects → METADATA_INVALID, and the redirect is not followed', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => new Response(null, { status: 302, headers: { location: 'https://evil.example.com/meta' } }) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.MetadataInvalid);
    expect(w.calls.some((c) => c.url.startsWith('https://evil.example.com'))).toBe(false);
  });

  it('an insecure authServerMetadataUrl is INSECURE_URL and is never fetched', async () => {
    const override = 'http://idp.example.com/metadata.json';
    const w = world({ [MCP]: unauthorized(), [override]: () => json(asMetadata('http://idp.example.com')) });
    expect((await caught(w.discover(MCP, { authServerMetadataUrl: override }))).code).toBe(ErrorCode.InsecureUrl);
    expect(w.calls.some((c) => c.url === override)).toBe(false);
  });

  it('metadata naming another issuer → ISSUER_MISMATCH (RFC 8414 §3.3)', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata('https://evil.example.com')) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.IssuerMismatch);
  });

  it('an issuer path that differs (/t1 vs /t2) is a mismatch too', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [T1] }),
      [`${AS}/.well-known/oauth-authorization-server/t1`]: () => json(asMetadata(`${AS}/t2`)) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.IssuerMismatch);
  });

  it.each([
    ['malformed JSON', () => new Response('{"issuer":', { headers: { 'content-type': 'application/json' } })],
    ['an HTML login page', () => new Response('<html>login</html>', { headers: { 'content-type': 'text/html' } })],
    ['no issuer', () => json({ ...asMetadata(AS), issuer: undefined })],
    ['an issuer that is not a URL', () => json({ ...asMetadata(AS), issuer: 'auth server' })],
    ['a token_endpoint that is not a string', () => json(asMetadata(AS, { token_endpoint: ['https://auth.example.com/token'] }))],
    ['a token_endpoint that is not a URL', () => json(asMetadata(AS, { token_endpoint: '/token' }))],
    ['code_challenge_methods_supported as a string', () => json(asMetadata(AS, { code_challenge_methods_supported: 'S256' }))],
  ])('metadata with %s → METADATA_INVALID', async (_label, reply) => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: reply });
    expect((await caught(w.discover())).code).toBe(ErrorCode.MetadataInvalid);
  });

  it('oversized metadata → RESPONSE_TOO_LARGE', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS, { pad: 'x'.repeat(1024 * 1024 + 1) })) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.ResponseTooLarge);
  });

  it.each([
    ['token_endpoint', 'http://auth.example.com/token'],
    ['authorization_endpoint', 'http://auth.example.com/authorize'],
    ['registration_endpoint', 'http://auth.example.com/register'],
    ['revocation_endpoint', 'http://auth.example.com/revoke'],
    ['token_endpoint', 'https://user:pass@auth.example.com/token'],
    ['authorization_endpoint', 'javascript:alert(1)'],
    ['token_endpoint', 'http://localhost.evil.example/token'],
  ])('metadata with %s %s → INSECURE_URL', async (field, value) => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS, { [field]: value })) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.InsecureUrl);
  });
});

describe('2025-03-26 back-compat (no PRM)', () => {
  it('AS metadata at the MCP server origin root', async () => {
    const w = world({
      'https://mcp.example.com/v1/mcp': unauthorized(),
      'https://mcp.example.com/.well-known/oauth-authorization-server': () => json(asMetadata('https://mcp.example.com')) });
    const d = await w.discover('https://mcp.example.com/v1/mcp');
    expect(w.tried()).toEqual([
      'POST https://mcp.example.com/v1/mcp',
      'GET https://mcp.example.com/.well-known/oauth-protected-resource/v1/mcp',
      'GET https://mcp.example.com/.well-known/oauth-protected-resource',
      'GET https://mcp.example.com/.well-known/oauth-authorization-server',
    ]);
    expect(d).toMatchObject({ source: 'legacy-metadata', resource: 'https://mcp.example.com/v1/mcp' });
  });

  it('no metadata at all: /authorize, /token and /register at the origin root', async () => {
    const w = world({ [MCP]: unauthorized() });
    const d = await w.discover();
    expect(w.tried().slice(3)).toEqual([
      'GET https://mcp.example.com/.well-known/oauth-authorization-server',
      'GET https://mcp.example.com/.well-known/openid-configuration',
    ]);
    expect(d.source).toBe('legacy-default');
    expect(d.as).toMatchObject({
      issuer: 'https://mcp.example.com',
      authorization_endpoint: 'https://mcp.example.com/authorize',
      token_endpoint: 'https://mcp.example.com/token',
      registration_endpoint: 'https://mcp.example.com/register' });
  });

  it('a server that answers without asking for authorization and publishes nothing → NOT_OAUTH', async () => {
    const w = world({ [MCP]: () => json({ jsonrpc: '2.0', id: 0, result: {} }) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.NotOAuth);
  });
});

describe('resource mismatch (RFC 9728 §3.3)', () => {
  it.each([
    ['another origin', 'https://evil.example.com/mcp'],
    ['a sibling path that shares a prefix (/mcpx vs /mcp)', 'https://mcp.example.com/mcpx'],
    ['a longer path', 'https://mcp.example.com/mcp/admin'],
    ['http instead of https', 'http://mcp.example.com/mcp'],
  ])('PRM resource on %s → RESOURCE_MISMATCH before any AS request', async (_label, resource) => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.ResourceMismatch);
    expect(w.calls.some((c) => c.url.startsWith(AS))).toBe(false);
  });
});

describe('insecure URLs before any request', () => {
  it('an http MCP server URL (not loopback) → INSECURE_URL, nothing fetched', async () => {
    const w = world({});
    expect((await caught(w.discover('http://mcp.example.com/mcp'))).code).toBe(ErrorCode.InsecureUrl);
    expect(w.calls).toEqual([]);
  });

  it('an http resource_metadata → INSECURE_URL, never fetched', async () => {
    const w = world({ [MCP]: unauthorized('Bearer resource_metadata="http://mcp.example.com/prm"') });
    expect((await caught(w.discover())).code).toBe(ErrorCode.InsecureUrl);
    expect(w.tried()).toEqual([`POST ${MCP}`]);
  });

  it('an http authorization server in the PRM → INSECURE_URL, never contacted', async () => {
    const w = world({ [MCP]: unauthorized(), [PRM_PATH]: () => json({ resource: MCP, authorization_servers: ['http://auth.example.com'] }) });
    expect((await caught(w.discover())).code).toBe(ErrorCode.InsecureUrl);
    expect(w.calls.some((c) => c.url.includes('auth.example.com'))).toBe(false);
  });
});

describe('beforeIssuerContact', () => {
  it('is called with the issuer before the first request to it', async () => {
    const events: string[] = [];
    const route = createRouteFetch({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    const tracing: typeof fetch = (input, init) => {
      events.push(`fetch ${String(input)}`);
      return route.fetch(input, init);
    };
    await discover(MCP, { fetch: createSafeFetch({ fetch: tracing }), beforeIssuerContact: (iss) => void events.push(`hook ${iss}`) });
    expect(events).toEqual([`fetch ${MCP}`, `fetch ${PRM_PATH}`, `hook ${AS}`, `fetch ${AS}/.well-known/oauth-authorization-server`]);
  });

  it('throwing refuses the issuer: no request reaches it', async () => {
    const w = world({
      [MCP]: unauthorized(),
      [PRM_PATH]: () => json({ resource: MCP, authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: () => json(asMetadata(AS)) });
    const refusal = new McpAuthError(ErrorCode.IssuerBlocked, 'not on the allow-list', { hint: 'Ask your admin.' });
    await expect(w.discover(MCP, { beforeIssuerContact: () => Promise.reject(refusal) })).rejects.toBe(refusal);
    expect(w.calls.some((c) => c.url.startsWith(AS))).toBe(false);
  });

  it('the legacy path asks about the MCP origin before fetching its metadata', async () => {
    const seen: string[] = [];
    const w = world({ [MCP]: unauthorized() });
    await expect(
      w.discover(MCP, {
        beforeIssuerContact: (iss) => {
          seen.push(iss);
          throw new McpAuthError(ErrorCode.IssuerBlocked, 'no', { hint: 'x' });
        } }),
    ).rejects.toMatchObject({ code: ErrorCode.IssuerBlocked });
    expect(seen).toEqual(['https://mcp.example.com']);
    expect(w.calls.some((c) => c.url.includes('oauth-authorization-server'))).toBe(false);
  });
});

describe('PKCE S256 is required (SPEC-NOTES 4)', () => {
  const base = asMetadata(AS) as unknown as oauth.AuthorizationServer;

  it.each([
    ['no code_challenge_methods_supported', undefined],
    ['plain only', ['plain']],
    ['an empty list', []],
    ['a lower-case s256', ['s256']],
  ])('%s → PKCE_UNSUPPORTED', (_label, methods) => {
    const as = { ...base, code_challenge_methods_supported: methods } as oauth.AuthorizationServer;
    let err: unknown;
    try {
      assertPkceS256(as);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: ErrorCode.PkceUnsupported, hint: expect.any(String) });
  });

  it('S256 among others passes', () => {
    expect(() => assertPkceS256({ ...base, code_challenge_methods_supported: ['plain', 'S256'] })).not.toThrow();
  });
});

describe('through a login against a hostile server', () => {
  let h: HostileAs;
  let deps: TestDeps;
  const suite = useHostileAs({ serverName: 'srv' });
  beforeEach(() => {
    ({ h, deps } = suite);
  });

  const nothingSentToTheAs = () => {
    expect(h.count('/register')).toBe(0);
    expect(h.count('/authorize')).toBe(0);
    expect(h.count('/token')).toBe(0);
    expect(deps.browser.opened).toEqual([]);
  };

  it('no code_challenge_methods_supported → PKCE_UNSUPPORTED, no registration, no browser', async () => {
    const { code_challenge_methods_supported: _drop, ...meta } = h.defaultMetadata();
    h.config.metadata = meta;
    const err = await caught(new Broker(deps).login('srv', { timeoutMs: 5_000 }));
    expect(err.code).toBe(ErrorCode.PkceUnsupported);
    nothingSentToTheAs();
  });

  it('S256 missing from the list → PKCE_UNSUPPORTED', async () => {
    h.config.metadata = { ...h.defaultMetadata(), code_challenge_methods_supported: ['plain'] };
    expect((await caught(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.PkceUnsupported);
    nothingSentToTheAs();
  });

  it.each([
    ['/mcpx', (h: HostileAs) => `${h.origin}/mcpx`],
    ['another origin', () => 'https://mcp.example.com/mcp'],
  ])('PRM resource %s → RESOURCE_MISMATCH; the AS is never contacted', async (_label, resource) => {
    h.config.prm = { resource: resource(h), authorization_servers: [h.issuer] };
    expect((await caught(new Broker(deps).login('srv', { timeoutMs: 5_000 }))).code).toBe(ErrorCode.ResourceMismatch);
    expect(h.count('/.well-known/oauth-authorization-server')).toBe(0);
    nothingSentToTheAs();
  });
});
