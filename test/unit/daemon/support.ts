// Shared by the daemon's unit and security tests: a real Broker over a MemoryStore with one
// logged-in server written straight into the store (no network), a stub broker for routes whose
// real counterpart needs a live authorization server, and inject() with the right Host and token.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { vi } from 'vitest';
import type { ChallengeResponse, LoginResponse, PendingLoginView, ServerStatusView } from '../../../src/api-types.js';
import { Broker } from '../../../src/broker/broker.js';
import type { CredentialRecord, ServerState } from '../../../src/broker/records.js';
import { writeRecord } from '../../../src/broker/records.js';
import type { ServerConfig } from '../../../src/config/schema.js';
import { buildApp } from '../../../src/daemon/app.js';
import type { DaemonBroker } from '../../../src/daemon/broker-port.js';
import type { Logger } from '../../../src/daemon/logger.js';
import { credentialKey, serverStateKey } from '../../../src/store/key.js';
import { addServer, createTestDeps, type TestDeps } from '../../support/test-deps.js';

export const PORT = 47123;
export const TOKEN = 'T'.repeat(10) + '-api-token-for-tests-0123456789abcdef';
export const HOST = `127.0.0.1:${PORT}`;

export const SERVER_URL = 'https://mcp.example.com/mcp';
export const ISSUER = 'https://as.example.com';

export interface Planted {
  accessToken: string;
  refreshToken: string;
}

/** Writes a logged-in ServerState + CredentialRecord for `name` into the test store. */
export async function plantLogin(deps: TestDeps, name: string, tokens: Planted, serverUrl = SERVER_URL): Promise<void> {
  const clientId = 'client-123';
  const credKey = credentialKey({ resource: serverUrl, issuer: ISSUER, clientId });
  const state: ServerState = {
    v: 1,
    serverUrl,
    issuer: ISSUER,
    as: { issuer: ISSUER, authorization_endpoint: `${ISSUER}/authorize`, token_endpoint: `${ISSUER}/token` },
    resource: serverUrl,
    client: { clientId, tokenEndpointAuthMethod: 'none', source: 'dcr', redirectUri: 'http://127.0.0.1:33418/callback' },
    credentialKey: credKey,
    account: 'default',
    updatedAt: deps.now(),
  };
  const cred: CredentialRecord = {
    v: 1,
    issuer: ISSUER,
    resource: serverUrl,
    clientId,
    account: 'default',
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: deps.now() + 3_600_000,
    obtainedAt: deps.now(),
    scope: 'mcp:read',
  };
  await writeRecord(deps.store, serverStateKey(name), state);
  await writeRecord(deps.store, credKey, cred);
}

export interface RealSetup {
  deps: TestDeps;
  broker: Broker;
  tokens: Planted;
}

/**
 * A real broker with: `demo` (OAuth, logged in), `fresh` (OAuth, never logged in) and `static`
 * (no OAuth, a `${TEAM}` header).
 */
export async function realBroker(tokens: Planted = { accessToken: 'at-demo-0001', refreshToken: 'rt-demo-0001' }): Promise<RealSetup> {
  const deps = createTestDeps();
  const oauthServer: ServerConfig = { type: 'http', url: SERVER_URL };
  await addServer(deps, 'demo', oauthServer);
  await addServer(deps, 'fresh', { type: 'http', url: 'https://other.example.com/mcp' });
  await addServer(deps, 'static', { type: 'http', url: 'https://static.example.com/mcp', oauth: false, headers: { 'X-Team': '${TEAM}' } });
  await plantLogin(deps, 'demo', tokens);
  return { deps, broker: new Broker(deps), tokens };
}

export function pendingView(over: Partial<PendingLoginView> = {}): PendingLoginView {
  return {
    id: 'login-abc_123',
    server: 'demo',
    kind: 'browser',
    status: 'pending',
    url: 'https://as.example.com/authorize?client_id=c&state=s',
    expiresAt: Date.UTC(2031, 0, 1, 0, 10),
    redirectUri: 'http://127.0.0.1:33418/callback',
    ...over,
  };
}

/** A DaemonBroker whose every method is a vi.fn with a harmless default. */
export function stubBroker() {
  const stub = {
    deps: { store: { backend: 'memory' } },
    forRequest: vi.fn((_env?: Record<string, string>): DaemonBroker => stub as DaemonBroker),
    list: vi.fn(async (): Promise<ServerStatusView[]> => []),
    headers: vi.fn(async (_name: string) => ({ Authorization: 'Bearer stub' })),
    challenge: vi.fn(async (_name: string, _req: { status: 401 | 403; wwwAuthenticate: string; tokenHash?: string }): Promise<ChallengeResponse> => ({
      action: 'current',
      headers: { Authorization: 'Bearer stub' },
    })),
    startLogin: vi.fn(async (_name: string, _opts: { force?: boolean; challenge?: string }): Promise<LoginResponse> => ({ status: 'pending', login: pendingView() })),
    getLogin: vi.fn((_id: string): PendingLoginView | undefined => pendingView()),
    waitLogin: vi.fn(async (_id: string, _ms: number): Promise<PendingLoginView | undefined> => pendingView({ status: 'succeeded' })),
    submitCallback: vi.fn(async (_id: string, _url: string): Promise<PendingLoginView> => pendingView({ status: 'succeeded' })),
    leaveLogin: vi.fn((_id: string) => undefined),
    logout: vi.fn(async (_name: string) => ({ loggedOut: true, revoked: false })),
    startBackgroundRefresh: vi.fn(() => undefined),
    close: vi.fn(async () => undefined),
  };
  return stub;
}

export type StubBroker = ReturnType<typeof stubBroker>;

export function appFor(broker: DaemonBroker, logger: Logger | false = false): FastifyInstance {
  return buildApp({ broker, token: TOKEN, port: () => PORT, logger, version: '9.9.9-test', startedAt: Date.now() - 1000 });
}

/** inject() as a legitimate local client: right Host, right token (each overridable). */
export function call(app: FastifyInstance, opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse> {
  const { token, headers, ...rest } = opts;
  const h: Record<string, string> = { host: HOST };
  if (token !== null) h.authorization = `Bearer ${token ?? TOKEN}`;
  return app.inject({ ...rest, headers: { ...h, ...(headers as Record<string, string> | undefined) } });
}
