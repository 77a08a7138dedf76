/**
 * Finding the authorization server of an MCP server, as the MCP authorization spec asks of a
 * client: the 401 challenge, RFC 9728 Protected Resource Metadata, RFC 8414 / OpenID Connect
 * Discovery metadata, and the 2025-03-26 fallbacks for servers that publish no metadata.
 */
import * as oauth from 'oauth4webapi';
import { ErrorCode, McpAuthError, redactUrl } from '../errors.js';
import { assertSafeAuthorizationUrl } from './browser.js';
import { bearerChallenge } from './challenge.js';
import { assertSecureUrl } from '../util/loopback.js';

export type FetchLike = typeof fetch;

/** RFC 9728 §2: the fields we rely on. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  scopes_supported?: string[];
  [key: string]: unknown;
}

export interface BearerChallengeInfo {
  error?: string;
  errorDescription?: string;
  scope?: string;
  resourceMetadata?: string;
}

export interface DiscoveryResult {
  /** The MCP server URL as configured (after `${VAR}` expansion). */
  serverUrl: string;
  /**
   * RFC 8707 resource indicator to send: the PRM `resource` once validated against the server
   * URL, or the server's canonical URI when it has no PRM.
   */
  resource: string;
  prm?: ProtectedResourceMetadata;
  /** The challenge the server answered the unauthenticated probe with, if any. */
  challenge?: BearerChallengeInfo;
  issuer: string;
  as: oauth.AuthorizationServer;
  /** How the authorization server was found. */
  source: 'prm' | 'override' | 'legacy-metadata' | 'legacy-default';
}

export interface DiscoveryOptions {
  fetch: FetchLike;
  /** `oauth.authServerMetadataUrl`: skips the RFC 8414 chain. */
  authServerMetadataUrl?: string;
  /** A challenge the caller already holds (from `--www-authenticate` or a client's report). */
  challengeHeader?: string;
  /**
   * Called once per issuer before any request to it. An admin policy plugs in here; throwing
   * refuses the issuer.
   */
  beforeIssuerContact?: (issuer: string) => void | Promise<void>;
  signal?: AbortSignal;
}

const MCP_PROTOCOL_VERSION = '2025-06-18';

/**
 * Canonical URI of an MCP server for RFC 8707 (MCP spec "Canonical Server URI"): no fragment,
 * scheme and host lower-cased by URL parsing, no trailing slash on a bare origin.
 */
export function canonicalResource(serverUrl: string): string {
  const u = new URL(serverUrl);
  u.hash = '';
  const href = u.href;
  return u.pathname === '/' && u.search === '' ? href.slice(0, -1) : href;
}

/**
 * RFC 9728 §3.3 asks that the PRM `resource` be the resource the client asked about. MCP servers
 * commonly publish one PRM for a whole origin or path tree, so we accept a resource with the same
 * origin whose path is a whole-segment prefix of the server's path.
 */
export function resourceCovers(resource: string, serverUrl: string): boolean {
  let r: URL;
  let s: URL;
  try {
    r = new URL(resource);
    s = new URL(serverUrl);
  } catch {
    return false;
  }
  if (r.origin !== s.origin || r.hash !== '' || r.search !== '') return false;
  const rp = r.pathname.replace(/\/+$/, '');
  const sp = s.pathname.replace(/\/+$/, '');
  return rp === '' || sp === rp || sp.startsWith(rp + '/');
}

/** RFC 9728 §3.1: the well-known URLs to try, path-specific first, then the root. */
export function protectedResourceMetadataUrls(serverUrl: string): string[] {
  const u = new URL(serverUrl);
  const path = u.pathname.replace(/\/+$/, '');
  const root = `${u.origin}/.well-known/oauth-protected-resource`;
  return path ? [`${root}${path}`, root] : [root];
}

/**
 * RFC 8414 §3.1 and OIDC Discovery §4, in the order the MCP spec gives: path-inserted OAuth, path-
 * inserted OIDC, path-appended OIDC for an issuer with a path; OAuth then OIDC for one without.
 */
