/**
 * The shapes of the daemon's local HTTP API (`/v1`), shared by the daemon (which serves them) and
 * the client (which calls them). Changing a field is a contract change: MCP clients and scripts
 * call this API directly.
 */

export const API_VERSION = 'v1';

/** Login state of one server, as `GET /v1/servers` lists it. */
export interface ServerStatusView {
  name: string;
  url: string;
  type: 'http' | 'sse';
  state: 'ok' | 'refreshing' | 'expired' | 'login_required' | 'not_oauth' | 'error';
  issuer?: string;
  clientId?: string;
  scope?: string;
  /** ms since the epoch */
  expiresAt?: number;
  hasRefreshToken?: boolean;
  account?: string;
  store: string;
  error?: { code: string; message: string };
}

/** `GET /v1/servers`: an object, so the answer can grow without breaking callers. */
export interface ServersResponse {
  servers: ServerStatusView[];
}

/**
 * A login the daemon owns. `kind` leaves room for the device flow (`userCode`); the CLI (or any
 * client) shows `url` to the person and opens it in their session.
 */
export interface PendingLoginView {
  id: string;
  server: string;
  kind: 'browser' | 'device';
  status: 'pending' | 'succeeded' | 'failed' | 'cancelled';
  url?: string;
  userCode?: string;
  /** ms since the epoch */
  expiresAt: number;
  /** The redirect URI a pasted callback URL must match. */
  redirectUri?: string;
  error?: { code: string; message: string; hint?: string };
  scope?: string;
}

/** `GET /v1/logins/{id}` and `POST /v1/logins/{id}/callback`: the login, wrapped so the answer can grow. */
export interface LoginViewResponse {
  login: PendingLoginView;
}

/** Environment values a caller lends for one request: `${VAR}` expansion, `MCP_CLIENT_SECRET`. */
export type RequestEnv = Record<string, string>;

export interface HeadersRequest {
  env?: RequestEnv;
}
export interface HeadersResponse {
  headers: Record<string, string>;
}

export interface ChallengeRequest {
  status: 401 | 403;
  /** The `WWW-Authenticate` value the MCP server answered with. */
  wwwAuthenticate: string;
  /** sha256 hex of the access token the server rejected, so a stale report changes nothing. */
  tokenHash?: string;
  env?: RequestEnv;
}
export interface ChallengeResponse {
  /**
   * current: the rejected token was already replaced; refreshed: one refresh gave a new token;
   * unchanged: the credential already holds every challenged scope; login: a (step-up) login is
   * needed and has been started.
   */
  action: 'current' | 'refreshed' | 'unchanged' | 'login';
  headers?: Record<string, string>;
  login?: PendingLoginView;
}

export interface LoginRequest {
  force?: boolean;
  /** A `WWW-Authenticate` value (step-up). */
  challenge?: string;
  env?: RequestEnv;
}
export interface LoginResponse {
  status: 'unchanged' | 'refreshed' | 'pending';
  reason?: string;
  login?: PendingLoginView;
}

export interface CallbackRequest {
  /** The full callback URL the user pasted. */
  url: string;
}

/** Optional body of `POST /v1/servers/{name}/logout` (the env lets revocation use the caller's `MCP_CLIENT_SECRET`). */
export interface LogoutRequest {
  env?: RequestEnv;
}
export interface LogoutResponse {
  loggedOut: boolean;
  revoked: boolean;
}

export interface HealthResponse {
  ok: true;
  pid: number;
  version: string;
  store: string;
  uptimeMs: number;
}

/** RFC 9457 problem details, with our stable code and hint. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  hint?: string;
}

/** Contents of the runtime file `daemon.json` (mode 0600 in a 0700 directory). */
export interface RuntimeFile {
  pid: number;
  port: number;
  token: string;
  startedAt: number;
  version: string;
}
