// A tiny, deliberately configurable MCP server + protected resource metadata + authorization
// server on 127.0.0.1, for the responses a real server never sends: wrong state, a missing or
// foreign `iss`, DPoP tokens, 500s, malformed JSON, huge bodies, hostile metadata. Every request is
// recorded and counted per path, so a test can assert what was (not) contacted.
//
// Happy paths are honest enough to catch client bugs: codes are bound to their PKCE challenge,
// redirect_uri and resource; refresh tokens rotate and a rotated-out one is refused.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON (content-type application/json unless set). */
  body?: unknown;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as a form (empty for JSON bodies). */
  form: URLSearchParams;
}

export type Handler = (req: RecordedRequest) => Reply | Promise<Reply>;

/** How `/authorize` answers (always a 302 to the given redirect_uri unless `reply` is set). */
export interface AuthorizeBehaviour {
  /** `echo` (default), `missing`, or a literal value to send instead. */
  state?: 'echo' | 'missing' | (string & {});
  /** `issuer` (default: this server's issuer), `missing`, or a literal value. */
  iss?: 'issuer' | 'missing' | (string & {});
  /** Answer with an error instead of a code (e.g. `access_denied`). */
  error?: string;
  errorDescription?: string;
  /** Grant this scope instead of the requested one (the token response reports it). */
  grantScope?: string;
  /** Answer with this instead of redirecting. */
  reply?: Reply;
}

export type TokenKind =
  | 'ok'
  | 'invalid_grant'
  | 'invalid_client'
  | 'status_500'
  | 'malformed_json'
  | 'not_json'
  | 'dpop'
  | 'huge';

export interface TokenBehaviour {
  kind?: TokenKind;
  /** `error_description` of an error response. */
  errorDescription?: string;
  /** Sent with an error (RFC 6749 §5.2: 401 invalid_client with a Basic challenge). */
  wwwAuthenticate?: string;
  status?: number;
  /** `null` omits the field from a successful response. */
  refreshToken?: string | null;
  expiresIn?: number | null;
  scope?: string | null;
  tokenType?: string;
  accessToken?: string;
  /** Extra fields merged into a successful response. */
  extra?: Record<string, unknown>;
}

export interface HostileAsOptions {
  /** Path of the MCP endpoint (default `/mcp`). */
  mcpPath?: string;
  /** Path of the issuer identifier (default none: the issuer is the origin). */
  issuerPath?: string;
}

export interface HostileAsConfig {
  /** Status and `WWW-Authenticate` of every request to the MCP endpoint; `challenge: null` sends none. */
  mcp: { status: number; challenge: string | null };
  /** The protected resource metadata document (or a raw reply); `null` answers 404. */
  prm: Record<string, unknown> | { reply: Reply } | null;
  /** Paths that serve `prm`; others 404. Default: the path-form well-known URL of the MCP endpoint. */
  prmPaths: string[];
  /** The authorization server metadata (or a raw reply); `null` answers 404 everywhere. */
  metadata: Record<string, unknown> | { reply: Reply } | null;
  /** Paths that serve `metadata`; others 404. Default: RFC 8414 path-inserted URL of the issuer. */
  metadataPaths: string[];
  authorize: AuthorizeBehaviour;
  /** Used when `tokenQueue` is empty. */
  token: TokenBehaviour | Handler;
  /** One entry per token request, consumed first. */
  tokenQueue: Array<TokenBehaviour | Handler>;
  /** Registration: `ok` registers what was asked for; a Reply or a Handler answers instead. */
  register: 'ok' | Reply | Handler;
  /** Rotate refresh tokens (default true): a refreshed-away token then gets invalid_grant. */
  rotateRefreshTokens: boolean;
  /** Overrides any path (exact match on the path without query). */
  routes: Record<string, Handler>;
  /** Runs before every request is answered (e.g. to advance a fake clock). */
  onRequest?: (req: RecordedRequest) => void | Promise<void>;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  resource: string | undefined;
  scope: string | undefined;
}

export interface HostileAs {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  issuer: string;
  /** The MCP endpoint, e.g. `http://127.0.0.1:PORT/mcp`. */
  mcpUrl: string;
  /** The path-form PRM URL advertised in the default challenge. */
  prmUrl: string;
  port: number;
  config: HostileAsConfig;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** Requests per path (without query). */
  count(path: string): number;
  /** Requests to `/token` with this grant type. */
  tokenRequests(grantType?: string): RecordedRequest[];
  /** Bodies of registration requests, parsed. */
  registrations(): Array<Record<string, unknown>>;
  /** Refresh tokens that are still accepted. */
  liveRefreshTokens: Set<string>;
  /** The default metadata document for this server (fresh copy). */
  defaultMetadata(): Record<string, unknown>;
  /** Restores the default configuration and clears the request log. */
  reset(): void;
  close(): Promise<void>;
}

