/**
 * Client identity, in the order the MCP spec gives: a pre-registered client, a Client ID Metadata
 * Document (draft-ietf-oauth-client-id-metadata-document), or RFC 7591 Dynamic Client Registration.
 */
import * as oauth from 'oauth4webapi';
import { ErrorCode, McpAuthError, redactUrl } from '../errors.js';
import type { FetchLike } from './discovery.js';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface ClientIdentity {
  clientId: string;
  clientSecret?: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Byte-identical in registration, authorization and token requests (RFC 6749 §4.1.3). */
  redirectUri: string;
  source: 'preregistered' | 'cimd' | 'dcr';
}

/** What we keep of a dynamic registration, per issuer (secret included: it lives in the store). */
export interface StoredRegistration {
  v: 1;
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** RFC 7591 §3.2.1, seconds since the epoch; 0 or absent: never expires. */
  clientSecretExpiresAt?: number;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  redirectUri: string;
  registeredAt: number;
}

export const CLIENT_NAME = 'mcp-auth';
const SUPPORTED_METHODS: readonly TokenEndpointAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post'];

/** Strips what a hostile server could use to forge terminal output, and bounds the length. */
export function sanitizeServerText(text: unknown, max = 200): string {
  if (typeof text !== 'string') return '';
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * Replaces every one of `secrets` (refresh token, code, verifier, client secret) that a server
 * echoed back, before its text goes into a message. Apply before {@link sanitizeServerText}, so no
 * prefix of a secret survives the truncation either.
 */
export function redactSecrets(text: unknown, secrets: ReadonlyArray<string | undefined>): unknown {
  if (typeof text !== 'string') return text;
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}

/**
 * RFC 8414 §2: `token_endpoint_auth_methods_supported` defaults to `client_secret_basic`. A client
 * with a secret prefers basic, then post; a public client uses `none`.
 */
export function chooseAuthMethod(as: oauth.AuthorizationServer, hasSecret: boolean): TokenEndpointAuthMethod {
  const offered = as.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  if (!hasSecret) return 'none';
  if (offered.includes('client_secret_basic')) return 'client_secret_basic';
  if (offered.includes('client_secret_post')) return 'client_secret_post';
  return 'client_secret_basic';
}

/** For a dynamic registration: public client when the AS allows it, else what it offers. */
export function preferredRegistrationMethod(as: oauth.AuthorizationServer): TokenEndpointAuthMethod {
  const offered = as.token_endpoint_auth_methods_supported;
  if (!offered || offered.includes('none')) return 'none';
  return offered.find((m): m is TokenEndpointAuthMethod => (SUPPORTED_METHODS as readonly string[]).includes(m)) ?? 'client_secret_basic';
}

/** Whether a stored registration can still be used (secret not expired, same issuer). */
export function registrationUsable(reg: StoredRegistration | undefined, issuer: string, now: number): reg is StoredRegistration {
  if (!reg || reg.issuer !== issuer) return false;
  const exp = reg.clientSecretExpiresAt;
  return !exp || exp * 1000 > now + 60_000;
}

/** RFC 7591 §3: registers a native public (or confidential, if the AS insists) client. */
export async function registerClient(
  as: oauth.AuthorizationServer,
  opts: { redirectUri: string; fetch: FetchLike; now: number; signal?: AbortSignal },
): Promise<StoredRegistration> {
  const endpoint = as.registration_endpoint;
  if (!endpoint) {
    throw new McpAuthError(ErrorCode.NoClientIdentity, `authorization server ${redactUrl(as.issuer)} offers no dynamic client registration`, {
      hint: 'Register a client with the server operator, then: mcp-auth add <name> <url> --client-id <id> [--client-secret]',
    });
  }
  const method = preferredRegistrationMethod(as);
  const body: Record<string, unknown> = {
    client_name: CLIENT_NAME,
    redirect_uris: [opts.redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
    application_type: 'native',
  };
  // No `scope` (RFC 7591 §2): servers such as oidc-provider then restrict the client to exactly
  // those scopes, and a later step-up to more would be refused as invalid_scope.
  const res = await opts.fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = await res.json();
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  if (res.status !== 201 && res.status !== 200) {
    const err = sanitizeServerText(json?.error, 60);
    const desc = sanitizeServerText(json?.error_description);
    throw new McpAuthError(
      ErrorCode.RegistrationFailed,
      `client registration at ${redactUrl(endpoint)} failed: HTTP ${res.status}${err ? ` ${err}` : ''}${desc ? ` (${desc})` : ''}`,
      { hint: 'Register a client with the server operator and add it with --client-id, or try again later.' },
    );
  }
  if (!json || typeof json.client_id !== 'string' || json.client_id === '') {
    throw new McpAuthError(ErrorCode.RegistrationFailed, `client registration at ${redactUrl(endpoint)} returned no client_id`, {
      hint: 'The authorization server answered a malformed registration; report it to its operator.',
    });
  }
  const returnedMethod = typeof json.token_endpoint_auth_method === 'string' ? json.token_endpoint_auth_method : method;
  if (!(SUPPORTED_METHODS as readonly string[]).includes(returnedMethod)) {
    throw new McpAuthError(ErrorCode.RegistrationFailed, `the authorization server assigned token endpoint auth method "${sanitizeServerText(returnedMethod, 40)}", which mcp-auth does not support`, {
      hint: 'Ask the operator for a client using none, client_secret_basic or client_secret_post.',
    });
  }
  const secret = typeof json.client_secret === 'string' && json.client_secret !== '' ? json.client_secret : undefined;
  if (returnedMethod !== 'none' && !secret) {
    throw new McpAuthError(ErrorCode.RegistrationFailed, 'the authorization server registered a confidential client but returned no client_secret', {
      hint: 'Report this to the authorization server operator.',
    });
  }
  const returnedRedirects = json.redirect_uris;
  if (Array.isArray(returnedRedirects) && returnedRedirects.length > 0 && !returnedRedirects.includes(opts.redirectUri)) {
    throw new McpAuthError(ErrorCode.RegistrationFailed, 'the authorization server registered different redirect URIs than requested', {
      hint: 'Report this to the authorization server operator; the login could not complete.',
    });
  }
  const reg: StoredRegistration = {
    v: 1,
    issuer: as.issuer,
    clientId: json.client_id,
    tokenEndpointAuthMethod: returnedMethod as TokenEndpointAuthMethod,
    redirectUri: opts.redirectUri,
    registeredAt: opts.now,
  };
  if (secret) reg.clientSecret = secret;
  if (typeof json.client_secret_expires_at === 'number' && json.client_secret_expires_at > 0) {
    reg.clientSecretExpiresAt = json.client_secret_expires_at;
  }
  return reg;
}

/** The oauth4webapi client and its token endpoint authentication. */
export function toOAuthClient(identity: Pick<ClientIdentity, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod'>): {
  client: oauth.Client;
  auth: oauth.ClientAuth;
} {
  const client: oauth.Client = { client_id: identity.clientId, token_endpoint_auth_method: identity.tokenEndpointAuthMethod };
  switch (identity.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      return { client, auth: clientSecretBasic(requireSecret(identity.clientSecret)) };
    case 'client_secret_post':
      return { client, auth: oauth.ClientSecretPost(requireSecret(identity.clientSecret)) };
    default:
      return { client, auth: oauth.None() };
  }
}

/**
 * RFC 6749 §2.3.1 HTTP Basic client authentication. oauth4webapi's version also percent-encodes
 * unreserved characters such as "-", which servers that decode only what needs decoding (the MCP
 * conformance suite among them) read as a different client id; encodeURIComponent leaves the
 * unreserved set alone and still escapes ":" and non-ASCII.
 */
export function clientSecretBasic(secret: string): oauth.ClientAuth {
  return (_as, client, _body, headers) => {
    headers.set('authorization', `Basic ${basicCredentials(client.client_id, secret)}`);
  };
}

/** The base64 credentials of an RFC 6749 §2.3.1 `Authorization: Basic` header (secret: never print it). */
export function basicCredentials(clientId: string, secret: string): string {
  return Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
}

function requireSecret(secret: string | undefined): string {
  if (!secret) {
    throw new McpAuthError(ErrorCode.NoClientIdentity, 'this client needs a client secret and none is stored', {
      hint: 'Set MCP_CLIENT_SECRET, or run: mcp-auth add <name> <url> --client-id <id> --client-secret',
    });
  }
  return secret;
}

/** The default redirect URI of pre-registered and CIMD clients (what Claude Code's docs tell people to register). */
export function localhostRedirectUri(port: number | undefined): string {
  return `http://localhost:${port ?? 0}/callback`;
}

/**
 * The Client ID Metadata Document a user or organisation hosts at `clientMetadataUrl`
 * (draft-ietf-oauth-client-id-metadata-document §3): its `client_id` is its own URL.
 */
export function clientMetadataDocument(opts: { clientMetadataUrl: string; callbackPort?: number; redirectUris?: string[]; clientName?: string }): Record<string, unknown> {
  const u = new URL(opts.clientMetadataUrl);
  if (u.protocol !== 'https:' || u.pathname === '/' || u.hash) {
    throw new McpAuthError(ErrorCode.ConfigInvalid, 'a client metadata URL must be https with a path and no fragment', {
      hint: 'Use a URL such as https://example.com/mcp-auth/client.json',
    });
  }
  const redirectUris = opts.redirectUris ?? (opts.callbackPort
    ? [`http://localhost:${opts.callbackPort}/callback`, `http://127.0.0.1:${opts.callbackPort}/callback`]
    : ['http://localhost/callback', 'http://127.0.0.1/callback']);
  return {
    client_id: u.href,
    client_name: opts.clientName ?? CLIENT_NAME,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
  };
}
