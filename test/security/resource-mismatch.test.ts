/**
 * Threat: a server (or whoever answers at its URL) publishes protected resource metadata for
 * ANOTHER resource, so that the user authorizes, and the client obtains, tokens for a resource the
 * attacker chose (RFC 9728 §3.3, §7.3; MCP spec "the PRM resource must match"). Defence: stop
 * before any authorization server request unless the PRM `resource` covers the server URL (same
 * origin, whole-segment path prefix), and send the same RFC 8707 `resource` in the authorization
 * and token requests.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { ErrorCode, McpAuthError } from '../../src/errors.js';
import { startHostileAs, type HostileAs } from '../support/hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from '../support/test-deps.js';

let h: HostileAs;
let other: HostileAs;
let deps: TestDeps;

beforeAll(async () => {
  h = await startHostileAs({ mcpPath: '/mcp' });
  other = await startHostileAs();
});
afterAll(async () => {
  await h.close();
  await other.close();
});
beforeEach(async () => {
  h.reset();
  other.reset();
  deps = createTestDeps();
});
afterEach(async () => {
  await deps.cleanup();
});

function expectNoAsContact(): void {
  for (const s of [h, other]) {
    expect(s.requests.filter((r) => r.path.startsWith('/.well-known/oauth-authorization-server') || r.path.startsWith('/.well-known/openid-configuration'))).toEqual([]);
    expect(s.count('/register')).toBe(0);
    expect(s.count('/authorize')).toBe(0);
    expect(s.count('/token')).toBe(0);
  }
  expect(deps.browser.opened).toEqual([]);
}

async function loginError(url: string): Promise<McpAuthError> {
  await addServer(deps, 'srv', { type: 'http', url });
  const e = await new Broker(deps).login('srv', { timeoutMs: 5_000 }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McpAuthError);
  return e as McpAuthError;
}

describe('a PRM for another resource stops the login before the authorization server', () => {
  it('resource on another origin', async () => {
    h.config.prm = { resource: other.mcpUrl, authorization_servers: [h.issuer] };
    const err = await loginError(h.mcpUrl);
    expect(err.code).toBe(ErrorCode.ResourceMismatch);
    expect(err.hint).toBeTruthy();
    expectNoAsContact();
  });

  it('resource /mcp for a server at /mcpx (a prefix that is not a path segment)', async () => {
    h.config.routes['/mcpx'] = () => ({ status: 401, headers: { 'www-authenticate': `Bearer resource_metadata="${h.prmUrl}"` } });
    const err = await loginError(`${h.origin}/mcpx`);
    expect(err.code).toBe(ErrorCode.ResourceMismatch);
    expectNoAsContact();
  });

  it('resource /mcpx for a server at /mcp', async () => {
    h.config.prm = { resource: `${h.origin}/mcpx`, authorization_servers: [h.issuer] };
    expect((await loginError(h.mcpUrl)).code).toBe(ErrorCode.ResourceMismatch);
    expectNoAsContact();
  });

  it('a resource_metadata pointing at another server whose PRM names itself', async () => {
    h.config.mcp = { status: 401, challenge: `Bearer resource_metadata="${other.prmUrl}"` };
    expect((await loginError(h.mcpUrl)).code).toBe(ErrorCode.ResourceMismatch);
    expectNoAsContact();
  });

  it('a resource with a query', async () => {
    h.config.prm = { resource: `${h.mcpUrl}?tenant=victim`, authorization_servers: [h.issuer] };
    expect((await loginError(h.mcpUrl)).code).toBe(ErrorCode.ResourceMismatch);
    expectNoAsContact();
  });

  it('the same port under another host name (localhost for 127.0.0.1)', async () => {
    h.config.prm = { resource: `http://localhost:${h.port}/mcp`, authorization_servers: [h.issuer] };
    expect((await loginError(h.mcpUrl)).code).toBe(ErrorCode.ResourceMismatch);
    expectNoAsContact();
  });
});

describe('the resource indicator that is sent (RFC 8707)', () => {
  it('is identical in the authorization request and the code exchange', async () => {
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    await new Broker(deps).login('srv', { timeoutMs: 5_000 });
    const sentInAuthorize = h.requests.find((r) => r.path === '/authorize')!.query.get('resource');
    const sentInToken = h.tokenRequests('authorization_code')[0]!.form.get('resource');
    expect(sentInAuthorize).toBe(h.mcpUrl);
    expect(sentInToken).toBe(sentInAuthorize);
  });

  it('a PRM for the whole origin is accepted and its resource is what is sent', async () => {
    h.config.prm = { resource: h.origin, authorization_servers: [h.issuer] };
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    await new Broker(deps).login('srv', { timeoutMs: 5_000 });
    expect(h.requests.find((r) => r.path === '/authorize')!.query.get('resource')).toBe(h.origin);
    expect(h.tokenRequests('authorization_code')[0]!.form.get('resource')).toBe(h.origin);
  });

  it('is also sent on refresh', async () => {
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl });
    const broker = new Broker(deps);
    await broker.login('srv', { timeoutMs: 5_000 });
    deps.clock.advance(60 * 60_000);
    await broker.headers('srv');
    expect(h.tokenRequests('refresh_token')[0]!.form.get('resource')).toBe(h.mcpUrl);
  });

  it('the per-server opt-out (oauth.resource: false) sends it nowhere', async () => {
    await addServer(deps, 'srv', { type: 'http', url: h.mcpUrl, oauth: { resource: false } });
    const broker = new Broker(deps);
    await broker.login('srv', { timeoutMs: 5_000 });
    deps.clock.advance(60 * 60_000);
    await broker.headers('srv');
    expect(h.requests.find((r) => r.path === '/authorize')!.query.has('resource')).toBe(false);
    expect(h.tokenRequests().map((r) => r.form.has('resource'))).toEqual([false, false]);
  });
});
