// Proves the end-to-end fixtures on their own, with no mcp-auth code involved: a client written
// here with oauth4webapi goes through discovery, registration, the browser login, the code
// exchange and a rotating refresh, then talks to the protected MCP server with the SDK client.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { startAuthorizationServer, type AuthServerFixture } from '../fixtures/authorization-server.js';
import { startMcpServer, type McpServerFixture } from '../fixtures/mcp-server.js';
import {
  BROWSER_COMMAND,
  completeLogin,
  launchBrowser,
  waitForAuthorizationUrl,
  type LaunchedBrowser,
} from '../fixtures/browser.js';

// Plain-http loopback servers are the point of these fixtures; oauth4webapi insists on https otherwise.
const insecure = { [oauth.allowInsecureRequests]: true } as const;

let as: AuthServerFixture;
let mcp: McpServerFixture;
let browser: LaunchedBrowser;

beforeAll(async () => {
  as = await startAuthorizationServer({ scopes: ['mcp:read', 'mcp:write', 'mcp:admin'] });
  mcp = await startMcpServer({ authServer: as, requiredScopes: ['mcp:read'], toolScopes: { admin_reset: ['mcp:admin'] } });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await mcp?.close();
  await as?.close();
});

/** A one-shot loopback redirect target, like the one a native client opens for the callback. */
async function startCallbackServer(host = '127.0.0.1'): Promise<{ port: number; received: Promise<URL>; server: Server }> {
  let deliver!: (url: URL) => void;
  const received = new Promise<URL>((resolve) => {
    deliver = resolve;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? host}`);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>done</title><p id="done">Login complete. You can close this tab.</p>');
    deliver(url);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return { port: (server.address() as AddressInfo).port, received, server };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function discover(): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(as.issuer);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function register(
  authServer: oauth.AuthorizationServer,
  redirectUri: string,
): Promise<oauth.Client> {
  const response = await oauth.dynamicClientRegistrationRequest(
    authServer,
    {
      client_name: 'fixture self-test',
      application_type: 'native',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    insecure,
  );
  return oauth.processDynamicClientRegistrationResponse(response) as Promise<oauth.Client>;
}

function authorizationUrl(
  authServer: oauth.AuthorizationServer,
  client: oauth.Client,
  params: { redirectUri: string; challenge: string; state: string; scope: string },
): string {
  const url = new URL(authServer.authorization_endpoint as string);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: params.redirectUri,
    scope: params.scope,
    state: params.state,
    code_challenge: params.challenge,
    code_challenge_method: 'S256',
    resource: mcp.url,
  }).toString();
  return url.href;
}

async function mcpClient(accessToken: string): Promise<Client> {
  const client = new Client({ name: 'fixture-self-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcp.url), {
    requestInit: { headers: { Authorization: `Bearer ${accessToken}` } },
  });
  await client.connect(transport);
  return client;
}

describe('protected MCP server and authorization server metadata', () => {
  it('challenges requests without a valid token with resource_metadata', async () => {
    const bare = await fetch(mcp.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(bare.status).toBe(401);
    const challenge = bare.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${mcp.resourceMetadataUrl}"`);
    expect(challenge).toContain('scope="mcp:read"');
    expect(challenge).not.toContain('error=');

    const forged = await fetch(mcp.url, {
      method: 'POST',
      headers: { Authorization: 'Bearer not-a-real-token', 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(forged.headers.get('www-authenticate')).toContain(`resource_metadata="${mcp.resourceMetadataUrl}"`);
  });

  it('serves RFC 9728 metadata in path and root form', async () => {
    const resource = new URL(mcp.url);
    const prm = await oauth.processResourceDiscoveryResponse(
      resource,
      await oauth.resourceDiscoveryRequest(resource, insecure),
    );
    expect(mcp.resourceMetadataUrl).toBe(`${resource.origin}/.well-known/oauth-protected-resource/mcp`);
    expect(prm.resource).toBe(mcp.url);
    expect(prm.authorization_servers).toEqual([as.issuer]);
    expect(prm.scopes_supported).toEqual(['mcp:read', 'mcp:admin']);

    const root = await fetch(`${resource.origin}/.well-known/oauth-protected-resource`);
    expect(root.status).toBe(200);
    expect(await root.json()).toMatchObject({ resource: mcp.url, authorization_servers: [as.issuer] });
  });

  it('serves the same document as RFC 8414 and OpenID discovery metadata', async () => {
    const metadata = async (name: string): Promise<Record<string, unknown>> => {
      const response = await fetch(`${as.issuer}/.well-known/${name}`);
      expect(response.status).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    };
    const rfc8414 = await metadata('oauth-authorization-server');
    const oidc = await metadata('openid-configuration');
    expect(rfc8414).toEqual(oidc);
    expect(rfc8414).toMatchObject({
      issuer: as.issuer,
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      registration_endpoint: `${as.issuer}/reg`,
      revocation_endpoint: `${as.issuer}/token/revocation`,
    });
    expect(rfc8414.scopes_supported).toEqual(expect.arrayContaining(['mcp:read', 'mcp:write', 'offline_access']));
    expect(rfc8414.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
  });
});

describe('authorization code + PKCE through the real login pages', () => {
  it('logs in with Chromium, refreshes with rotation and calls the MCP server', async () => {
    const authServer = await discover();
    const callback = await startCallbackServer();
    try {
      const redirectUri = `http://127.0.0.1:${callback.port}/callback`;
      const registrationsBefore = as.registrations;
      const client = await register(authServer, redirectUri);
      expect(as.registrations).toBe(registrationsBefore + 1);
      expect(client.token_endpoint_auth_method).toBe('none');

      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const url = authorizationUrl(authServer, client, {
        redirectUri,
        challenge: await oauth.calculatePKCECodeChallenge(verifier),
        state,
        scope: 'mcp:read mcp:write',
      });

      const login = await completeLogin(browser.context, url, as.user);
      const callbackUrl = await callback.received;
      expect(login.finalUrl).toBe(callbackUrl.href);
      expect(login.pageText).toContain('Login complete');
      expect(login.pages).toEqual(['login', 'consent']);
      // RFC 9207: the issuer comes back with the code.
      expect(callbackUrl.searchParams.get('iss')).toBe(as.issuer);

      const params = oauth.validateAuthResponse(authServer, client, callbackUrl, state);
      const tokenRequestsBefore = { ...as.tokenRequests };
      const tokens = await oauth.processAuthorizationCodeResponse(
        authServer,
        client,
        await oauth.authorizationCodeGrantRequest(authServer, client, oauth.None(), params, redirectUri, verifier, {
          additionalParameters: { resource: mcp.url },
          ...insecure,
        }),
      );
      expect(as.tokenRequests.authorization_code).toBe(tokenRequestsBefore.authorization_code + 1);
      expect(tokens.token_type).toBe('bearer');
      expect(tokens.expires_in).toBe(60);
      expect(tokens.scope?.split(' ').sort()).toEqual(['mcp:read', 'mcp:write']);
      // Issued for the registered refresh_token grant, without offline_access being requested.
      expect(tokens.refresh_token).toBeTruthy();

      const introspected = await as.introspect(tokens.access_token);
      expect(introspected).toMatchObject({ active: true, client_id: client.client_id, aud: mcp.url, sub: as.user.login });

      const refreshed = await oauth.processRefreshTokenResponse(
        authServer,
        client,
        await oauth.refreshTokenGrantRequest(authServer, client, oauth.None(), tokens.refresh_token as string, {
          additionalParameters: { resource: mcp.url },
          ...insecure,
        }),
      );
      expect(as.tokenRequests.refresh_token).toBe(tokenRequestsBefore.refresh_token + 1);
      expect(as.tokenRequests.total).toBe(tokenRequestsBefore.total + 2);
      expect(refreshed.refresh_token).toBeTruthy();
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
      expect(refreshed.access_token).not.toBe(tokens.access_token);
      expect((await as.introspect(refreshed.access_token)).aud).toBe(mcp.url);

      const sdk = await mcpClient(refreshed.access_token);
      try {
        const { tools } = await sdk.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual(['admin_reset', 'echo', 'whoami']);
        const echoed = await sdk.callTool({ name: 'echo', arguments: { text: 'hello through the fixtures' } });
        expect(echoed.content).toEqual([{ type: 'text', text: 'hello through the fixtures' }]);
        const who = await sdk.callTool({ name: 'whoami', arguments: {} });
        expect(who.structuredContent).toMatchObject({ clientId: client.client_id, sub: as.user.login });
        await expect(sdk.callTool({ name: 'admin_reset', arguments: {} })).rejects.toMatchObject({ code: 403 });
      } finally {
        await sdk.close();
      }
      expect(mcp.requestLog.every((r) => !r.url.includes(refreshed.access_token))).toBe(true);

      const stepUp = await fetch(mcp.url, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${refreshed.access_token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'admin_reset', arguments: {} } }),
      });
      expect(stepUp.status).toBe(403);
      const stepUpChallenge = stepUp.headers.get('www-authenticate') ?? '';
      expect(stepUpChallenge).toContain('error="insufficient_scope"');
      expect(stepUpChallenge).toContain('scope="mcp:read mcp:admin"');
      expect(stepUpChallenge).toContain(`resource_metadata="${mcp.resourceMetadataUrl}"`);

      // RFC 7009: a revoked access token is refused by the MCP server.
      await oauth.processRevocationResponse(
        await oauth.revocationRequest(authServer, client, oauth.None(), refreshed.access_token, insecure),
      );
      expect((await as.introspect(refreshed.access_token)).active).toBe(false);
      const afterRevoke = await fetch(mcp.url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${refreshed.access_token}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(afterRevoke.status).toBe(401);
      expect(afterRevoke.headers.get('www-authenticate')).toContain('error="invalid_token"');

      // Replaying a rotated-out refresh token is refused and revokes the whole grant.
      const replay = (token: string) =>
        oauth
          .refreshTokenGrantRequest(authServer, client, oauth.None(), token, {
            additionalParameters: { resource: mcp.url },
            ...insecure,
          })
          .then((response) => oauth.processRefreshTokenResponse(authServer, client, response));
      await expect(replay(tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
      await expect(replay(refreshed.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
      // Refused exchanges are counted too.
      expect(as.tokenRequests.refresh_token).toBe(tokenRequestsBefore.refresh_token + 3);
    } finally {
      await closeServer(callback.server);
    }
  });

  it('accepts a native localhost redirect URI on another port, a remembered session, and a refused token for another audience', async () => {
    const authServer = await discover();
    const callback = await startCallbackServer();
    try {
      const registered = `http://localhost:${callback.port + 1}/callback`;
      const client = await register(authServer, registered);
      // RFC 8252 §7.3: the port is not part of the match for native loopback redirects.
      const redirectUri = `http://localhost:${callback.port}/callback`;
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const url = authorizationUrl(authServer, client, {
        redirectUri,
        challenge: await oauth.calculatePKCECodeChallenge(verifier),
        state,
        scope: 'mcp:read',
      });

      // The browser context still holds the session of the earlier test (if it ran): only consent
      // is asked then. Either way the helper ends on the callback.
      const login = await completeLogin(browser.context, url, as.user);
      expect(new URL(login.finalUrl).port).toBe(String(callback.port));
      expect(login.pages.at(-1)).toBe('consent');
      const params = oauth.validateAuthResponse(authServer, client, await callback.received, state);
      const tokens = await oauth.processAuthorizationCodeResponse(
        authServer,
        client,
        await oauth.authorizationCodeGrantRequest(authServer, client, oauth.None(), params, redirectUri, verifier, {
          additionalParameters: { resource: mcp.url },
          ...insecure,
        }),
      );
      expect(tokens.scope).toBe('mcp:read');

      // A second MCP server is another resource: the first one's token must not work there.
      const other = await startMcpServer({ authServer: as, path: '/other' });
      try {
        const response = await fetch(other.url, {
          method: 'POST',
          headers: { Authorization: `Bearer ${tokens.access_token}`, 'Content-Type': 'application/json' },
          body: '{}',
        });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
      } finally {
        await other.close();
      }
    } finally {
      await closeServer(callback.server);
    }
  });

  it('refuses a wrong password at the login page', async () => {
    const authServer = await discover();
    const client = await register(authServer, 'http://127.0.0.1:1/callback');
    const url = authorizationUrl(authServer, client, {
      redirectUri: 'http://127.0.0.1:1/callback',
      challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
      state: oauth.generateRandomState(),
      scope: 'mcp:read',
    });
    // A fresh context, so that no earlier session skips the login page.
    const fresh = await launchBrowser();
    try {
      await expect(completeLogin(fresh.context, url, { login: as.user.login, password: 'wrong' })).rejects.toThrow(
        /Invalid login or password/,
      );
    } finally {
      await fresh.close();
    }
  });

  it('sends access_denied to the callback when consent is refused', async () => {
    const authServer = await discover();
    const callback = await startCallbackServer();
    try {
      const redirectUri = `http://127.0.0.1:${callback.port}/callback`;
      const client = await register(authServer, redirectUri);
      const state = oauth.generateRandomState();
      const url = authorizationUrl(authServer, client, {
        redirectUri,
        challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
        state,
        scope: 'mcp:read',
      });
      const login = await completeLogin(browser.context, url, as.user, { deny: true });
      expect(login.pages.at(-1)).toBe('consent');
      const received = await callback.received;
      expect(received.searchParams.get('error')).toBe('access_denied');
      expect(received.searchParams.get('state')).toBe(state);
      expect(received.searchParams.get('iss')).toBe(as.issuer);
    } finally {
      await closeServer(callback.server);
    }
  });

  it('rejects an authorization request without PKCE or for an unknown resource', async () => {
    const authServer = await discover();
    const client = await register(authServer, 'http://127.0.0.1:1/callback');
    const base = new URL(authorizationUrl(authServer, client, {
      redirectUri: 'http://127.0.0.1:1/callback',
      challenge: 'x'.repeat(43),
      state: 's',
      scope: 'mcp:read',
    }));

    const noPkce = new URL(base);
    noPkce.searchParams.delete('code_challenge');
    noPkce.searchParams.delete('code_challenge_method');
    const refusedPkce = await fetch(noPkce, { redirect: 'manual' });
    expect(refusedPkce.status).toBe(303);
    expect(new URL(refusedPkce.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_request');

    const otherResource = new URL(base);
    otherResource.searchParams.set('resource', 'http://127.0.0.1:1/not-registered');
    const refusedResource = await fetch(otherResource, { redirect: 'manual' });
    expect(new URL(refusedResource.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_target');
  });
});

describe('$BROWSER stand-in', () => {
  it('hands each URL to the test, one line at a time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-auth-browser-cmd-'));
    try {
      const file = join(dir, 'urls');
      const env = { ...process.env, MCP_AUTH_TEST_URL_FILE: file };
      expect(spawnSync(BROWSER_COMMAND, ['https://as.example/authorize?a=1&b=2'], { env }).status).toBe(0);
      expect(spawnSync(BROWSER_COMMAND, ['http://127.0.0.1:9/second'], { env: { ...env, MCP_AUTH_TEST_BROWSER_EXIT: '3' } }).status).toBe(3);
      expect(await waitForAuthorizationUrl(file, 1_000)).toBe('https://as.example/authorize?a=1&b=2');
      expect(await waitForAuthorizationUrl(file, 1_000, 1)).toBe('http://127.0.0.1:9/second');
      await expect(waitForAuthorizationUrl(file, 200, 2)).rejects.toThrow(/no authorization URL #2/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
