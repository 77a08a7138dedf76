// The typed API client over node:http: bearer token, JSON in and out, timeouts, and the daemon's
// problem+json turned back into the same McpAuthError (code, hint, exit code) the CLI prints.
import { createServer } from 'node:net';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  DaemonClient,
  DaemonUnreachableError,
  problemToError,
  unwrapLogin,
  unwrapServers,
} from '../../../src/client/daemon-client.js';
import { ErrorCode, ExitCode, McpAuthError } from '../../../src/errors.js';
import { TOKEN, problem, startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

let daemon: FakeDaemon;
let client: DaemonClient;
beforeEach(async () => {
  daemon = await startFakeDaemon();
  client = new DaemonClient({ port: daemon.port, token: TOKEN });
});
afterEach(async () => {
  await daemon.close();
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('problemToError', () => {
  it('keeps the code, detail and hint, and so the exit code', () => {
    const e = problemToError(409, { type: 'about:blank', title: 'x', status: 409, code: 'LOGIN_REQUIRED', detail: 'not logged in to "demo"', hint: 'Run: mcp-auth login demo' });
    expect(e).toBeInstanceOf(McpAuthError);
    expect(e.code).toBe(ErrorCode.LoginRequired);
    expect(e.message).toBe('not logged in to "demo"');
    expect(e.hint).toBe('Run: mcp-auth login demo');
    expect(e.exitCode).toBe(ExitCode.LoginRequired);
    expect(problemToError(400, { code: 'USAGE', detail: 'bad' }).exitCode).toBe(ExitCode.Usage);
  });

  it('keeps a code this version does not know (a newer daemon may add some)', () => {
    const e = problemToError(421, { code: 'HOST_NOT_ALLOWED', detail: 'wrong Host' });
    expect(e.code).toBe('HOST_NOT_ALLOWED');
    expect(e.exitCode).toBe(ExitCode.Error);
  });

  it('turns bodies that are not problems into INTERNAL without echoing junk codes', () => {
    expect(problemToError(500, undefined).code).toBe(ErrorCode.Internal);
    expect(problemToError(500, { code: 'lower case; rm -rf', detail: 'x' }).code).toBe(ErrorCode.Internal);
    expect(problemToError(502, 'Bad Gateway').message).toContain('HTTP 502');
  });
});

describe('unwrap', () => {
  const view = { id: 'l1', server: 'demo', kind: 'browser', status: 'pending', expiresAt: 1 };
  it('accepts the documented envelopes', () => {
    expect(unwrapServers({ servers: [{ name: 'a' }] })).toEqual([{ name: 'a' }]);
    expect(unwrapLogin({ login: view })).toEqual(view);
  });
  it('refuses anything else, bare bodies included (one shape)', () => {
    expect(() => unwrapServers([{ name: 'a' }])).toThrow(McpAuthError);
    expect(() => unwrapServers({})).toThrow(McpAuthError);
    expect(() => unwrapServers(null)).toThrow(McpAuthError);
    expect(() => unwrapLogin(view)).toThrow(McpAuthError);
    expect(() => unwrapLogin({ login: 'x' })).toThrow(McpAuthError);
    expect(() => unwrapLogin({ login: { id: 'l1' } })).toThrow(McpAuthError);
    expect(() => unwrapLogin(null)).toThrow(McpAuthError);
  });
});

describe('DaemonClient', () => {
  it('sends the bearer token and a loopback Host, and reads JSON', async () => {
    const health = await client.health();
    expect(health).toMatchObject({ ok: true, pid: process.pid });
    const [req] = daemon.requests;
    expect(req!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req!.headers.host).toBe(`127.0.0.1:${daemon.port}`);
    expect(req!.headers.origin).toBeUndefined();
  });

  it('GETs headers without env, POSTs them as JSON with env', async () => {
    daemon.on('GET /v1/servers/demo/headers', { body: { headers: { Authorization: 'Bearer a' } } });
    daemon.on('POST /v1/servers/demo/headers', { body: { headers: { Authorization: 'Bearer b' } } });
    expect(await client.headers('demo')).toEqual({ Authorization: 'Bearer a' });
    expect(await client.headers('demo', {})).toEqual({ Authorization: 'Bearer a' });
    expect(await client.headers('demo', { API_KEY: 'k' })).toEqual({ Authorization: 'Bearer b' });
    const post = daemon.requests.at(-1)!;
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.body).toEqual({ env: { API_KEY: 'k' } });
  });

  it('escapes path segments', async () => {
    await client.headers('a/b?c').catch(() => undefined);
    expect(daemon.requests.at(-1)!.url).toBe('/v1/servers/a%2Fb%3Fc/headers');
  });

  it('maps problem+json answers to McpAuthError with the same code and hint', async () => {
    daemon.on('GET /v1/servers/demo/headers', problem(409, 'LOGIN_REQUIRED', 'not logged in to "demo"', 'Run: mcp-auth login demo'));
    const e = await client.headers('demo').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(McpAuthError);
    expect(e).not.toBeInstanceOf(DaemonUnreachableError);
    expect(e).toMatchObject({ code: 'LOGIN_REQUIRED', hint: 'Run: mcp-auth login demo', message: 'not logged in to "demo"' });
  });

  it('a wrong token is an error from the daemon, not an unreachable daemon', async () => {
    const wrong = new DaemonClient({ port: daemon.port, token: 'x'.repeat(43) });
    const e = await wrong.health().catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(e).not.toBeInstanceOf(DaemonUnreachableError);
  });

  it('a refused connection is DaemonUnreachableError (NETWORK_ERROR)', async () => {
    const c = new DaemonClient({ port: await closedPort(), token: TOKEN });
    const e = await c.health().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DaemonUnreachableError);
    expect(e).toMatchObject({ code: ErrorCode.Network });
  });

  it('a daemon that does not answer in time is DaemonUnreachableError (TIMEOUT)', async () => {
    daemon.on('GET /v1/servers', { hang: true });
    const started = Date.now();
    const e = await client.servers({ timeoutMs: 200 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DaemonUnreachableError);
    expect(e).toMatchObject({ code: ErrorCode.Timeout });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an aborted request rejects at once with LOGIN_CANCELLED', async () => {
    daemon.on('GET /v1/logins/l1', { hang: true });
    const ac = new AbortController();
    const p = client.getLogin('l1', 30, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: ErrorCode.LoginCancelled });
    const already = new AbortController();
    already.abort();
    await expect(client.health({ signal: already.signal })).rejects.toMatchObject({ code: ErrorCode.LoginCancelled });
  });

  it('long-polls a login with ?wait= (capped at 60) and relays callbacks and departures', async () => {
    const view = { id: 'l1', server: 'demo', kind: 'browser', status: 'succeeded', expiresAt: 1 };
    daemon.on('GET /v1/logins/l1', { body: { login: view } });
    daemon.on('POST /v1/logins/l1/callback', { body: { login: view } });
    daemon.on('DELETE /v1/logins/l1', { status: 204 });
    expect(await client.getLogin('l1', 30)).toEqual(view);
    expect(daemon.requests.at(-1)!.url).toBe('/v1/logins/l1?wait=30');
    await client.getLogin('l1', 600);
    expect(daemon.requests.at(-1)!.url).toBe('/v1/logins/l1?wait=60');
    await client.getLogin('l1');
    expect(daemon.requests.at(-1)!.url).toBe('/v1/logins/l1');
    expect(await client.callback('l1', 'http://127.0.0.1:1/callback?code=c&state=s')).toEqual(view);
    expect(daemon.requests.at(-1)!.body).toEqual({ url: 'http://127.0.0.1:1/callback?code=c&state=s' });
    await client.leaveLogin('l1');
    expect(daemon.requests.at(-1)!.method).toBe('DELETE');
  });

  it('lists servers from {servers}; a bare array is refused', async () => {
    const s = { name: 'demo', url: 'https://mcp.example.com/mcp', type: 'http', state: 'ok', store: 'file' };
    daemon.on('GET /v1/servers', { body: { servers: [s] } });
    expect(await client.servers()).toEqual([s]);
    daemon.on('GET /v1/servers', { body: [s] });
    await expect(client.servers()).rejects.toMatchObject({ code: ErrorCode.Internal });
    const view = { id: 'l1', server: 'demo', kind: 'browser', status: 'pending', expiresAt: 1 };
    daemon.on('GET /v1/logins/l1', { body: view });
    await expect(client.getLogin('l1')).rejects.toMatchObject({ code: ErrorCode.Internal });
  });

  it('sends logout with env only when there is some', async () => {
    daemon.on('POST /v1/servers/demo/logout', { body: { loggedOut: true, revoked: true } });
    expect(await client.logout('demo')).toEqual({ loggedOut: true, revoked: true });
    expect(daemon.requests.at(-1)!.body).toEqual({});
    await client.logout('demo', {});
    expect(daemon.requests.at(-1)!.body).toEqual({});
    await client.logout('demo', { MCP_CLIENT_SECRET: 's', TEAM: 'blue' });
    expect(daemon.requests.at(-1)!.body).toEqual({ env: { MCP_CLIENT_SECRET: 's', TEAM: 'blue' } });
  });

  it('sends login requests with env only when there is some', async () => {
    daemon.on('POST /v1/servers/demo/login', { body: { status: 'unchanged', reason: 'already logged in' } });
    await client.login('demo', { force: true });
    expect(daemon.requests.at(-1)!.body).toEqual({ force: true });
    await client.login('demo', { challenge: 'Bearer error="insufficient_scope"' }, { MCP_CLIENT_SECRET: 's' });
    expect(daemon.requests.at(-1)!.body).toEqual({ challenge: 'Bearer error="insufficient_scope"', env: { MCP_CLIENT_SECRET: 's' } });
  });

  it('refuses a 2xx answer that is not JSON, and oversized answers', async () => {
    daemon.on('GET /v1/servers', { body: 'hello', contentType: 'text/plain' });
    await expect(client.servers()).rejects.toMatchObject({ code: ErrorCode.Internal });
    daemon.on('GET /v1/servers', { body: JSON.stringify({ servers: [], pad: 'x'.repeat(1_100_000) }) });
    await expect(client.servers()).rejects.toMatchObject({ code: ErrorCode.ResponseTooLarge });
  });
});
