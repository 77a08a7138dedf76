/**
 * The authorization request and response of the authorization code grant (RFC 6749 §4.1) with
 * PKCE (RFC 7636), resource indicators (RFC 8707) and issuer identification (RFC 9207).
 */
import * as oauth from 'oauth4webapi';
import { ErrorCode, McpAuthError, redactUrl } from '../errors.js';
import { assertSafeAuthorizationUrl } from './browser.js';
import { createPkce, randomState } from './pkce.js';
import { basicCredentials, redactSecrets, sanitizeServerText, toOAuthClient, type ClientIdentity } from './registration.js';

export interface AuthorizationRequest {
  /** The URL the user opens. Contains state and the PKCE challenge: never log it whole. */
  url: string;
  state: string;
  codeVerifier: string;
  redirectUri: string;
  scope?: string;
  resource?: string;
  /** The issuer the request was made to; the response's `iss` must equal it (RFC 9207 §2.4). */
  issuer: string;
}

/** Builds the authorization URL. Throws before anything is opened if the endpoint is unsafe. */
export async function buildAuthorizationRequest(
  as: oauth.AuthorizationServer,
  identity: ClientIdentity,
  opts: { scope?: string; resource?: string; state?: string },
): Promise<AuthorizationRequest> {
  if (!as.authorization_endpoint) {
    throw new McpAuthError(ErrorCode.MetadataInvalid, `authorization server ${redactUrl(as.issuer)} has no authorization_endpoint`, {
      hint: 'The server metadata is incomplete; set oauth.authServerMetadataUrl or contact its operator.',
    });
  }
  const endpoint = assertSafeAuthorizationUrl(as.authorization_endpoint);
  const pkce = await createPkce();
  const state = opts.state ?? randomState();
  const url = new URL(endpoint.href);
  const params = url.searchParams;
  params.set('response_type', 'code');
  params.set('client_id', identity.clientId);
  params.set('redirect_uri', identity.redirectUri);
  params.set('code_challenge', pkce.challenge);
  params.set('code_challenge_method', pkce.method);
  params.set('state', state);
  if (opts.scope) params.set('scope', opts.scope);
  if (opts.resource) params.set('resource', opts.resource);
  const href = assertSafeAuthorizationUrl(url.href).href;
  const req: AuthorizationRequest = {
    url: href,
    state,
    codeVerifier: pkce.verifier,
    redirectUri: identity.redirectUri,
    issuer: as.issuer,
  };
  if (opts.scope) req.scope = opts.scope;
  if (opts.resource) req.resource = opts.resource;
  return req;
}

/**
 * Parses a callback URL the user pasted. It must be the redirect URI (path compared; the host may
 * be written as localhost or 127.0.0.1) with the authorization response in its query.
 */
export function parsePastedCallback(text: string, redirectUri: string): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new McpAuthError(ErrorCode.CallbackInvalid, 'the pasted text is not a URL', {
      hint: 'Paste the whole address the browser shows after you approve (it starts with http://localhost or http://127.0.0.1).',
    });
  }
  const expected = new URL(redirectUri);
  if (url.pathname !== expected.pathname || (!url.searchParams.has('code') && !url.searchParams.has('error'))) {
    throw new McpAuthError(ErrorCode.CallbackInvalid, `the pasted URL is not the callback of this login (${redactUrl(url)})`, {
      hint: `Paste the address the browser was sent to, beginning with ${redactUrl(expected)}`,
    });
  }
  return url;
}

/**
 * Validates the authorization response: `state` first (CSRF), then `iss` (mix-up, RFC 9207 §2.4),
 * then the AS's error, before any code is redeemed.
 */
export function validateAuthorizationResponse(
  as: oauth.AuthorizationServer,
  identity: ClientIdentity,
  request: AuthorizationRequest,
  callback: URL,
): URLSearchParams {
  const params = callback.searchParams;
  const state = params.get('state');
  if (state !== request.state) {
    throw new McpAuthError(ErrorCode.StateMismatch, state === null ? 'the authorization response carries no state' : 'the authorization response belongs to another login (state mismatch)', {
      hint: 'Start again with: mcp-auth login <name>',
    });
  }
  const iss = params.get('iss');
  if (iss === null && as.authorization_response_iss_parameter_supported) {
    throw new McpAuthError(ErrorCode.IssMismatch, 'the authorization response lacks the iss parameter its server promised (RFC 9207)', {
      hint: 'This may be a mix-up attack; do not retry until you trust the server. Start again with: mcp-auth login <name>',
    });
  }
  if (iss !== null && iss !== request.issuer) {
    throw new McpAuthError(ErrorCode.IssMismatch, `the authorization response came from issuer ${redactUrl(iss)}, expected ${redactUrl(request.issuer)}`, {
      hint: 'This may be a mix-up attack; the code was not redeemed. Start again with: mcp-auth login <name>',
    });
  }
  const error = params.get('error');
  if (error !== null) {
    // The AS knows our client secret; an error description is no place to print it.
    const secrets = identity.clientSecret ? [identity.clientSecret, basicCredentials(identity.clientId, identity.clientSecret)] : [];
    const desc = sanitizeServerText(redactSecrets(params.get('error_description'), secrets));
    if (error === 'access_denied') {
      throw new McpAuthError(ErrorCode.AccessDenied, `the authorization was denied${desc ? `: ${desc}` : ''}`, {
        hint: 'Run mcp-auth login <name> again and approve the request.',
      });
    }
    throw new McpAuthError(ErrorCode.AuthorizationError, `the authorization server refused: ${sanitizeServerText(error, 60)}${desc ? ` (${desc})` : ''}`, {
      hint: 'Check the server configuration (scopes, client), then run mcp-auth login <name> again.',
    });
  }
  // One code, exactly: with two, which one is redeemed would be the attacker's choice.
  if (!params.get('code') || params.getAll('code').length !== 1) {
    throw new McpAuthError(ErrorCode.CallbackInvalid, params.get('code') ? 'the authorization response carries more than one code' : 'the authorization response carries no code', {
      hint: 'Start again with: mcp-auth login <name>',
    });
  }
  const { client } = toOAuthClient({ ...identity, tokenEndpointAuthMethod: 'none' });
  try {
    return oauth.validateAuthResponse(as, client, params, request.state);
  } catch (cause) {
    throw new McpAuthError(ErrorCode.CallbackInvalid, 'the authorization response is malformed', {
      hint: 'Start again with: mcp-auth login <name>',
      cause,
    });
  }
}
