/**
 * Token endpoint requests: the authorization code grant (RFC 6749 §4.1.3), refresh (§6), and
 * revocation (RFC 7009). Responses go through oauth4webapi's processors; we add the checks the
 * MCP spec asks for (Bearer tokens only) and turn failures into stable error codes.
 */
import * as oauth from 'oauth4webapi';
import { ErrorCode, McpAuthError, isMcpAuthError, redactUrl } from '../errors.js';
import type { FetchLike } from './discovery.js';
import { basicCredentials, redactSecrets, sanitizeServerText, toOAuthClient, type ClientIdentity } from './registration.js';

/** What a token response leaves us. `expiresAt` is ms since the epoch, by our own clock. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Local time the request was sent + `expires_in`; absent when the server gave no lifetime. */
  expiresAt?: number;
  obtainedAt: number;
  /** Granted scope: the response's, else what was requested (RFC 6749 §5.1). */
  scope?: string;
}

interface GrantOptions {
  fetch: FetchLike;
  now: () => number;
  resource?: string;
  signal?: AbortSignal;
}

function requestOptions(opts: GrantOptions, extra?: Record<string, string>): oauth.TokenEndpointRequestOptions {
  const additionalParameters: Record<string, string> = { ...extra };
  if (opts.resource) additionalParameters.resource = opts.resource;
  return {
    [oauth.customFetch]: opts.fetch as unknown as NonNullable<oauth.TokenEndpointRequestOptions[typeof oauth.customFetch]>,
    // Our fetch already enforces https except to loopback; oauth4webapi would refuse loopback http.
    [oauth.allowInsecureRequests]: true,
    additionalParameters,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

function toTokenSet(res: oauth.TokenEndpointResponse, sentAt: number, requestedScope: string | undefined): TokenSet {
  if (String(res.token_type).toLowerCase() !== 'bearer') {
    throw new McpAuthError(ErrorCode.UnsupportedTokenType, `the authorization server issued a "${sanitizeServerText(res.token_type, 30)}" token; MCP needs a Bearer token`, {
      hint: 'Ask the server operator to issue Bearer tokens to this client.',
    });
  }
  if (typeof res.access_token !== 'string' || res.access_token === '') {
    throw new McpAuthError(ErrorCode.TokenResponseInvalid, 'the token response has no access_token', {
      hint: 'Report this to the authorization server operator.',
    });
  }
  const set: TokenSet = { accessToken: res.access_token, obtainedAt: sentAt };
  if (typeof res.refresh_token === 'string' && res.refresh_token !== '') set.refreshToken = res.refresh_token;
  if (typeof res.expires_in === 'number' && Number.isFinite(res.expires_in) && res.expires_in > 0) {
    set.expiresAt = sentAt + res.expires_in * 1000;
  }
  const scope = typeof res.scope === 'string' ? res.scope : requestedScope;
  if (scope) set.scope = scope;
  return set;
}

/** An OAuth error response (RFC 6749 §5.2), from its JSON body or its WWW-Authenticate challenge. */
interface ErrorResponse {
  status: number;
  error: string | undefined;
  description: string | undefined;
}

/** The client's own secrets as they travel in a token request: the secret, and its Basic form. */
function clientSecrets(identity: Pick<ClientIdentity, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod'>): string[] {
  if (!identity.clientSecret) return [];
  return [identity.clientSecret, basicCredentials(identity.clientId, identity.clientSecret)];
}

function fromErrorResponse(
  r: ErrorResponse,
  endpoint: string,
  during: 'code' | 'refresh',
  secrets: ReadonlyArray<string | undefined>,
  cause: unknown,
): McpAuthError {
  const err = sanitizeServerText(redactSecrets(r.error, secrets), 60);
  const desc = sanitizeServerText(redactSecrets(r.description, secrets));
  if (r.status >= 500) {
    return new McpAuthError(ErrorCode.AuthServerUnavailable, `the token endpoint ${redactUrl(endpoint)} failed: HTTP ${r.status}`, {
      hint: 'The authorization server is having trouble; try again shortly.',
      cause,
    });
  }
  if (r.error === 'invalid_grant' && during === 'refresh') {
    return new McpAuthError(ErrorCode.LoginRequired, `the authorization server no longer accepts this login (invalid_grant${desc ? `: ${desc}` : ''})`, {
      hint: 'Run: mcp-auth login <name>',
      cause,
    });
  }
  if (r.error === 'invalid_client') {
    return new McpAuthError(ErrorCode.InvalidClient, `the authorization server rejected the client (invalid_client${desc ? `: ${desc}` : ''})`, {
      hint: 'Check --client-id / the client secret, or run mcp-auth login <name> to register again.',
      cause,
    });
  }
  return new McpAuthError(ErrorCode.TokenRequestFailed, `the token request failed: ${err || `HTTP ${r.status}`}${desc ? ` (${desc})` : ''}`, {
    hint: 'Run: mcp-auth login <name>',
    cause,
  });
}

/**
 * RFC 6749 §5.2: a 401 carries a WWW-Authenticate challenge (oidc-provider sends `Basic …,
 * error="invalid_client"`), and oauth4webapi throws on the challenge before reading the body.
 * The error comes from the challenge; a bare 401 means the client failed to authenticate.
 */
function challengeErrorResponse(cause: oauth.WWWAuthenticateChallengeError): ErrorResponse {
  const params = cause.cause.find((c) => c.parameters.error !== undefined)?.parameters;
  return {
    status: cause.status,
    error: params?.error ?? (cause.status === 401 ? 'invalid_client' : undefined),
    description: params?.error_description,
  };
}

/** The JSON error body a challenged response may also carry; it wins over the challenge's fields. */
async function withErrorBody(cause: unknown): Promise<ErrorResponse | undefined> {
  if (!(cause instanceof oauth.WWWAuthenticateChallengeError)) return undefined;
  const fromChallenge = challengeErrorResponse(cause);
  try {
    const body: unknown = await cause.response.clone().json();
    if (body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') {
      const b = body as { error: string; error_description?: unknown };
      return {
        status: cause.status,
        error: b.error,
        description: typeof b.error_description === 'string' ? b.error_description : fromChallenge.description,
      };
    }
  } catch {
    // Not JSON: the challenge is all there is.
  }
  return fromChallenge;
}

/**
 * Maps whatever a token request threw to our codes. `invalid_grant` on refresh means the grant is
 * gone (login required); 5xx, network and timeouts are transient and must not cost a credential.
 * `secrets` are the request's own secrets, removed from any server text quoted in the message.
 */
export function tokenError(
  cause: unknown,
  endpoint: string,
  during: 'code' | 'refresh',
  secrets: ReadonlyArray<string | undefined> = [],
): McpAuthError {
  if (isMcpAuthError(cause)) return cause;
  if (cause instanceof oauth.ResponseBodyError) {
    return fromErrorResponse({ status: cause.status, error: cause.error, description: cause.error_description }, endpoint, during, secrets, cause);
  }
  if (cause instanceof oauth.WWWAuthenticateChallengeError) {
    return fromErrorResponse(challengeErrorResponse(cause), endpoint, during, secrets, cause);
  }
  if (cause instanceof oauth.OperationProcessingError) {
    const status = (cause.cause as { status?: number } | undefined)?.status ?? (cause as unknown as { status?: number }).status;
    if (typeof status === 'number' && status >= 500) {
      return new McpAuthError(ErrorCode.AuthServerUnavailable, `the token endpoint ${redactUrl(endpoint)} failed: HTTP ${status}`, {
        hint: 'The authorization server is having trouble; try again shortly.',
        cause,
      });
    }
    return new McpAuthError(ErrorCode.TokenResponseInvalid, `the token endpoint ${redactUrl(endpoint)} sent an invalid response: ${sanitizeServerText(cause.message, 120)}`, {
      hint: 'Report this to the authorization server operator.',
      cause,
    });
  }
  if (cause instanceof oauth.UnsupportedOperationError) {
    return new McpAuthError(ErrorCode.UnsupportedTokenType, 'the token response uses a token type mcp-auth does not support', {
      hint: 'Ask the server operator to issue Bearer tokens to this client.',
      cause,
    });
  }
  return new McpAuthError(ErrorCode.TokenResponseInvalid, `the token request to ${redactUrl(endpoint)} failed unexpectedly`, {
    hint: 'Try again; if it persists, report it.',
    cause,
  });
}

function tokenEndpoint(as: oauth.AuthorizationServer): string {
  if (!as.token_endpoint) {
    throw new McpAuthError(ErrorCode.MetadataInvalid, `authorization server ${redactUrl(as.issuer)} has no token_endpoint`, {
      hint: 'The server metadata is incomplete; set oauth.authServerMetadataUrl or contact its operator.',
    });
  }
  return as.token_endpoint;
}

/** RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5) and the same `resource` as the authorization request. */
export async function exchangeCode(
  as: oauth.AuthorizationServer,
  identity: ClientIdentity,
  callbackParams: URLSearchParams,
  opts: GrantOptions & { codeVerifier: string; requestedScope?: string },
): Promise<TokenSet> {
  const endpoint = tokenEndpoint(as);
  const { client, auth } = toOAuthClient(identity);
  const sentAt = opts.now();
  try {
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, callbackParams, identity.redirectUri, opts.codeVerifier, requestOptions(opts));
    return toTokenSet(await oauth.processAuthorizationCodeResponse(as, client, res), sentAt, opts.requestedScope);
  } catch (cause) {
    const secrets = [callbackParams.get('code') ?? undefined, opts.codeVerifier, ...clientSecrets(identity)];
    const body = await withErrorBody(cause);
    throw body ? fromErrorResponse(body, endpoint, 'code', secrets, cause) : tokenError(cause, endpoint, 'code', secrets);
  }
}

/** RFC 6749 §6. No `scope`: the refreshed token keeps the granted scope. */
export async function refreshTokens(
  as: oauth.AuthorizationServer,
  identity: Pick<ClientIdentity, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod'>,
  refreshToken: string,
  opts: GrantOptions & { previousScope?: string },
): Promise<TokenSet> {
  const endpoint = tokenEndpoint(as);
  const { client, auth } = toOAuthClient(identity);
  const sentAt = opts.now();
  try {
    const res = await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, requestOptions(opts));
    return toTokenSet(await oauth.processRefreshTokenResponse(as, client, res), sentAt, opts.previousScope);
  } catch (cause) {
    const secrets = [refreshToken, ...clientSecrets(identity)];
    const body = await withErrorBody(cause);
    throw body ? fromErrorResponse(body, endpoint, 'refresh', secrets, cause) : tokenError(cause, endpoint, 'refresh', secrets);
  }
}

/** RFC 7009 §2. Returns false (never throws) when the server has no endpoint or refuses. */
export async function revokeToken(
  as: oauth.AuthorizationServer,
  identity: Pick<ClientIdentity, 'clientId' | 'clientSecret' | 'tokenEndpointAuthMethod'>,
  token: string,
  hint: 'refresh_token' | 'access_token',
  opts: { fetch: FetchLike; signal?: AbortSignal },
): Promise<boolean> {
  if (!as.revocation_endpoint) return false;
  try {
    const { client, auth } = toOAuthClient(identity);
    const res = await oauth.revocationRequest(as, client, auth, token, {
      [oauth.customFetch]: opts.fetch as unknown as NonNullable<oauth.RevocationRequestOptions[typeof oauth.customFetch]>,
      [oauth.allowInsecureRequests]: true,
      additionalParameters: { token_type_hint: hint },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    await oauth.processRevocationResponse(res);
    return true;
  } catch {
    return false;
  }
}
