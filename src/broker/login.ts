/**
 * The interactive login: discovery → client identity → authorization request in the user's
 * browser → loopback callback (or a pasted callback URL) → code exchange → saved credential.
 */
import type { ServerConfig } from '../config/schema.js';
import { ErrorCode, McpAuthError, isMcpAuthError, redactUrl } from '../errors.js';
import {
  buildAuthorizationRequest,
  parsePastedCallback,
  validateAuthorizationResponse,
  type AuthorizationRequest,
} from '../oauth/authorize.js';
import type { CallbackOutcome } from '../oauth/callback-listener.js';
import { bearerChallenge } from '../oauth/challenge.js';
import { assertPkceS256, canonicalResource, discover, type DiscoveryResult } from '../oauth/discovery.js';
import { exchangeCode, type TokenSet } from '../oauth/grants.js';
import { randomState } from '../oauth/pkce.js';
import { holdsAll, parseScope, selectScope } from '../oauth/scopes.js';
import { credentialKey, serverStateKey } from '../store/key.js';
import { isExpired } from './refresh-policy.js';
import { resolveClientIdentity, type IdentityWithListener } from './client-identity.js';
import type { BrokerDeps } from './deps.js';
import {
  readAttempts,
  readCredential,
  readServerState,
  writeRecord,
  type AuthAttempts,
  type CredentialRecord,
  type ServerState,
} from './records.js';

export const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000;
/** SPEC-NOTES 7: at most three authorization attempts for the same scope set. */
export const MAX_AUTH_ATTEMPTS = 3;
export const AUTH_ATTEMPT_WINDOW_MS = 10 * 60_000;
export const DEFAULT_ACCOUNT = 'default';

export interface LoginOptions {
  /** A `WWW-Authenticate` value the server answered with (401, or 403 insufficient_scope). */
  challenge?: string;
  /** Log in again even when a usable credential exists. */
  force?: boolean;
  /** Only print the URL. */
  noBrowser?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Lines the user pastes (a callback URL); whichever of paste and listener comes first wins. */
  pasted?: AsyncIterable<string>;
  /** Told the authorization URL as soon as it exists (the CLI prints it). */
  onAuthorizationUrl?: (url: string) => void;
}

export type LoginOutcome =
  | { status: 'logged_in'; scope?: string; expiresAt?: number; issuer: string }
  | { status: 'unchanged'; reason: string };

function attemptsKey(serverName: string): string {
  return `${serverStateKey(serverName)}.attempts`;
}

function scopeSetId(scope: string | undefined): string {
  return parseScope(scope).sort().join(' ');
}

/** Counts one authorization request for (server, scope set); refuses the fourth in ten minutes. */
async function countAttempt(deps: BrokerDeps, serverName: string, scope: string | undefined, isChallenge: boolean): Promise<void> {
  const key = attemptsKey(serverName);
  const id = scopeSetId(scope);
  const now = deps.now();
  const prev = isChallenge ? await readAttempts(deps.store, key) : undefined;
  const same = prev && prev.scope === id && now - prev.since < AUTH_ATTEMPT_WINDOW_MS;
  if (same && prev.count >= MAX_AUTH_ATTEMPTS) {
    throw new McpAuthError(
      ErrorCode.StepUpLimit,
      `already made ${prev.count} authorization requests for scope "${id || '(none)'}" in the last ${AUTH_ATTEMPT_WINDOW_MS / 60_000} minutes; the server keeps asking for more`,
      { hint: `The server's scope demands cannot be met; check with its operator, or run \`mcp-auth login ${serverName} --force\` to start over.` },
    );
  }
  const next: AuthAttempts = same ? { ...prev, count: prev.count + 1 } : { v: 1, scope: id, count: 1, since: now };
  await writeRecord(deps.store, key, next);
}

export async function clearAttempts(deps: BrokerDeps, serverName: string): Promise<void> {
  await deps.store.delete(attemptsKey(serverName));
}

interface Pending {
  discovery: DiscoveryResult;
  resource: string | undefined;
  scope: string | undefined;
  request: AuthorizationRequest;
  chosen: IdentityWithListener;
}

/**
 * Runs one login for `serverName` (whose config is already expanded). Reuses a usable credential
 * unless forced; with a challenge, asks for the union of held and challenged scopes and is a no-op
 * when everything challenged is already held.
 */