export function authorizationServerMetadataUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, '');
  if (!path) {
    return [
      `${u.origin}/.well-known/oauth-authorization-server`,
      `${u.origin}/.well-known/openid-configuration`,
    ];
  }
  return [
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${u.origin}/.well-known/openid-configuration${path}`,
    `${u.origin}${path}/.well-known/openid-configuration`,
  ];
}

/** Sends an unauthenticated MCP `initialize` to learn how the server wants to be authorized. */
export async function probeServer(
  serverUrl: string,
  fetchFn: FetchLike,
  signal?: AbortSignal,
): Promise<{ status: number; challenge?: BearerChallengeInfo }> {
  const res = await fetchFn(serverUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MCP_PROTOCOL_VERSION,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: MCP_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'mcp-auth', version: '0.1.0' },
      },
    }),
    ...(signal ? { signal } : {}),
  });
  const challenge = bearerChallenge(res.headers.get('www-authenticate'));
  await res.body?.cancel().catch(() => undefined);
  return challenge ? { status: res.status, challenge } : { status: res.status };
}

function metadataError(what: string, url: string, detail: string, cause?: unknown): McpAuthError {
  return new McpAuthError(ErrorCode.MetadataInvalid, `${what} at ${redactUrl(url)} is invalid: ${detail}`, {
    hint: 'The server publishes broken metadata; report it to its operator, or set oauth.authServerMetadataUrl.',
    cause,
  });
}

async function readJsonObject(res: Response, what: string, url: string): Promise<Record<string, unknown>> {
  const type = res.headers.get('content-type') ?? '';
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type.trim())) {
    throw metadataError(what, url, `content-type is "${type.slice(0, 60)}", not JSON`);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch (cause) {
    throw metadataError(what, url, 'body is not valid JSON', cause);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw metadataError(what, url, 'body is not a JSON object');
  }
  return body as Record<string, unknown>;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Fetches and validates RFC 9728 metadata; `undefined` when the URL has none (4xx). */
export async function fetchProtectedResourceMetadata(
  url: string,
  fetchFn: FetchLike,
  signal?: AbortSignal,
): Promise<ProtectedResourceMetadata | undefined> {
  const res = await fetchFn(url, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
  if (res.status >= 400 && res.status < 500) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new McpAuthError(
      ErrorCode.MetadataInvalid,
      `protected resource metadata at ${redactUrl(url)} answered HTTP ${res.status}`,
      { hint: 'Try again later; if it persists, the MCP server is misconfigured.' },
    );
  }
  const body = await readJsonObject(res, 'protected resource metadata', url);
  if (typeof body.resource !== 'string' || body.resource === '') {
    throw metadataError('protected resource metadata', url, '"resource" is missing');
  }
  if (body.authorization_servers !== undefined && !isStringArray(body.authorization_servers)) {
    throw metadataError('protected resource metadata', url, '"authorization_servers" is not a list of URLs');
  }
  if (body.scopes_supported !== undefined && !isStringArray(body.scopes_supported)) {
    throw metadataError('protected resource metadata', url, '"scopes_supported" is not a list of strings');
  }
  return body as ProtectedResourceMetadata;
}

const ENDPOINT_FIELDS = [
  'authorization_endpoint',
  'token_endpoint',
  'registration_endpoint',
  'revocation_endpoint',
] as const;

/** Shape checks oauth4webapi leaves to us, plus https (or loopback) for every endpoint we call. */
export function validateAuthorizationServer(as: oauth.AuthorizationServer, source: string): void {
  for (const field of ENDPOINT_FIELDS) {
    const v = as[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw metadataError('authorization server metadata', source, `"${field}" is not a URL`);
    try {
      new URL(v);
    } catch (cause) {
      throw metadataError('authorization server metadata', source, `"${field}" is not a URL`, cause);
    }
    assertSecureUrl(v, `the authorization server's ${field.replace(/_/g, ' ')}`);
    // Refused here, not only when the browser is about to open it: no client is registered with,
    // and no listener opened for, an authorization server whose login URL is unsafe to launch.
    if (field === 'authorization_endpoint') assertSafeAuthorizationUrl(v);
  }
  for (const field of ['code_challenge_methods_supported', 'scopes_supported', 'token_endpoint_auth_methods_supported', 'grant_types_supported', 'response_types_supported'] as const) {
    const v = as[field];
    if (v !== undefined && !isStringArray(v)) {
      throw metadataError('authorization server metadata', source, `"${field}" is not a list of strings`);
    }
  }
}

