// Canary tokens planted everywhere a secret can pass through the daemon (stored access and refresh
// tokens, a lent client secret, the API token in Authorization, a code in a pasted callback URL, a
// token put in a query string by a careless client, an error's cause): no log line may contain any.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { McpAuthError, ErrorCode } from '../../src/errors.js';
import { buildApp } from '../../src/daemon/app.js';
import { createLogger, REDACTED } from '../../src/daemon/logger.js';
import { PORT, realBroker, stubBroker, type RealSetup } from '../unit/daemon/support.js';

const CANARY = {
  accessToken: 'CANARY-AT-7f3a9c1e5b',
  refreshToken: 'CANARY-RT-2b8d4f6a0c',
  clientSecret: 'CANARY-CS-9e1c3a5b7d',
  apiToken: 'CANARY-API-TOKEN-4c6e8a0b2d-0123456789abcdef',
  code: 'CANARY-CODE-1a3c5e7b9d',
  verifier: 'CANARY-PKCE-8b0d2f4a6c',
  queryToken: 'CANARY-QUERY-5d7f9b1c3e',
  causeSecret: 'CANARY-CAUSE-6e8a0c2d4f',
};

function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace', destination: { write: (s: string) => void lines.push(s) } });
  return { lines, logger };
}

function assertNoCanary(lines: string[]): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    for (const [name, value] of Object.entries(CANARY)) {
      expect(line.includes(value), `${name} leaked into: ${line}`).toBe(false);
    }
  }
}

const apps: FastifyInstance[] = [];
const setups: RealSetup[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(setups.splice(0).map((s) => s.deps.cleanup()));
});

describe('daemon log redaction', () => {
  it('an end-to-end run through the real broker logs no secret', async () => {
    const setup = await realBroker({ accessToken: CANARY.accessToken, refreshToken: CANARY.refreshToken });
    setups.push(setup);
    const { lines, logger } = capture();
    const app = buildApp({ broker: setup.broker, token: CANARY.apiToken, port: () => PORT, logger, version: 't', startedAt: Date.now() });
    apps.push(app);
    const headers = { host: `127.0.0.1:${PORT}`, authorization: `Bearer ${CANARY.apiToken}`, 'user-agent': 'canary-test' };

    const got = await app.inject({ method: 'GET', url: '/v1/servers/demo/headers', headers });
    expect(got.json()).toEqual({ headers: { Authorization: `Bearer ${CANARY.accessToken}` } }); // the secret did pass through
    await app.inject({ method: 'POST', url: '/v1/servers/demo/headers', headers, payload: { env: { MCP_CLIENT_SECRET: CANARY.clientSecret } } });
    await app.inject({ method: 'POST', url: '/v1/servers/static/headers', headers, payload: { env: { TEAM: CANARY.clientSecret } } });
    await app.inject({ method: 'GET', url: '/v1/servers', headers });
    await app.inject({ method: 'GET', url: `/v1/servers/demo/headers?access_token=${CANARY.queryToken}`, headers });
    await app.inject({ method: 'GET', url: `/v1/servers/demo/headers?access_token=${CANARY.queryToken}`, headers: { ...headers, authorization: `Bearer ${CANARY.queryToken}-wrong-and-long-enough` } });
    await app.inject({ method: 'GET', url: '/v1/health', headers: { ...headers, host: 'evil.example' } });
    await app.inject({ method: 'POST', url: '/v1/servers/demo/headers', headers: { ...headers, 'content-type': 'text/plain' }, payload: CANARY.clientSecret });
    await app.inject({ method: 'POST', url: '/v1/servers/demo/headers', headers: { ...headers, 'content-type': 'application/json' }, payload: `{"env":{"X":"${CANARY.clientSecret}"` });
    await app.inject({ method: 'POST', url: '/v1/servers/demo/challenge', headers, payload: { status: 401, wwwAuthenticate: 'Bearer', tokenHash: 'f'.repeat(64), env: { MCP_CLIENT_SECRET: CANARY.clientSecret } } });
    await app.inject({ method: 'POST', url: '/v1/logins/nope/callback', headers, payload: { url: `http://127.0.0.1:1/callback?code=${CANARY.code}&state=s` } });
    await app.inject({ method: 'POST', url: '/v1/servers/demo/logout', headers });

    assertNoCanary(lines);
    // The run was logged (request lines with method, path and status), so the check above means something.
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.some((l) => (l.req as { url?: string } | undefined)?.url === '/v1/servers/demo/headers?…')).toBe(true);
    expect(parsed.some((l) => (l.res as { statusCode?: number } | undefined)?.statusCode === 421)).toBe(true);
  });

  it('errors are logged without their cause, and unexpected errors without secrets in fields', async () => {
    const stub = stubBroker();
    const { lines, logger } = capture();
    const app = buildApp({ broker: stub, token: CANARY.apiToken, port: () => PORT, logger, version: 't', startedAt: Date.now() });
    apps.push(app);
    const headers = { host: `127.0.0.1:${PORT}`, authorization: `Bearer ${CANARY.apiToken}` };
    const cause = { response: { body: `{"refresh_token":"${CANARY.causeSecret}"}` } };
    stub.headers.mockRejectedValueOnce(new McpAuthError(ErrorCode.TokenRequestFailed, 'token request failed (HTTP 400)', { cause }));
    stub.headers.mockRejectedValueOnce(Object.assign(new Error('unexpected'), { cause, accessToken: CANARY.accessToken }));
    stub.headers.mockRejectedValueOnce(new McpAuthError(ErrorCode.StoreWriteFailed, 'cannot save', { cause }));
    expect((await app.inject({ method: 'GET', url: '/v1/servers/demo/headers', headers })).statusCode).toBe(502);
    expect((await app.inject({ method: 'GET', url: '/v1/servers/demo/headers', headers })).statusCode).toBe(500);
    expect((await app.inject({ method: 'GET', url: '/v1/servers/demo/headers', headers })).statusCode).toBe(500);
    assertNoCanary(lines);
    expect(lines.some((l) => l.includes('"level":50') && l.includes('STORE_WRITE_FAILED'))).toBe(true);
  });

  it('redact censors secret-named fields wherever a log call passes them', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        accessToken: CANARY.accessToken,
        credential: { refreshToken: CANARY.refreshToken, refresh_token: CANARY.refreshToken, access_token: CANARY.accessToken },
        client: { clientSecret: CANARY.clientSecret, client_secret: CANARY.clientSecret },
        pkce: { codeVerifier: CANARY.verifier, code_verifier: CANARY.verifier },
        grant: { body: { authorizationCode: CANARY.code } },
        env: { MCP_CLIENT_SECRET: CANARY.clientSecret },
        request: { env: { MCP_CLIENT_SECRET: CANARY.clientSecret } },
        headers: { authorization: `Bearer ${CANARY.apiToken}`, Authorization: `Bearer ${CANARY.apiToken}` },
        upstream: { headers: { authorization: `Bearer ${CANARY.accessToken}` }, token: CANARY.accessToken },
        'proxy-authorization': CANARY.apiToken,
        cookie: CANARY.apiToken,
      },
      'direct',
    );
    // What fastify's request logger would emit if the serializer ever passed headers through.
    logger.info({ req: { method: 'GET', url: '/', headers: { authorization: `Bearer ${CANARY.apiToken}` } } }, 'req');
    assertNoCanary(lines);
    expect(lines[0]).toContain(REDACTED);
  });
});
