// freshCredential: the one place a refresh token is spent. What is under test is mostly what must
// NOT happen: a second refresh, a lost rotated token, a deleted credential after a transient failure.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { freshCredential } from '../../../src/broker/fresh-token.js';
import { readCredential, type CredentialRecord, type ServerState } from '../../../src/broker/records.js';
import { ErrorCode } from '../../../src/errors.js';
import type { StoredRegistration } from '../../../src/oauth/registration.js';
import { credentialKey, registrationKey, serverStateKey } from '../../../src/store/key.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { startHostileAs, type HostileAs } from '../../support/hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from '../../support/test-deps.js';
import { failure } from '../../support/errors.js';

const MIN = 60_000;
const NAME = 'srv';

let h: HostileAs;
let deps: TestDeps;
let closedPort: number;

beforeAll(async () => {
  h = await startHostileAs();
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closedPort = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.reset();
  deps = createTestDeps();
});
afterEach(async () => {
  await deps.cleanup();
});

interface Seed {
  /** ms until the access token expires (negative: already expired). */
  remaining: number;
  /** Total lifetime the token was issued with. */
  lifetime?: number;
  refreshToken?: string | null;
  method?: 'none' | 'client_secret_basic';
  tokenEndpoint?: string;
}

/** Stores a logged-in server as a login would have left it. */
async function seed(s: Seed): Promise<{ state: ServerState; cred: CredentialRecord; key: string }> {
  const now = deps.clock.now();
  const lifetime = s.lifetime ?? 60 * MIN;
  const clientId = 'client-seeded';
  const key = credentialKey({ resource: h.mcpUrl, issuer: h.issuer, clientId });
  const rt = s.refreshToken === null ? undefined : (s.refreshToken ?? `rt_seed_${Math.random().toString(36).slice(2)}`);
  if (rt) h.liveRefreshTokens.add(rt);
  const cred: CredentialRecord = {
    v: 1,
    issuer: h.issuer,
    resource: h.mcpUrl,
    clientId,
    account: 'default',
    accessToken: 'at_seeded',
    obtainedAt: now + s.remaining - lifetime,
    expiresAt: now + s.remaining,
    scope: 'mcp:read',
    ...(rt ? { refreshToken: rt } : {}),
  };
  const as = h.defaultMetadata();
  if (s.tokenEndpoint) as.token_endpoint = s.tokenEndpoint;
  const state: ServerState = {
    v: 1,
    serverUrl: h.mcpUrl,
    issuer: h.issuer,
    as: as as unknown as ServerState['as'],
    resource: h.mcpUrl,
    client: { clientId, tokenEndpointAuthMethod: s.method ?? 'none', source: 'dcr', redirectUri: 'http://127.0.0.1:1/callback' },
    credentialKey: key,
    account: 'default',
    updatedAt: now,
  };
  await deps.store.set(key, JSON.stringify(cred));
  await deps.store.set(serverStateKey(NAME), JSON.stringify(state));
  return { state, cred, key };
}

async function snapshot(): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const k of await deps.store.keys()) out[k] = await deps.store.get(k);
  return out;
}

describe('when the token is fresh', () => {
  it('returns it with no token request', async () => {
    const { state } = await seed({ remaining: 30 * MIN });
    const cred = await freshCredential(deps, NAME, state);
    expect(cred.accessToken).toBe('at_seeded');
    expect(h.count('/token')).toBe(0);
  });

  it('a token without expiry is used as is', async () => {
    const { state, key, cred } = await seed({ remaining: 0 });
    const { expiresAt: _drop, ...noExpiry } = cred;
    await deps.store.set(key, JSON.stringify(noExpiry));
    deps.clock.advance(365 * 24 * 60 * MIN);
    expect((await freshCredential(deps, NAME, state)).accessToken).toBe('at_seeded');
    expect(h.count('/token')).toBe(0);
  });
});