/**
 * Walks the metadata URLs of `issuer` in order; a 4xx moves on to the next one, anything else
 * is decided there. The document's `issuer` must equal the one it was fetched for (RFC 8414 §3.3).
 */
export async function fetchAuthorizationServerMetadata(
  issuer: string,
  fetchFn: FetchLike,
  signal?: AbortSignal,
  match: 'exact' | 'same-origin' = 'exact',
): Promise<oauth.AuthorizationServer | undefined> {
  const expected = new URL(issuer);
  for (const url of authorizationServerMetadataUrls(issuer)) {
    const res = await fetchFn(url, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
    if (res.status >= 400 && res.status < 500) {
      await res.body?.cancel().catch(() => undefined);
      continue;
    }
    return processMetadataResponse(res, url, expected, match);
  }
  return undefined;
}

async function processMetadataResponse(
  res: Response,
  url: string,
  expectedIssuer: URL | undefined,
  match: 'exact' | 'same-origin' = 'exact',
): Promise<oauth.AuthorizationServer> {
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    // Only a 5xx means "down". A 4xx here comes from oauth.authServerMetadataUrl (the chain skips
    // them), and a redirect is never followed: both are configuration problems, not outages.
    if (res.status >= 500) {
      throw new McpAuthError(
        ErrorCode.AuthServerUnavailable,
        `authorization server metadata at ${redactUrl(url)} answered HTTP ${res.status}`,
        { hint: 'The authorization server may be down; try again later.' },
      );
    }
    if (res.status >= 400) {
      throw new McpAuthError(ErrorCode.MetadataNotFound, `no authorization server metadata at ${redactUrl(url)} (HTTP ${res.status})`, {
        hint: 'Check oauth.authServerMetadataUrl for this server (mcp-auth get <name>).',
      });
    }
    throw metadataError('authorization server metadata', url, `answered HTTP ${res.status} instead of the document (redirects are not followed)`);
  }
  const body = await readJsonObject(res, 'authorization server metadata', url);
  if (typeof body.issuer !== 'string') {
    throw metadataError('authorization server metadata', url, '"issuer" is missing');
  }
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(body.issuer);
  } catch (cause) {
    throw metadataError('authorization server metadata', url, '"issuer" is not a URL', cause);
  }
  const matches = match === 'exact' ? issuerUrl.href === expectedIssuer?.href : issuerUrl.origin === expectedIssuer?.origin;
  if (expectedIssuer && !matches) {
    throw new McpAuthError(
      ErrorCode.IssuerMismatch,
      `authorization server metadata at ${redactUrl(url)} names issuer ${redactUrl(body.issuer)}, expected ${redactUrl(expectedIssuer)}`,
      { hint: 'The metadata may be spoofed or misconfigured; do not log in until the server operator fixes it.' },
    );
  }
  const as = body as unknown as oauth.AuthorizationServer;
  validateAuthorizationServer(as, url);
  return as;
}

/** Endpoints a 2025-03-26 server without metadata is assumed to have, at its origin root. */
export function legacyDefaultMetadata(serverUrl: string): oauth.AuthorizationServer {
  const origin = new URL(serverUrl).origin;
  return {
    issuer: origin,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    registration_endpoint: `${origin}/register`,
    // That revision made PKCE S256 mandatory for servers, so it is implied here.
    code_challenge_methods_supported: ['S256'],
  };
}

/**
 * Resolves server → authorization server. Stops (throws) before any authorization request when
 * the PRM names another resource, the metadata names another issuer, or an endpoint is insecure.
 */
