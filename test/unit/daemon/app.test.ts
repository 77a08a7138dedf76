import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, McpAuthError } from '../../../src/errors.js';
import { STATUS_BY_CODE } from '../../../src/daemon/problem.js';
import { appFor, call, pendingView, realBroker, stubBroker, type RealSetup } from './support.js';

const apps: FastifyInstance[] = [];
const setups: RealSetup[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(setups.splice(0).map((s) => s.deps.cleanup()));
});

async function real(): Promise<RealSetup & { app: FastifyInstance }> {
  const s = await realBroker();
  setups.push(s);
  const app = appFor(s.broker);
  apps.push(app);
  return { ...s, app };
}

function stubbed(): { stub: ReturnType<typeof stubBroker>; app: FastifyInstance } {
  const stub = stubBroker();
  const app = appFor(stub);
  apps.push(app);
  return { stub, app };
}

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:mcp-auth:error:${code}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  return body;
}

describe('GET /v1/health', () => {
  it('reports pid, version, store and uptime', async () => {
    const { app } = await real();
    const res = await call(app, { method: 'GET', url: '/v1/health' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ ok: true, pid: process.pid, version: '9.9.9-test', store: 'memory', uptimeMs: expect.any(Number) });
    expect(body.uptimeMs).toBeGreaterThanOrEqual(1000);
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('GET /v1/servers', () => {
  it('lists every configured server with its state, without secrets, as {servers}', async () => {
    const { app, tokens } = await real();
    const res = await call(app, { method: 'GET', url: '/v1/servers' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { servers: Array<Record<string, unknown>> };
    expect(Object.keys(body)).toEqual(['servers']);
    const list = body.servers;
    expect(list.map((s) => [s.name, s.state])).toEqual([
      ['demo', 'ok'],
      ['fresh', 'login_required'],
      ['static', 'error'], // ${TEAM} is not set in the daemon's own env
    ]);
    expect(list[0]).toMatchObject({ issuer: 'https://as.example.com', clientId: 'client-123', hasRefreshToken: true, scope: 'mcp:read', store: 'memory', type: 'http' });
    expect(res.body).not.toContain(tokens.accessToken);
    expect(res.body).not.toContain(tokens.refreshToken);
  });
});

describe('headers', () => {
  it('GET returns the bearer token of a logged-in server', async () => {
    const { app, tokens } = await real();
    const res = await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ headers: { Authorization: `Bearer ${tokens.accessToken}` } });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('POST lends the caller env for this request only', async () => {
    const { app } = await real();
    const lent = await call(app, { method: 'POST', url: '/v1/servers/static/headers', payload: { env: { TEAM: 'blue' } } });
    expect(lent.statusCode).toBe(200);
    expect(lent.json()).toEqual({ headers: { 'X-Team': 'blue' } });
    // Not kept: the next caller without env does not see it.
    const after = await call(app, { method: 'GET', url: '/v1/servers/static/headers' });
    expectProblem(after, 400, ErrorCode.ConfigInvalid);
  });

  it('POST without a body (or with {}) behaves like GET', async () => {
    const { app, tokens } = await real();
    for (const payload of [undefined, {}]) {
      const res = await call(app, { method: 'POST', url: '/v1/servers/demo/headers', ...(payload ? { payload } : {}) });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ headers: { Authorization: `Bearer ${tokens.accessToken}` } });
    }
  });

  it('POST passes env to broker.forRequest and uses the lent broker', async () => {
    const { app, stub } = stubbed();
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/headers', payload: { env: { MCP_CLIENT_SECRET: 's3', A: '1' } } });
    expect(res.statusCode).toBe(200);
    expect(stub.forRequest).toHaveBeenCalledWith({ MCP_CLIENT_SECRET: 's3', A: '1' });
  });

  it('rejects a malformed env, unknown fields and bad names with 400 USAGE', async () => {
    const { app, stub } = stubbed();
    const bad = [
      { env: { 'BAD-NAME': 'x' } },
      { env: { A: { nested: 'x' } } },
      { env: 'A=1' },
      { envv: { A: '1' } },
    ];
    for (const payload of bad) {
      const res = await call(app, { method: 'POST', url: '/v1/servers/demo/headers', payload });
      expectProblem(res, 400, ErrorCode.Usage);
    }
    expectProblem(await call(app, { method: 'GET', url: '/v1/servers/bad%20name/headers' }), 400, ErrorCode.Usage);
    expectProblem(await call(app, { method: 'GET', url: `/v1/servers/${'x'.repeat(65)}/headers` }), 400, ErrorCode.Usage);
    expect(stub.headers).not.toHaveBeenCalled();
  });

  it('unknown server → 404 SERVER_NOT_FOUND; never logged in → 409 LOGIN_REQUIRED with a hint', async () => {
    const { app } = await real();
    expectProblem(await call(app, { method: 'GET', url: '/v1/servers/nope/headers' }), 404, ErrorCode.ServerNotFound);
    const body = expectProblem(await call(app, { method: 'GET', url: '/v1/servers/fresh/headers' }), 409, ErrorCode.LoginRequired);
    expect(body.hint).toMatch(/mcp-auth login fresh/);
  });
});

describe('POST /v1/servers/:name/challenge', () => {
  it('a report about a token that is no longer current gets the current headers', async () => {
    const { app, tokens } = await real();
    const stale = createHash('sha256').update('an-old-token').digest('hex');
    const res = await call(app, {
      method: 'POST',
      url: '/v1/servers/demo/challenge',
      payload: { status: 401, wwwAuthenticate: 'Bearer error="invalid_token"', tokenHash: stale },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ action: 'current', headers: { Authorization: `Bearer ${tokens.accessToken}` } });
  });

  it('validates status, header and hash', async () => {
    const { app, stub } = stubbed();
    const base = { status: 401, wwwAuthenticate: 'Bearer' };
    for (const payload of [{ ...base, status: 500 }, { status: 401 }, { ...base, wwwAuthenticate: '' }, { ...base, tokenHash: 'abc' }, { ...base, extra: 1 }]) {
      expectProblem(await call(app, { method: 'POST', url: '/v1/servers/demo/challenge', payload }), 400, ErrorCode.Usage);
    }
    expect(stub.challenge).not.toHaveBeenCalled();
    const ok = await call(app, { method: 'POST', url: '/v1/servers/demo/challenge', payload: { ...base, tokenHash: 'a'.repeat(64), env: { X: 'y' } } });
    expect(ok.statusCode).toBe(200);
    expect(stub.forRequest).toHaveBeenCalledWith({ X: 'y' });
    expect(stub.challenge).toHaveBeenCalledWith('demo', { status: 401, wwwAuthenticate: 'Bearer', tokenHash: 'a'.repeat(64) });
  });

  it('a step-up that needs a login returns the pending login', async () => {
    const { app, stub } = stubbed();
    stub.challenge.mockResolvedValueOnce({ action: 'login', login: pendingView() });
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/challenge', payload: { status: 403, wwwAuthenticate: 'Bearer error="insufficient_scope", scope="a b"' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ action: 'login', login: pendingView() });
  });
});

describe('logins', () => {
  it('POST /v1/servers/:name/login starts (or joins) a login', async () => {
    const { app, stub } = stubbed();
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/login', payload: { force: true, challenge: 'Bearer scope="x"' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'pending', login: pendingView() });
    expect(stub.startLogin).toHaveBeenCalledWith('demo', { force: true, challenge: 'Bearer scope="x"' });
    expect(stub.forRequest).not.toHaveBeenCalled();

    stub.startLogin.mockResolvedValueOnce({ status: 'unchanged', reason: 'already logged in' });
    const none = await call(app, { method: 'POST', url: '/v1/servers/demo/login' });
    expect(none.json()).toEqual({ status: 'unchanged', reason: 'already logged in' });
    expect(stub.startLogin).toHaveBeenLastCalledWith('demo', {});
  });

  it('login for an unknown server is 404 with the real broker', async () => {
    const { app } = await real();
    expectProblem(await call(app, { method: 'POST', url: '/v1/servers/nope/login', payload: {} }), 404, ErrorCode.ServerNotFound);
  });

  it('GET /v1/logins/:id answers at once without wait, long-polls with it', async () => {
    const { app, stub } = stubbed();
    const now = await call(app, { method: 'GET', url: '/v1/logins/login-abc_123' });
    expect(now.statusCode).toBe(200);
    expect(now.json()).toEqual({ login: pendingView() });
    expect(stub.waitLogin).not.toHaveBeenCalled();

    const waited = await call(app, { method: 'GET', url: '/v1/logins/login-abc_123?wait=30' });
    expect(waited.json()).toEqual({ login: pendingView({ status: 'succeeded' }) });
    expect(stub.waitLogin).toHaveBeenCalledWith('login-abc_123', 30_000);
  });

  it('wait is capped at 60 s and must be a whole number', async () => {
    const { app, stub } = stubbed();
    for (const q of ['wait=61', 'wait=-1', 'wait=abc', 'wait=1.5', 'other=1']) {
      expectProblem(await call(app, { method: 'GET', url: `/v1/logins/login-abc_123?${q}` }), 400, ErrorCode.Usage);
    }
    expect((await call(app, { method: 'GET', url: '/v1/logins/login-abc_123?wait=60' })).statusCode).toBe(200);
    expect(stub.waitLogin).toHaveBeenCalledWith('login-abc_123', 60_000);
  });

  it('unknown login id → 404 LOGIN_NOT_FOUND (with and without wait)', async () => {
    const { app, stub } = stubbed();
    stub.getLogin.mockReturnValue(undefined);
    stub.waitLogin.mockResolvedValue(undefined);
    expectProblem(await call(app, { method: 'GET', url: '/v1/logins/nope' }), 404, ErrorCode.LoginNotFound);
    expectProblem(await call(app, { method: 'GET', url: '/v1/logins/nope?wait=5' }), 404, ErrorCode.LoginNotFound);
    expectProblem(await call(app, { method: 'DELETE', url: '/v1/logins/nope' }), 404, ErrorCode.LoginNotFound);
    expect(stub.leaveLogin).not.toHaveBeenCalled();
    expectProblem(await call(app, { method: 'GET', url: '/v1/logins/bad.id' }), 400, ErrorCode.Usage);
  });

  it('a long-poll returns early with the current view when the app closes', async () => {
    const { app, stub } = stubbed();
    stub.waitLogin.mockImplementation(() => new Promise(() => undefined)); // never settles
    const t0 = Date.now();
    const pending = call(app, { method: 'GET', url: '/v1/logins/login-abc_123?wait=60' });
    await new Promise((r) => setTimeout(r, 50));
    const closed = app.close();
    const res = await pending;
    await closed;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ login: pendingView() });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('POST /v1/logins/:id/callback relays a pasted URL', async () => {
    const { app, stub } = stubbed();
    const url = 'http://127.0.0.1:33418/callback?code=abc&state=s';
    const res = await call(app, { method: 'POST', url: '/v1/logins/login-abc_123/callback', payload: { url } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ login: pendingView({ status: 'succeeded' }) });
    expect(stub.submitCallback).toHaveBeenCalledWith('login-abc_123', url);
    expectProblem(await call(app, { method: 'POST', url: '/v1/logins/login-abc_123/callback', payload: {} }), 400, ErrorCode.Usage);
  });

  it('DELETE /v1/logins/:id leaves the login (204)', async () => {
    const { app, stub } = stubbed();
    const res = await call(app, { method: 'DELETE', url: '/v1/logins/login-abc_123' });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(stub.leaveLogin).toHaveBeenCalledWith('login-abc_123');
  });
});

describe('POST /v1/servers/:name/logout', () => {
  it('forgets the credential; headers then need a login', async () => {
    const { app } = await real();
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/logout' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ loggedOut: true, revoked: false });
    expectProblem(await call(app, { method: 'GET', url: '/v1/servers/demo/headers' }), 409, ErrorCode.LoginRequired);
    const again = await call(app, { method: 'POST', url: '/v1/servers/demo/logout', payload: {} });
    expect(again.json()).toEqual({ loggedOut: false, revoked: false });
    expectProblem(await call(app, { method: 'POST', url: '/v1/servers/demo/logout', payload: { all: true } }), 400, ErrorCode.Usage);
  });

  it('lends the caller env (MCP_CLIENT_SECRET, ${VAR} values) to this logout only', async () => {
    const { app, stub } = stubbed();
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/logout', payload: { env: { MCP_CLIENT_SECRET: 's3', TEAM: 'blue' } } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ loggedOut: true, revoked: false });
    expect(stub.forRequest).toHaveBeenCalledWith({ MCP_CLIENT_SECRET: 's3', TEAM: 'blue' });
    expect(stub.logout).toHaveBeenCalledWith('demo');
    // Without env (no body, or {}), the shared broker.
    stub.forRequest.mockClear();
    expect((await call(app, { method: 'POST', url: '/v1/servers/demo/logout' })).statusCode).toBe(200);
    expect((await call(app, { method: 'POST', url: '/v1/servers/demo/logout', payload: {} })).statusCode).toBe(200);
    expect(stub.forRequest).not.toHaveBeenCalled();
    for (const payload of [{ env: { 'BAD-NAME': 'x' } }, { env: 'A=1' }, { env: { A: { nested: 'x' } } }]) {
      expectProblem(await call(app, { method: 'POST', url: '/v1/servers/demo/logout', payload }), 400, ErrorCode.Usage);
    }
    expect(stub.logout).toHaveBeenCalledTimes(3);
  });

  it('the real broker logs out with a lent env', async () => {
    const { app } = await real();
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/logout', payload: { env: { TEAM: 'blue' } } });
    expect(res.json()).toEqual({ loggedOut: true, revoked: false });
    expectProblem(await call(app, { method: 'GET', url: '/v1/servers/demo/headers' }), 409, ErrorCode.LoginRequired);
  });
});

describe('error mapping', () => {
  const cases: Array<[string, number]> = [
    [ErrorCode.Usage, 400],
    [ErrorCode.ConfigInvalid, 400],
    [ErrorCode.ServerNotFound, 404],
    [ErrorCode.LoginRequired, 409],
    [ErrorCode.StepUpLimit, 429],
    [ErrorCode.AuthServerUnavailable, 502],
    [ErrorCode.Network, 502],
    [ErrorCode.Timeout, 504],
    [ErrorCode.LockTimeout, 503],
    [ErrorCode.StoreUnreadable, 500],
  ];
  it.each(cases)('%s → %i, with message and hint', async (code, status) => {
    const { app, stub } = stubbed();
    stub.headers.mockRejectedValueOnce(new McpAuthError(code as ErrorCode, `message for ${code}`, { hint: 'do this' }));
    const body = expectProblem(await call(app, { method: 'GET', url: '/v1/servers/demo/headers' }), status, code);
    expect(body).toMatchObject({ detail: `message for ${code}`, hint: 'do this' });
    expect(STATUS_BY_CODE[code] ?? 500).toBe(status);
  });

  it('503 LOCK_TIMEOUT says when to retry', async () => {
    const { app, stub } = stubbed();
    stub.headers.mockRejectedValueOnce(new McpAuthError(ErrorCode.LockTimeout, 'busy'));
    const res = await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    expect(res.headers['retry-after']).toBe('1');
  });

  it('INTERNAL and unexpected errors get a generic message', async () => {
    const { app, stub } = stubbed();
    stub.headers.mockRejectedValueOnce(new McpAuthError(ErrorCode.Internal, 'details of a bug'));
    const a = expectProblem(await call(app, { method: 'GET', url: '/v1/servers/demo/headers' }), 500, ErrorCode.Internal);
    expect(a.detail).toBe('internal error');
    stub.headers.mockRejectedValueOnce(new TypeError('cannot read x of undefined (token=abc)'));
    const b = expectProblem(await call(app, { method: 'GET', url: '/v1/servers/demo/headers' }), 500, ErrorCode.Internal);
    expect(b.detail).toBe('internal error');
    expect(JSON.stringify(b)).not.toContain('token=abc');
  });

  it('unknown routes and methods are 404 problems', async () => {
    const { app } = stubbed();
    expectProblem(await call(app, { method: 'GET', url: '/v2/health' }), 404, 'NOT_FOUND');
    expectProblem(await call(app, { method: 'PUT', url: '/v1/health' }), 404, 'NOT_FOUND');
    expectProblem(await call(app, { method: 'HEAD', url: '/v1/health' }), 404, 'NOT_FOUND');
  });

  it('invalid JSON is 400 without echoing the body', async () => {
    const { app } = stubbed();
    const res = await call(app, { method: 'POST', url: '/v1/servers/demo/headers', headers: { 'content-type': 'application/json' }, payload: '{"env": SECRET-BITS' });
    const body = expectProblem(res, 400, ErrorCode.Usage);
    expect(res.body).not.toContain('SECRET-BITS');
    expect(body.detail).toBe('request body is not valid JSON');
  });
});

describe('GET /v1/openapi.json', () => {
  it('documents every route with its schemas', async () => {
    const { app } = stubbed();
    const res = await call(app, { method: 'GET', url: '/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('9.9.9-test');
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`));
    expect(ops.sort()).toEqual(
      [
        'GET /v1/health',
        'GET /v1/servers',
        'GET /v1/servers/{name}/headers',
        'POST /v1/servers/{name}/headers',
        'POST /v1/servers/{name}/challenge',
        'POST /v1/servers/{name}/login',
        'GET /v1/logins/{id}',
        'POST /v1/logins/{id}/callback',
        'DELETE /v1/logins/{id}',
        'POST /v1/servers/{name}/logout',
        'GET /v1/openapi.json',
      ].sort(),
    );
    const headersOp = doc.paths['/v1/servers/{name}/headers'].post;
    expect(headersOp.parameters).toEqual([expect.objectContaining({ name: 'name', in: 'path', required: true })]);
    expect(headersOp.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/HeadersRequest' });
    expect(headersOp.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/HeadersResponse' });
    expect(headersOp.responses['4XX'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(doc.paths['/v1/logins/{id}'].delete.responses['204']).toEqual({ description: 'No content' });
    expect(doc.paths['/v1/logins/{id}'].get.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'wait', in: 'query', required: false })]),
    );
    const json = (op: { responses: Record<string, { content: Record<string, { schema: unknown }> }> }) => op.responses['200']!.content['application/json']!.schema;
    expect(json(doc.paths['/v1/servers'].get)).toEqual({ $ref: '#/components/schemas/ServersResponse' });
    expect(json(doc.paths['/v1/logins/{id}'].get)).toEqual({ $ref: '#/components/schemas/LoginViewResponse' });
    expect(json(doc.paths['/v1/logins/{id}/callback'].post)).toEqual({ $ref: '#/components/schemas/LoginViewResponse' });
    expect(doc.components.schemas.ServersResponse).toEqual({
      type: 'object',
      required: ['servers'],
      properties: { servers: { type: 'array', items: { $ref: '#/components/schemas/ServerStatusView' } } },
    });
    expect(doc.components.schemas.LoginViewResponse).toEqual({
      type: 'object',
      required: ['login'],
      properties: { login: { $ref: '#/components/schemas/PendingLoginView' } },
    });
    const logoutOp = doc.paths['/v1/servers/{name}/logout'].post;
    expect(logoutOp.requestBody).toEqual({ required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/LogoutRequest' } } } });
    expect(doc.components.schemas.LogoutRequest).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: { env: { $ref: '#/components/schemas/RequestEnv' } },
    });
    expect(doc.components.schemas.ServerList).toBeUndefined();
    for (const name of ['Problem', 'PendingLoginView', 'ServerStatusView', 'ChallengeRequest', 'LoginResponse', 'RequestEnv', 'HealthResponse']) {
      expect(doc.components.schemas[name], name).toBeDefined();
    }
    expect(doc.components.securitySchemes.apiToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    // The status mapping is documented.
    expect(doc.info.description).toContain('| 409 | ');
    expect(doc.info.description).toContain(ErrorCode.LoginRequired);
  });
});