describe('when the token is due', () => {
  it('refreshes exactly once for 20 concurrent callers in one process', async () => {
    const { state } = await seed({ remaining: 2 * MIN });
    const results = await Promise.all(Array.from({ length: 20 }, () => freshCredential(deps, NAME, state)));
    expect(h.tokenRequests('refresh_token')).toHaveLength(1);
    const tokens = new Set(results.map((r) => r.accessToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toMatch(/^at_/);
    expect([...tokens][0]).not.toBe('at_seeded');
  });

  it('…and through Broker.headers too', async () => {
    await seed({ remaining: 2 * MIN });
    await addServer(deps, NAME, { type: 'http', url: h.mcpUrl });
    const broker = new Broker(deps);
    const all = await Promise.all(Array.from({ length: 20 }, () => broker.headers(NAME)));
    expect(h.tokenRequests('refresh_token')).toHaveLength(1);
    expect(new Set(all.map((x) => x.Authorization)).size).toBe(1);
  });

  it('sends the stored resource and client id, and no scope', async () => {
    const { state } = await seed({ remaining: 2 * MIN });
    await freshCredential(deps, NAME, state);
    const [req] = h.tokenRequests('refresh_token');
    expect(req!.form.get('resource')).toBe(h.mcpUrl);
    expect(req!.form.get('client_id')).toBe('client-seeded');
    expect(req!.form.has('scope')).toBe(false);
  });

  it('saves the rotated refresh token before returning (even with a slow store)', async () => {
    const slow = new MemoryStore();
    const set = slow.set.bind(slow);
    slow.set = async (k, v) => {
      await new Promise((r) => setTimeout(r, 20));
      return set(k, v);
    };
    deps.store = slow;
    const { state, cred, key } = await seed({ remaining: 2 * MIN });
    const next = await freshCredential(deps, NAME, state);
    const stored = await readCredential(slow, key);
    expect(next.refreshToken).toBeDefined();
    expect(next.refreshToken).not.toBe(cred.refreshToken);
    expect(stored).toEqual(next);
    // The server has rotated the old one away: only the saved one works now.
    expect(h.liveRefreshTokens.has(cred.refreshToken!)).toBe(false);
    expect(h.liveRefreshTokens.has(stored!.refreshToken!)).toBe(true);
  });

  it('keeps the old refresh token when the server sends no new one (RFC 6749 §6)', async () => {
    h.config.token = { kind: 'ok', refreshToken: null };
    const { state, cred, key } = await seed({ remaining: 2 * MIN });
    const next = await freshCredential(deps, NAME, state);
    expect(next.accessToken).not.toBe('at_seeded');
    expect(next.refreshToken).toBe(cred.refreshToken);
    expect((await readCredential(deps.store, key))!.refreshToken).toBe(cred.refreshToken);
  });

  it('sets expiresAt from the time the refresh was sent', async () => {
    h.config.onRequest = (req) => {
      if (req.path === '/token') deps.clock.advance(30_000);
    };
    h.config.token = { kind: 'ok', expiresIn: 900 };
    const { state } = await seed({ remaining: 2 * MIN });
    const sentAt = deps.clock.now();
    const next = await freshCredential(deps, NAME, state);
    expect(next.obtainedAt).toBe(sentAt);
    expect(next.expiresAt).toBe(sentAt + 900_000);
  });

  it('a confidential dynamic client authenticates with its stored registration secret', async () => {
    const { state } = await seed({ remaining: 2 * MIN, method: 'client_secret_basic' });
    const reg: StoredRegistration = {
      v: 1,
      issuer: h.issuer,
      clientId: 'client-seeded',
      clientSecret: 'reg-secret',
      tokenEndpointAuthMethod: 'client_secret_basic',
      redirectUri: 'http://127.0.0.1:1/callback',
      registeredAt: 0,
    };
    await deps.store.set(registrationKey({ issuer: h.issuer }), JSON.stringify(reg));
    await freshCredential(deps, NAME, state);
    const auth = String(h.tokenRequests('refresh_token')[0]!.headers.authorization);
    expect(Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString()).toBe('client-seeded:reg-secret');
  });

  it('a confidential client whose secret is gone → LOGIN_REQUIRED, no request, nothing changed', async () => {
    const { state } = await seed({ remaining: -MIN, method: 'client_secret_basic' });
    const before = await snapshot();
    const err = await failure(freshCredential(deps, NAME, state));
    expect(err.code).toBe(ErrorCode.LoginRequired);
    expect(h.count('/token')).toBe(0);
    expect(await snapshot()).toEqual(before);
  });
});

describe('when the authorization server is down', () => {
  it.each([
    ['closed', () => ({ tokenEndpoint: `http://127.0.0.1:${closedPort}/token` })],
    ['answering 500', () => {
      h.config.token = { kind: 'status_500' };
      return {};
    }],
    ['answering 503 JSON', () => {
      h.config.token = { kind: 'invalid_grant', status: 503 };
      return {};
    }],
  ])('(%s) a still-valid token is returned and nothing is deleted', async (_label, setup) => {
    const { state } = await seed({ remaining: 2 * MIN, ...setup() });
    const before = await snapshot();
    const cred = await freshCredential(deps, NAME, state);
    expect(cred.accessToken).toBe('at_seeded');
    expect(await snapshot()).toEqual(before);
    expect(deps.logs.join('\n')).toMatch(/still valid/);
  });

  it.each([
    ['closed', () => ({ tokenEndpoint: `http://127.0.0.1:${closedPort}/token` })],
    ['answering 500', () => {
      h.config.token = { kind: 'status_500' };
      return {};
    }],
  ])('(%s) an expired token → AUTH_SERVER_UNAVAILABLE (exit 1, not 3), record unchanged', async (_label, setup) => {
    const { state } = await seed({ remaining: -MIN, ...setup() });
    const before = await snapshot();
    const err = await failure(freshCredential(deps, NAME, state));
    expect(err.code).toBe(ErrorCode.AuthServerUnavailable);
    expect(err.exitCode).toBe(1);
    expect(await snapshot()).toEqual(before);
  });

  it('an oversized token response counts as transient too', async () => {
    h.config.token = { kind: 'huge' };
    const { state } = await seed({ remaining: 2 * MIN });
    expect((await freshCredential(deps, NAME, state)).accessToken).toBe('at_seeded');
  });
});

describe('when the grant is gone', () => {
  it('invalid_grant → LOGIN_REQUIRED (exit 3); the record keeps its tokens, marked, and the AS is not asked again', async () => {
    h.config.token = { kind: 'invalid_grant' };
    const { state, key, cred } = await seed({ remaining: -MIN });
    const err = await failure(freshCredential(deps, NAME, state));
    expect(err.code).toBe(ErrorCode.LoginRequired);
    expect(err.exitCode).toBe(3);
    expect(err.hint).toContain(`mcp-auth login ${NAME}`);
    const stored = JSON.parse((await deps.store.get(key))!) as CredentialRecord;
    expect(stored).toEqual({ ...cred, loginRequiredAt: deps.clock.now() });
    const asked = h.tokenRequests('refresh_token').length;
    expect((await failure(freshCredential(deps, NAME, state, { force: true }))).code).toBe(ErrorCode.LoginRequired);
    expect(h.tokenRequests('refresh_token')).toHaveLength(asked);
  });

  it('invalid_grant for a still-valid token (forced) → LOGIN_REQUIRED, tokens kept', async () => {
    h.config.token = { kind: 'invalid_grant' };
    const { state, key, cred } = await seed({ remaining: 30 * MIN });
    expect((await failure(freshCredential(deps, NAME, state, { force: true }))).code).toBe(ErrorCode.LoginRequired);
    const stored = JSON.parse((await deps.store.get(key))!) as CredentialRecord;
    expect({ ...stored, loginRequiredAt: undefined }).toEqual({ ...cred, loginRequiredAt: undefined });
    expect(stored.loginRequiredAt).toBe(deps.clock.now());
  });

  it('invalid_client (401 + Basic challenge) → LOGIN_REQUIRED, record unchanged', async () => {
    h.config.token = { kind: 'invalid_client', status: 401, wwwAuthenticate: 'Basic realm="as", error="invalid_client"' };
    const { state } = await seed({ remaining: -MIN });
    const before = await snapshot();
    expect((await failure(freshCredential(deps, NAME, state))).code).toBe(ErrorCode.LoginRequired);
    expect(await snapshot()).toEqual(before);
  });

  it('invalid_grant because another process already rotated it → the newer credential is used', async () => {
    const { state, key, cred } = await seed({ remaining: -MIN });
    const newer: CredentialRecord = { ...cred, accessToken: 'at_from_other_process', refreshToken: 'rt_other', expiresAt: deps.clock.now() + 60 * MIN };
    h.config.token = async () => {
      await deps.store.set(key, JSON.stringify(newer));
      return { status: 400, body: { error: 'invalid_grant' } };
    };
    expect((await freshCredential(deps, NAME, state)).accessToken).toBe('at_from_other_process');
  });

  it('a DPoP token on refresh → UNSUPPORTED_TOKEN_TYPE, record unchanged', async () => {
    h.config.token = { kind: 'dpop' };
    const { state } = await seed({ remaining: -MIN });
    const before = await snapshot();
    expect((await failure(freshCredential(deps, NAME, state))).code).toBe(ErrorCode.UnsupportedTokenType);
    expect(await snapshot()).toEqual(before);
  });

  it('an expired token without a refresh token → LOGIN_REQUIRED, no request', async () => {
    const { state } = await seed({ remaining: -MIN, refreshToken: null });
    expect((await failure(freshCredential(deps, NAME, state))).code).toBe(ErrorCode.LoginRequired);
    expect(h.count('/token')).toBe(0);
  });

  it('a due but unexpired token without a refresh token is still used', async () => {
    const { state } = await seed({ remaining: MIN, refreshToken: null });
    expect((await freshCredential(deps, NAME, state)).accessToken).toBe('at_seeded');
    expect(h.count('/token')).toBe(0);
  });

  it('no stored credential → LOGIN_REQUIRED', async () => {
    const { state, key } = await seed({ remaining: MIN });
    await deps.store.delete(key);
    expect((await failure(freshCredential(deps, NAME, state))).code).toBe(ErrorCode.LoginRequired);
  });
});

describe('forced refresh after a 401', () => {
  it('a rejected token that is no longer the stored one is answered from the store', async () => {
    const { state } = await seed({ remaining: 30 * MIN });
    const cred = await freshCredential(deps, NAME, state, { force: true, rejectedToken: 'at_older' });
    expect(cred.accessToken).toBe('at_seeded');
    expect(h.count('/token')).toBe(0);
  });

  it('the rejected current token is refreshed once', async () => {
    const { state } = await seed({ remaining: 30 * MIN });
    const cred = await freshCredential(deps, NAME, state, { force: true, rejectedToken: 'at_seeded' });
    expect(cred.accessToken).not.toBe('at_seeded');
    expect(h.tokenRequests('refresh_token')).toHaveLength(1);
  });
});

describe('a damaged store', () => {
  it.each([
    ['not JSON', '{"v":1,"accessToken":'],
    ['a JSON array', '[]'],
    ['another version', JSON.stringify({ v: 2, accessToken: 'x', issuer: 'i', obtainedAt: 1 })],
    ['no access token', JSON.stringify({ v: 1, issuer: 'i', obtainedAt: 1 })],
  ])('a credential that is %s → STORE_UNREADABLE, and it is left for the user to inspect', async (_label, garbage) => {
    const { state, key } = await seed({ remaining: -MIN });
    await deps.store.set(key, garbage);
    const err = await failure(freshCredential(deps, NAME, state));
    expect(err.code).toBe(ErrorCode.StoreUnreadable);
    expect(err.message).not.toContain(garbage);
    expect(await deps.store.get(key)).toBe(garbage);
    expect(h.count('/token')).toBe(0);
  });

  it('a damaged server state → STORE_UNREADABLE from Broker.headers, not "login required"', async () => {
    await seed({ remaining: 30 * MIN });
    await addServer(deps, NAME, { type: 'http', url: h.mcpUrl });
    await deps.store.set(serverStateKey(NAME), 'garbage{');
    const err = await failure(new Broker(deps).headers(NAME));
    expect(err.code).toBe(ErrorCode.StoreUnreadable);
    expect(await deps.store.get(serverStateKey(NAME))).toBe('garbage{');
  });
});