export async function discover(serverUrl: string, opts: DiscoveryOptions): Promise<DiscoveryResult> {
  const { fetch: fetchFn, signal } = opts;
  assertSecureUrl(serverUrl, 'the MCP server URL');

  let challenge: BearerChallengeInfo | undefined = opts.challengeHeader
    ? bearerChallenge(opts.challengeHeader)
    : undefined;
  let probeStatus: number | undefined;
  if (!challenge?.resourceMetadata) {
    const probe = await probeServer(serverUrl, fetchFn, signal);
    probeStatus = probe.status;
    if (probe.challenge) challenge = { ...probe.challenge, ...(challenge?.scope ? { scope: challenge.scope } : {}) };
  }

  let prm: ProtectedResourceMetadata | undefined;
  let prmUrl: string | undefined;
  if (challenge?.resourceMetadata) {
    prmUrl = new URL(challenge.resourceMetadata, serverUrl).href;
    assertSecureUrl(prmUrl, 'the resource metadata URL');
    prm = await fetchProtectedResourceMetadata(prmUrl, fetchFn, signal);
  }
  if (!prm) {
    for (const url of protectedResourceMetadataUrls(serverUrl)) {
      prm = await fetchProtectedResourceMetadata(url, fetchFn, signal);
      if (prm) {
        prmUrl = url;
        break;
      }
    }
  }

  if (prm && !resourceCovers(prm.resource, serverUrl)) {
    throw new McpAuthError(
      ErrorCode.ResourceMismatch,
      `protected resource metadata names resource ${redactUrl(prm.resource)}, which does not cover ${redactUrl(serverUrl)}`,
      { hint: 'The server may be impersonating another; check the URL in `mcp-auth get <name>` and ask its operator.' },
    );
  }

  const withChallenge = <T extends object>(r: T): T & { challenge?: BearerChallengeInfo } =>
    challenge ? { ...r, challenge } : r;

  if (opts.authServerMetadataUrl) {
    const url = assertSecureUrl(opts.authServerMetadataUrl, 'oauth.authServerMetadataUrl').href;
    const res = await fetchFn(url, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
    const as = await processMetadataResponse(res, url, undefined);
    await opts.beforeIssuerContact?.(as.issuer);
    return withChallenge({
      serverUrl,
      resource: prm ? prm.resource : canonicalResource(serverUrl),
      ...(prm ? { prm } : {}),
      issuer: as.issuer,
      as,
      source: 'override' as const,
    });
  }

  if (prm) {
    const issuer = prm.authorization_servers?.[0];
    if (!issuer) {
      throw metadataError('protected resource metadata', prmUrl ?? serverUrl, 'no "authorization_servers" listed');
    }
    assertSecureUrl(issuer, 'the authorization server');
    await opts.beforeIssuerContact?.(issuer);
    const as = await fetchAuthorizationServerMetadata(issuer, fetchFn, signal);
    if (!as) {
      throw new McpAuthError(
        ErrorCode.MetadataNotFound,
        `no authorization server metadata found for ${redactUrl(issuer)}`,
        { hint: 'Set oauth.authServerMetadataUrl for this server (mcp-auth add --auth-server-metadata-url).' },
      );
    }
    return withChallenge({ serverUrl, resource: prm.resource, prm, issuer: as.issuer, as, source: 'prm' as const });
  }

  // 2025-03-26 servers: no PRM, the MCP server's origin is the authorization server.
  if (probeStatus !== undefined && probeStatus !== 401 && !challenge) {
    throw new McpAuthError(
      ErrorCode.NotOAuth,
      `${redactUrl(serverUrl)} did not ask for authorization (HTTP ${probeStatus}) and publishes no OAuth metadata`,
      { hint: 'This server may need no login, or static headers: see `mcp-auth add --header`.' },
    );
  }
  const origin = new URL(serverUrl).origin;
  await opts.beforeIssuerContact?.(origin);
  // The 2025-03-26 revision put the metadata at the MCP server's origin without binding the
  // issuer to it (servers name e.g. <origin>/oauth); the origin is what is vouched for here.
  const as = await fetchAuthorizationServerMetadata(origin, fetchFn, signal, 'same-origin');
  if (as) {
    return withChallenge({ serverUrl, resource: canonicalResource(serverUrl), issuer: as.issuer, as, source: 'legacy-metadata' as const });
  }
  const fallback = legacyDefaultMetadata(serverUrl);
  return withChallenge({
    serverUrl,
    resource: canonicalResource(serverUrl),
    issuer: fallback.issuer,
    as: fallback,
    source: 'legacy-default' as const,
  });
}

/** SPEC-NOTES 4: PKCE with S256 or nothing. */
export function assertPkceS256(as: oauth.AuthorizationServer): void {
  const methods = as.code_challenge_methods_supported;
  if (!methods || !methods.includes('S256')) {
    throw new McpAuthError(
      ErrorCode.PkceUnsupported,
      `authorization server ${redactUrl(as.issuer)} does not advertise PKCE S256 (code_challenge_methods_supported)`,
      { hint: 'mcp-auth refuses authorization servers without PKCE S256; ask the operator to enable it.' },
    );
  }
}