const rand = (): string => randomBytes(12).toString('base64url');

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
  let body: string;
  if (reply.body === undefined) body = '';
  else if (typeof reply.body === 'string') body = reply.body;
  else {
    body = JSON.stringify(reply.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  res.writeHead(reply.status ?? 200, headers);
  res.end(body);
}

const oauthError = (status: number, error: string, description?: string, extraHeaders: Record<string, string> = {}): Reply => ({
  status,
  headers: extraHeaders,
  body: description === undefined ? { error } : { error, error_description: description },
});

export async function startHostileAs(opts: HostileAsOptions = {}): Promise<HostileAs> {
  const mcpPath = opts.mcpPath ?? '/mcp';
  const issuerPath = (opts.issuerPath ?? '').replace(/\/+$/, '');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const issuer = `${origin}${issuerPath}`;
  const mcpUrl = `${origin}${mcpPath}`;
  const prmPath = `/.well-known/oauth-protected-resource${mcpPath.replace(/\/+$/, '')}`;
  const prmUrl = `${origin}${prmPath}`;
  const metadataPath = `/.well-known/oauth-authorization-server${issuerPath}`;

  const requests: RecordedRequest[] = [];
  const counts = new Map<string, number>();
  const codes = new Map<string, IssuedCode>();
  const liveRefreshTokens = new Set<string>();
  const refreshScopes = new Map<string, string | undefined>();
  let clientSeq = 0;

  const defaultMetadata = (): Record<string, unknown> => ({
    issuer,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    registration_endpoint: `${origin}/register`,
    revocation_endpoint: `${origin}/revoke`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    authorization_response_iss_parameter_supported: true,
  });

  const defaults = (): HostileAsConfig => ({
    mcp: { status: 401, challenge: `Bearer resource_metadata="${prmUrl}"` },
    prm: { resource: mcpUrl, authorization_servers: [issuer] },
    prmPaths: [prmPath],
    metadata: defaultMetadata(),
    metadataPaths: [metadataPath],
    authorize: {},
    token: { kind: 'ok' },
    tokenQueue: [],
    register: 'ok',
    rotateRefreshTokens: true,
    routes: {},
  });

  const as: HostileAs = {
    origin,
    issuer,
    mcpUrl,
    prmUrl,
    port,
    config: defaults(),
    requests,
    count: (path) => counts.get(path) ?? 0,
    tokenRequests: (grantType) =>
      requests.filter((r) => r.path === '/token' && (grantType === undefined || r.form.get('grant_type') === grantType)),
    registrations: () => requests.filter((r) => r.path === '/register').map((r) => JSON.parse(r.body) as Record<string, unknown>),
    liveRefreshTokens,
    defaultMetadata,
    reset() {
      as.config = defaults();
      requests.length = 0;
      counts.clear();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const docReply = (doc: Record<string, unknown> | { reply: Reply } | null): Reply => {
    if (doc === null) return oauthError(404, 'not_found');
    if ('reply' in doc && typeof doc.reply === 'object' && doc.reply !== null && Object.keys(doc).length === 1) {
      return doc.reply as Reply;
    }
    return { body: doc };
  };

  const authorize = (req: RecordedRequest): Reply => {
    const b = as.config.authorize;
    if (b.reply) return b.reply;
    const q = req.query;
    const redirectUri = q.get('redirect_uri');
    if (!redirectUri) return oauthError(400, 'invalid_request', 'redirect_uri is required');
    if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
      return oauthError(400, 'invalid_request', 'PKCE S256 and response_type=code are required');
    }
    const target = new URL(redirectUri);
    const state = b.state ?? 'echo';
    if (state === 'echo') {
      const sent = q.get('state');
      if (sent !== null) target.searchParams.set('state', sent);
    } else if (state !== 'missing') {
      target.searchParams.set('state', state);
    }
    const iss = b.iss ?? 'issuer';
    if (iss === 'issuer') target.searchParams.set('iss', issuer);
    else if (iss !== 'missing') target.searchParams.set('iss', iss);
    if (b.error) {
      target.searchParams.set('error', b.error);
      if (b.errorDescription !== undefined) target.searchParams.set('error_description', b.errorDescription);
    } else {
      const code = `code_${rand()}`;
      const granted = b.grantScope ?? q.get('scope') ?? undefined;
      codes.set(code, {
        clientId: q.get('client_id') ?? '',
        redirectUri,
        challenge: q.get('code_challenge') ?? '',
        resource: q.get('resource') ?? undefined,
        scope: granted,
      });
      target.searchParams.set('code', code);
    }
    return { status: 302, headers: { location: target.href } };
  };

  const tokenOk = (b: TokenBehaviour, scope: string | undefined): Reply => {
    const body: Record<string, unknown> = {
      access_token: b.accessToken ?? `at_${rand()}`,
      token_type: b.tokenType ?? 'Bearer',
    };
    if (b.expiresIn !== null) body.expires_in = b.expiresIn ?? 3600;
    if (b.refreshToken !== null) {
      const rt = b.refreshToken ?? `rt_${rand()}`;
      body.refresh_token = rt;
      liveRefreshTokens.add(rt);
      refreshScopes.set(rt, scope);
    }
    const s = b.scope === undefined ? scope : b.scope;
    if (s !== null && s !== undefined) body.scope = s;
    return { body: { ...body, ...b.extra } };
  };

  const token = (req: RecordedRequest, b: TokenBehaviour): Reply => {
    const errHeaders: Record<string, string> = b.wwwAuthenticate ? { 'www-authenticate': b.wwwAuthenticate } : {};
    switch (b.kind ?? 'ok') {
      case 'invalid_grant':
        return oauthError(b.status ?? 400, 'invalid_grant', b.errorDescription, errHeaders);
      case 'invalid_client':
        return oauthError(b.status ?? 401, 'invalid_client', b.errorDescription, errHeaders);
      case 'status_500':
        return { status: b.status ?? 500, headers: { 'content-type': 'text/html' }, body: '<h1>Internal Server Error</h1>' };
      case 'malformed_json':
        return { status: b.status ?? 200, headers: { 'content-type': 'application/json' }, body: '{"access_token": "at_x", "token_type": "Bearer",' };
      case 'not_json':
        return { status: b.status ?? 200, headers: { 'content-type': 'text/html' }, body: '<html>sign in</html>' };
      case 'huge':
        return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: 'x'.repeat(2 * 1024 * 1024), token_type: 'Bearer' }) };
      case 'dpop':
        return tokenOk({ ...b, tokenType: b.tokenType ?? 'DPoP' }, undefined);
      case 'ok':
        break;
    }
    const f = req.form;
    const grant = f.get('grant_type');
    if (grant === 'authorization_code') {
      const code = f.get('code') ?? '';
      const issued = codes.get(code);
      codes.delete(code);
      if (!issued) return oauthError(400, 'invalid_grant', 'unknown or used code');
      if (f.get('redirect_uri') !== issued.redirectUri) return oauthError(400, 'invalid_grant', 'redirect_uri mismatch');
      if (s256(f.get('code_verifier') ?? '') !== issued.challenge) return oauthError(400, 'invalid_grant', 'PKCE verification failed');
      if ((f.get('resource') ?? undefined) !== issued.resource) return oauthError(400, 'invalid_target', 'resource differs from the authorization request');
      return tokenOk(b, issued.scope);
    }
    if (grant === 'refresh_token') {
      const rt = f.get('refresh_token') ?? '';
      if (!liveRefreshTokens.has(rt)) return oauthError(400, 'invalid_grant', 'refresh token is not active');
      const scope = refreshScopes.get(rt);
      if (as.config.rotateRefreshTokens && b.refreshToken !== null) liveRefreshTokens.delete(rt);
      return tokenOk(b, scope);
    }
    return oauthError(400, 'unsupported_grant_type');
  };

  const register = async (req: RecordedRequest): Promise<Reply> => {
    const r = as.config.register;
    if (typeof r === 'function') return r(req);
    if (r !== 'ok') return r;
    let asked: Record<string, unknown>;
    try {
      asked = JSON.parse(req.body) as Record<string, unknown>;
    } catch {
      return oauthError(400, 'invalid_client_metadata', 'body is not JSON');
    }
    const method = typeof asked.token_endpoint_auth_method === 'string' ? asked.token_endpoint_auth_method : 'client_secret_basic';
    const reply: Record<string, unknown> = {
      ...asked,
      client_id: `client_${++clientSeq}_${rand()}`,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      token_endpoint_auth_method: method,
    };
    if (method !== 'none') reply.client_secret = `secret_${rand()}`;
    return { status: 201, body: reply };
  };

  const route = async (req: RecordedRequest): Promise<Reply> => {
    const c = as.config;
    const custom = c.routes[req.path];
    if (custom) return custom(req);
    if (req.path === mcpPath) {
      return {
        status: c.mcp.status,
        headers: c.mcp.challenge === null ? {} : { 'www-authenticate': c.mcp.challenge },
        body: { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'unauthorized' } },
      };
    }
    if (c.prmPaths.includes(req.path)) return docReply(c.prm);
    if (c.metadataPaths.includes(req.path)) return docReply(c.metadata);
    if (req.path === '/authorize') return authorize(req);
    if (req.path === '/token') {
      const b = c.tokenQueue.length > 0 ? c.tokenQueue.shift()! : c.token;
      return typeof b === 'function' ? b(req) : token(req, b);
    }
    if (req.path === '/register') return register(req);
    if (req.path === '/revoke') {
      liveRefreshTokens.delete(req.form.get('token') ?? '');
      return { status: 200, body: '' };
    }
    return oauthError(404, 'not_found');
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', origin);
      const body = await readBody(req);
      const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        form: new URLSearchParams(isForm ? body : ''),
      };
      requests.push(recorded);
      counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
      await as.config.onRequest?.(recorded);
      send(res, await route(recorded));
    })().catch((err: unknown) => {
      if (!res.headersSent) send(res, { status: 599, body: { error: 'fixture_error', error_description: String(err) } });
      else res.destroy();
    });
  });

  return as;
}
