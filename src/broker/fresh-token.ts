/**
 * A usable access token for a logged-in server: the stored one while it is fresh, else one
 * refresh under the credential's lock (so concurrent callers, in any process, refresh once).
 */
import { createHash } from 'node:crypto';
import { ErrorCode, McpAuthError, isMcpAuthError } from '../errors.js';
import { refreshTokens } from '../oauth/grants.js';
import type { ClientIdentity } from '../oauth/registration.js';
import { clientSecretForState } from './client-identity.js';
import type { BrokerDeps } from './deps.js';
import { readCredential, writeRecord, type CredentialRecord, type ServerState } from './records.js';
import { isExpired, needsRefresh } from './refresh-policy.js';

/** Refresh requests give up early enough to answer within a headersHelper's 10 s. */
export const REFRESH_TIMEOUT_MS = 6_000;

const TRANSIENT = new Set<string>([ErrorCode.Network, ErrorCode.Timeout, ErrorCode.AuthServerUnavailable, ErrorCode.ResponseTooLarge]);

function endedLogin(serverName: string): McpAuthError {
  return loginRequired(serverName, 'the authorization server ended this login (invalid_grant)');
}

export function loginRequired(serverName: string, why: string): McpAuthError {
  return new McpAuthError(ErrorCode.LoginRequired, `login required for "${serverName}": ${why}`, {
    hint: `Run: mcp-auth login ${serverName}`,
  });
}

async function refreshIdentity(deps: BrokerDeps, serverName: string, state: ServerState, cred: CredentialRecord): Promise<Pick<ClientIdentity, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod'>> {
  const identity: Pick<ClientIdentity, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod'> = {
    clientId: state.client.clientId,
    tokenEndpointAuthMethod: state.client.tokenEndpointAuthMethod,
  };
  if (identity.tokenEndpointAuthMethod === 'none') return identity;
  const secret = await clientSecretForState(deps, serverName, state, cred);
  if (!secret) throw loginRequired(serverName, 'the client secret this login used is no longer available');
  identity.clientSecret = secret;
  return identity;
}

export interface FreshTokenOptions {
  /** Refresh even if the token is not due (the server rejected it). */
  force?: boolean;
  /** The token the server rejected: if the stored one differs, someone already replaced it. */
  rejectedToken?: string;
  /** Same, as a sha256 hex digest (what API callers report). */
  rejectedTokenHash?: string;
  /** Refresh this much earlier than the usual margin (the background refresher runs ahead of callers). */
  aheadMs?: number;
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Returns a credential whose access token may be used now. Transient failures (network, 5xx,
 * timeout) keep a still-valid token in service; an expired one then fails with
 * AUTH_SERVER_UNAVAILABLE (not "login required": nothing is lost). `invalid_grant` is login
 * required, after checking whether another process stored a newer credential meanwhile.
 */
export async function freshCredential(deps: BrokerDeps, serverName: string, state: ServerState, opts: FreshTokenOptions = {}): Promise<CredentialRecord> {
  const key = state.credentialKey;
  const first = await readCredential(deps.store, key);
  if (!first) throw loginRequired(serverName, 'no stored credential');
  if (first.loginRequiredAt !== undefined) throw endedLogin(serverName);
  if (!opts.force && !needsRefresh(first, deps.now(), opts.aheadMs)) return first;

  return deps.store.withLock(key, async () => {
    const cred = await readCredential(deps.store, key);
    if (!cred) throw loginRequired(serverName, 'no stored credential');
    if (cred.loginRequiredAt !== undefined) throw endedLogin(serverName);
    const now = deps.now();
    if (opts.force) {
      if (opts.rejectedToken !== undefined && cred.accessToken !== opts.rejectedToken) return cred;
      if (opts.rejectedTokenHash !== undefined && tokenHash(cred.accessToken) !== opts.rejectedTokenHash) return cred;
      if (opts.rejectedToken === undefined && opts.rejectedTokenHash === undefined && cred.accessToken !== first.accessToken) return cred;
    } else if (!needsRefresh(cred, now, opts.aheadMs)) {
      return cred;
    }
    if (!cred.refreshToken) {
      if (!opts.force && !isExpired(cred, now)) return cred;
      throw loginRequired(serverName, 'the access token expired and the server issued no refresh token');
    }
    const identity = await refreshIdentity(deps, serverName, state, cred);
    let tokens;
    try {
      tokens = await refreshTokens(state.as, identity, cred.refreshToken, {
        fetch: deps.fetch,
        now: deps.now,
        signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS),
        ...(state.resource ? { resource: state.resource } : {}),
        ...(cred.scope ? { previousScope: cred.scope } : {}),
      });
    } catch (e) {
      if (isMcpAuthError(e) && TRANSIENT.has(e.code)) {
        if (!opts.force && !isExpired(cred, deps.now())) {
          deps.log(`Refreshing ${serverName} failed (${e.code}); the current token is still valid.`);
          return cred;
        }
        throw new McpAuthError(ErrorCode.AuthServerUnavailable, `the token for "${serverName}" expired and the authorization server cannot be reached (${e.code})`, {
          hint: 'Nothing was lost: try again when the authorization server is reachable.',
          cause: e,
        });
      }
      if (isMcpAuthError(e, ErrorCode.LoginRequired) || isMcpAuthError(e, ErrorCode.InvalidClient)) {
        const latest = await readCredential(deps.store, key);
        if (latest && latest.refreshToken !== cred.refreshToken && !isExpired(latest, deps.now())) return latest;
        if (e.code === ErrorCode.InvalidClient) throw loginRequired(serverName, 'the authorization server no longer accepts this client');
        // A definite invalid_grant: the grant is gone for every caller. Marked, not deleted (the
        // tokens stay for inspection and a login replaces the record), so nobody asks the AS
        // again and `status` shows login_required even after a restart.
        const ended: CredentialRecord = { ...cred, loginRequiredAt: deps.now() };
        await writeRecord(deps.store, key, ended);
        throw endedLogin(serverName);
      }
      throw e;
    }
    const next: CredentialRecord = {
      ...cred,
      accessToken: tokens.accessToken,
      obtainedAt: tokens.obtainedAt,
      // RFC 6749 §6: without a new refresh token the old one stays valid.
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      ...(tokens.scope ? { scope: tokens.scope } : {}),
    };
    if (tokens.expiresAt === undefined) delete next.expiresAt;
    else next.expiresAt = tokens.expiresAt;
    // Saved before it is returned: a rotated refresh token must never exist only in memory.
    await writeRecord(deps.store, key, next);
    return next;
  });
}