export async function login(
  deps: BrokerDeps,
  serverName: string,
  server: ServerConfig,
  opts: LoginOptions = {},
  current?: { state?: ServerState; credential?: CredentialRecord },
): Promise<LoginOutcome> {
  if (server.oauth === false) {
    throw new McpAuthError(ErrorCode.NotOAuth, `server "${serverName}" is configured without OAuth (oauth: false)`, {
      hint: `Remove "oauth": false from its config to log in: mcp-auth get ${serverName}`,
    });
  }
  const oauthConfig = server.oauth ?? {};
  const challenge = opts.challenge ? bearerChallenge(opts.challenge) : undefined;
  const sameServer = current?.state?.serverUrl === server.url ? current : undefined;
  const held = sameServer?.credential;

  if (challenge?.error === 'insufficient_scope' && held && holdsAll(held.scope, challenge.scope)) {
    // Counted like an authorization request: a server that keeps refusing scopes we hold would
    // otherwise have its client retry forever on our "nothing to do".
    await countAttempt(deps, serverName, held.scope, true);
    return { status: 'unchanged', reason: 'the credential already holds every scope the server asked for' };
  }
  if (!opts.challenge && !opts.force && held && (held.refreshToken !== undefined || !isExpired(held, deps.now()))) {
    return { status: 'unchanged', reason: 'already logged in (use --force to log in again)' };
  }

  const discovery = await discover(server.url, {
    fetch: deps.fetch,
    ...(oauthConfig.authServerMetadataUrl ? { authServerMetadataUrl: oauthConfig.authServerMetadataUrl } : {}),
    ...(opts.challenge ? { challengeHeader: opts.challenge } : {}),
    ...(deps.beforeIssuerContact ? { beforeIssuerContact: (iss: string) => deps.beforeIssuerContact!(iss, serverName) } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (discovery.source !== 'legacy-default') assertPkceS256(discovery.as);

  const resource =
    oauthConfig.resource === false ? undefined : typeof oauthConfig.resource === 'string' ? oauthConfig.resource : discovery.resource;
  const keepHeld = challenge !== undefined && held?.issuer === discovery.issuer;
  const scope = selectScope({
    ...(oauthConfig.scopes ? { configured: oauthConfig.scopes } : {}),
    ...((challenge?.scope ?? discovery.challenge?.scope) ? { challenge: challenge?.scope ?? discovery.challenge?.scope } : {}),
    ...(discovery.prm?.scopes_supported ? { resourceScopes: discovery.prm.scopes_supported } : {}),
    ...(discovery.as.scopes_supported ? { authorizationServerScopes: discovery.as.scopes_supported } : {}),
    ...(keepHeld && held?.scope ? { held: held.scope } : {}),
  });

  await countAttempt(deps, serverName, scope, opts.challenge !== undefined);

  // One retry with a fresh registration when the AS no longer knows a client we had kept.
  for (let attempt = 0; ; attempt++) {
    try {
      return await authorizeOnce(deps, serverName, server, opts, discovery, resource, scope);
    } catch (e) {
      if (attempt === 0 && e instanceof StaleRegistration) {
        deps.log('The authorization server no longer accepts the saved client registration; registering again.');
        await deps.store.delete(e.registrationKey);
        continue;
      }
      throw e;
    }
  }
}

class StaleRegistration extends Error {
  constructor(readonly registrationKey: string) {
    super('stale registration');
  }
}

async function authorizeOnce(
  deps: BrokerDeps,
  serverName: string,
  server: ServerConfig,
  opts: LoginOptions,
  discovery: DiscoveryResult,
  resource: string | undefined,
  scope: string | undefined,
): Promise<LoginOutcome> {
  const state = randomState();
  let pending: Pending | undefined;
  let settled = false;
  let resolveDone!: (v: LoginOutcome) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<LoginOutcome>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined);

  const complete = async (url: URL): Promise<CallbackOutcome> => {
    if (settled || !pending) return { ok: false, title: 'This login is already finished', detail: 'You can close this tab.' };
    settled = true;
    try {
      const outcome = await finishLogin(deps, serverName, server, pending, url);
      resolveDone(outcome);
      return { ok: true, title: 'Logged in', detail: `mcp-auth is now authorized for "${serverName}". You can close this tab.` };
    } catch (e) {
      rejectDone(e);
      const message = isMcpAuthError(e) ? e.message : 'unexpected error';
      return { ok: false, title: 'Login failed', detail: message };
    }
  };

  const chosen = await resolveClientIdentity(deps, {
    serverName,
    oauthConfig: server.oauth || {},
    as: discovery.as,
    state,
    onCallback: complete,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  try {
    const request = await buildAuthorizationRequest(discovery.as, chosen.identity, {
      state,
      ...(scope ? { scope } : {}),
      ...(resource ? { resource } : {}),
    });
    pending = { discovery, resource, scope, request, chosen };

    opts.onAuthorizationUrl?.(request.url);
    if (!opts.noBrowser) {
      const opened = await deps.openBrowser(request.url);
      if (!opened.opened) deps.log(`Could not open a browser${opened.reason ? ` (${opened.reason})` : ''}; open the URL above yourself.`);
    }

    if (opts.pasted) void consumePasted(deps, opts.pasted, request, complete, () => settled);

    return await waitFor(done, opts.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS, opts.signal);
  } catch (e) {
    if (isMcpAuthError(e, ErrorCode.InvalidClient) && chosen.registrationKey && !chosen.freshRegistration) {
      throw new StaleRegistration(chosen.registrationKey);
    }
    throw e;
  } finally {
    settled = true;
    await chosen.listener.close();
  }
}

async function consumePasted(
  deps: BrokerDeps,
  lines: AsyncIterable<string>,
  request: AuthorizationRequest,
  complete: (url: URL) => Promise<CallbackOutcome>,
  isSettled: () => boolean,
): Promise<void> {
  try {
    for await (const line of lines) {
      if (isSettled()) return;
      if (!line.trim()) continue;
      try {
        const url = parsePastedCallback(line, request.redirectUri);
        if (url.searchParams.get('state') !== request.state) {
          deps.log('That URL belongs to another login (state mismatch); paste the one from this login.');
          continue;
        }
        await complete(url);
        return;
      } catch (e) {
        deps.log(isMcpAuthError(e) ? `${e.message}. ${e.hint ?? ''}`.trim() : 'Could not read that URL.');
      }
    }
  } catch {
    // stdin closing or failing is not a reason to abandon a login the browser may still finish.
  }
}

/** Node fires a timer of more than 2^31-1 ms at once; longer waits are clamped to that. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function waitFor<T>(done: Promise<T>, requestedMs: number, signal?: AbortSignal): Promise<T> {
  const timeoutMs = Math.min(Math.max(requestedMs, 0), MAX_TIMER_MS);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new McpAuthError(ErrorCode.LoginTimeout, `no authorization response within ${Math.round(timeoutMs / 1000)} s`, {
        hint: 'Run mcp-auth login <name> again; use --no-browser and open the URL yourself if no browser appeared.',
      }));
    }, timeoutMs);
    const onAbort = () => {
      cleanup();
      reject(new McpAuthError(ErrorCode.LoginCancelled, 'login cancelled', { hint: 'Run mcp-auth login <name> to start again.' }));
    };
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    done.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (e: unknown) => {
        cleanup();
        reject(e);
      },
    );
  });
}

async function finishLogin(
  deps: BrokerDeps,
  serverName: string,
  server: ServerConfig,
  pending: Pending,
  callbackUrl: URL,
): Promise<LoginOutcome> {
  const { discovery, request, chosen } = pending;
  const params = validateAuthorizationResponse(discovery.as, chosen.identity, request, callbackUrl);
  const tokens: TokenSet = await exchangeCode(discovery.as, chosen.identity, params, {
    fetch: deps.fetch,
    now: deps.now,
    codeVerifier: request.codeVerifier,
    ...(pending.resource ? { resource: pending.resource } : {}),
    ...(pending.scope ? { requestedScope: pending.scope } : {}),
  });
  const resourceId = pending.resource ?? canonicalResource(server.url);
  const key = credentialKey({ resource: resourceId, issuer: discovery.issuer, clientId: chosen.identity.clientId, account: DEFAULT_ACCOUNT });
  const record: CredentialRecord = {
    v: 1,
    issuer: discovery.issuer,
    resource: resourceId,
    clientId: chosen.identity.clientId,
    account: DEFAULT_ACCOUNT,
    accessToken: tokens.accessToken,
    obtainedAt: tokens.obtainedAt,
  };
  if (tokens.refreshToken) record.refreshToken = tokens.refreshToken;
  if (tokens.expiresAt !== undefined) record.expiresAt = tokens.expiresAt;
  if (tokens.scope) record.scope = tokens.scope;
  if (chosen.identity.source === 'dcr' && chosen.identity.clientSecret) record.clientSecret = chosen.identity.clientSecret;
  if (chosen.pendingRegistration && chosen.registrationKey) {
    await writeRecord(deps.store, chosen.registrationKey, chosen.pendingRegistration);
  }
  await deps.store.withLock(key, () => writeRecord(deps.store, key, record));

  const state: ServerState = {
    v: 1,
    serverUrl: server.url,
    issuer: discovery.issuer,
    as: discovery.as,
    client: {
      clientId: chosen.identity.clientId,
      tokenEndpointAuthMethod: chosen.identity.tokenEndpointAuthMethod,
      source: chosen.identity.source,
      redirectUri: chosen.identity.redirectUri,
    },
    credentialKey: key,
    account: DEFAULT_ACCOUNT,
    updatedAt: deps.now(),
  };
  if (pending.resource) state.resource = pending.resource;
  await writeRecord(deps.store, serverStateKey(serverName), state);
  deps.log(`Logged in to ${serverName} (${redactUrl(discovery.issuer)}).`);
  const outcome: LoginOutcome = { status: 'logged_in', issuer: discovery.issuer };
  if (record.scope) outcome.scope = record.scope;
  if (record.expiresAt !== undefined) outcome.expiresAt = record.expiresAt;
  return outcome;
}

/** Loads what a server name currently points at (for `login` to decide whether there is work). */
export async function currentCredential(
  deps: BrokerDeps,
  serverName: string,
): Promise<{ state?: ServerState; credential?: CredentialRecord }> {
  const state = await readServerState(deps.store, serverStateKey(serverName));
  if (!state) return {};
  const credential = await readCredential(deps.store, state.credentialKey);
  return credential ? { state, credential } : { state };
}
