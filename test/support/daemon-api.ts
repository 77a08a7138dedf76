// The daemon's HTTP API called directly, as any MCP client or script would (node:http: the API
// refuses requests carrying the fetch-metadata headers that Node's fetch adds), plus a `fetch`
// for the MCP SDK's transport that takes its headers from the daemon and answers an MCP server's
// 401/403 with the challenge round trip.
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';

import type {
  ChallengeRequest,
  ChallengeResponse,
  HealthResponse,
  HeadersResponse,
  LoginResponse,
  LoginViewResponse,
  PendingLoginView,
  Problem,
  ServersResponse,
} from '../../src/api-types.js';
import { readRuntimeFile } from '../../src/client/runtime.js';
import type { Paths } from '../../src/config/paths.js';

export interface ApiResponse {
  status: number;
  contentType: string;
  json: unknown;
}

/** A non-2xx answer of the API, with its problem document. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(`daemon API answered ${status}: ${problem.code ?? '?'} ${problem.detail ?? ''}`);
  }
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export class DaemonApi {
  constructor(
    readonly port: number,
    private readonly token: string,
  ) {}

  /** The running daemon of `paths`, from its runtime file. */
  static async fromRuntimeFile(paths: Pick<Paths, 'runtimeFile'>): Promise<DaemonApi> {
    const rt = await readRuntimeFile(paths);
    if (!rt) throw new Error(`no usable runtime file at ${paths.runtimeFile}`);
    return new DaemonApi(rt.port, rt.token);
  }

  /** One request; resolves with whatever status came back. */
  request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: false,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text === '' ? undefined : JSON.parse(text);
            } catch {
              json = text;
            }
            resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), json });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A request that must succeed (2xx); anything else throws an {@link ApiError}. */
  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const r = await this.request(method, path, body);
    if (r.status < 200 || r.status >= 300) throw new ApiError(r.status, (r.json ?? {}) as Partial<Problem>);
    return r.json as T;
  }

  health(): Promise<HealthResponse> {
    return this.call('GET', '/v1/health');
  }

  async servers(): Promise<ServersResponse['servers']> {
    return (await this.call<ServersResponse>('GET', '/v1/servers')).servers;
  }

  async headers(name: string): Promise<Record<string, string>> {
    return (await this.call<HeadersResponse>('GET', `/v1/servers/${encodeURIComponent(name)}/headers`)).headers;
  }

  challenge(name: string, body: ChallengeRequest): Promise<ChallengeResponse> {
    return this.call('POST', `/v1/servers/${encodeURIComponent(name)}/challenge`, body);
  }

  login(name: string, body: { force?: boolean; challenge?: string } = {}): Promise<LoginResponse> {
    return this.call('POST', `/v1/servers/${encodeURIComponent(name)}/login`, body);
  }

  async getLogin(id: string, waitSeconds?: number): Promise<PendingLoginView> {
    const q = waitSeconds === undefined ? '' : `?wait=${waitSeconds}`;
    return (await this.call<LoginViewResponse>('GET', `/v1/logins/${encodeURIComponent(id)}${q}`)).login;
  }
}

/** What the daemon-backed fetch did about one 401/403 (or a missing login), in order. */
export type AuthEvent =
  | { kind: 'login-required'; login: PendingLoginView }
  | { kind: 'challenge'; status: 401 | 403; wwwAuthenticate: string; tokenHash: string; response: ChallengeResponse }
  | { kind: 'login-finished'; login: PendingLoginView };

export interface DaemonFetchOptions {
  api: DaemonApi;
  server: string;
  /** Shows a pending login's URL to "the person" (the test completes it in Chromium). */
  onLogin(login: PendingLoginView): Promise<void>;
  events?: AuthEvent[];
}

/**
 * A `fetch` for StreamableHTTPClientTransport: each request carries the headers the daemon hands
 * out; not logged in → starts (or joins) the login and waits for it; a 401/403 with a challenge is
 * reported to the daemon with the rejected token's hash, and the request is retried once with what
 * comes back (after the step-up login, when that is the answer).
 */
export function daemonFetch(opts: DaemonFetchOptions): typeof fetch {
  const { api, server } = opts;
  const events = opts.events ?? [];

  async function finishLogin(login: PendingLoginView): Promise<void> {
    await opts.onLogin(login);
    const done = await api.getLogin(login.id, 30);
    events.push({ kind: 'login-finished', login: done });
    if (done.status !== 'succeeded') throw new Error(`login ${done.id} ended ${done.status}: ${done.error?.message ?? ''}`);
  }

  async function currentHeaders(): Promise<Record<string, string>> {
    try {
      return await api.headers(server);
    } catch (e) {
      if (!(e instanceof ApiError) || e.problem.code !== 'LOGIN_REQUIRED') throw e;
      const started = await api.login(server);
      if (started.status !== 'pending' || !started.login) return api.headers(server);
      events.push({ kind: 'login-required', login: started.login });
      await finishLogin(started.login);
      return api.headers(server);
    }
  }

  const send = (input: string | URL | Request, init: RequestInit | undefined, headers: Record<string, string>): Promise<Response> => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    return fetch(input, { ...init, headers: h });
  };

  return async (input, init) => {
    const headers = await currentHeaders();
    const res = await send(input, init, headers);
    const wwwAuthenticate = res.headers.get('www-authenticate');
    if ((res.status !== 401 && res.status !== 403) || !wwwAuthenticate) return res;

    const token = (headers.Authorization ?? '').replace(/^Bearer /, '');
    const tokenHash = sha256(token);
    const response = await api.challenge(server, { status: res.status, wwwAuthenticate, tokenHash });
    events.push({ kind: 'challenge', status: res.status, wwwAuthenticate, tokenHash, response });
    let next: Record<string, string> | undefined;
    if (response.action === 'login' && response.login) {
      await finishLogin(response.login);
      next = await api.headers(server);
    } else {
      next = response.headers;
    }
    // Nothing new to try (e.g. `unchanged`): the MCP server's answer stands.
    if (!next || next.Authorization === headers.Authorization) return res;
    await res.body?.cancel();
    return send(input, init, next);
  };
}
