/**
 * What the broker keeps in the credential store, and how it reads it back. Records are JSON
 * strings to the store; a record that does not parse is an error (STORE_UNREADABLE), never
 * "no credential": treating damage as absence would send people to log in and lose the old one.
 */
import type * as oauth from 'oauth4webapi';
import { ErrorCode, McpAuthError } from '../errors.js';
import type { ClientIdentity, StoredRegistration, TokenEndpointAuthMethod } from '../oauth/registration.js';
import type { CredentialStore } from '../store/types.js';

/** Tokens for one (resource, issuer, client, account). Secret. */
export interface CredentialRecord {
  v: 1;
  issuer: string;
  resource: string;
  clientId: string;
  account: string;
  accessToken: string;
  refreshToken?: string;
  /** ms since the epoch by our clock; absent when the server gave no lifetime. */
  expiresAt?: number;
  obtainedAt: number;
  scope?: string;
  /** A dynamically registered confidential client's secret, kept with the tokens it refreshes. */
  clientSecret?: string;
  /** Set when the AS answered invalid_grant: the grant is gone and only a new login helps. */
  loginRequiredAt?: number;
}

/** What a server name resolves to after a login. Not secret (no tokens, no client secret). */
export interface ServerState {
  v: 1;
  /** The server URL the login was for: a config edit that changes it makes this state stale. */
  serverUrl: string;
  issuer: string;
  /** Snapshot of the AS metadata, so `headers` needs no discovery round trip. */
  as: oauth.AuthorizationServer;
  /** The RFC 8707 resource sent, or absent when the config opts out. */
  resource?: string;
  client: {
    clientId: string;
    tokenEndpointAuthMethod: TokenEndpointAuthMethod;
    source: ClientIdentity['source'];
    redirectUri: string;
  };
  credentialKey: string;
  account: string;
  updatedAt: number;
}

/** Authorization requests made for one server and scope set (SPEC-NOTES 7: at most 3). */
export interface AuthAttempts {
  v: 1;
  scope: string;
  count: number;
  since: number;
}

function corrupt(key: string, cause?: unknown): McpAuthError {
  return new McpAuthError(ErrorCode.StoreUnreadable, `a stored record (${key.split(':')[0]}) is damaged and cannot be read`, {
    hint: 'Run `mcp-auth logout <name>` to discard it, then log in again.',
    cause,
  });
}

async function readJson(store: CredentialStore, key: string): Promise<Record<string, unknown> | undefined> {
  const text = await store.get(key);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw corrupt(key, cause);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || (value as { v?: unknown }).v !== 1) throw corrupt(key);
  return value as Record<string, unknown>;
}

export async function readCredential(store: CredentialStore, key: string): Promise<CredentialRecord | undefined> {
  const r = await readJson(store, key);
  if (r === undefined) return undefined;
  if (typeof r.accessToken !== 'string' || typeof r.issuer !== 'string' || typeof r.obtainedAt !== 'number') throw corrupt(key);
  return r as unknown as CredentialRecord;
}

export async function readServerState(store: CredentialStore, key: string): Promise<ServerState | undefined> {
  const r = await readJson(store, key);
  if (r === undefined) return undefined;
  if (typeof r.serverUrl !== 'string' || typeof r.credentialKey !== 'string' || !r.as || !r.client) throw corrupt(key);
  return r as unknown as ServerState;
}

export async function readRegistration(store: CredentialStore, key: string): Promise<StoredRegistration | undefined> {
  const r = await readJson(store, key);
  if (r === undefined) return undefined;
  if (typeof r.clientId !== 'string' || typeof r.redirectUri !== 'string') throw corrupt(key);
  return r as unknown as StoredRegistration;
}

export async function readAttempts(store: CredentialStore, key: string): Promise<AuthAttempts | undefined> {
  const r = await readJson(store, key);
  return r as unknown as AuthAttempts | undefined;
}

export async function writeRecord(store: CredentialStore, key: string, record: { v: 1 }): Promise<void> {
  await store.set(key, JSON.stringify(record));
}
