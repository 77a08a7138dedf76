/**
 * A small typed client for the daemon's `/v1` API on 127.0.0.1, over `node:http`.
 *
 * Deliberately not the global `fetch`: undici's first use costs ~160 ms of start-up, and
 * `mcp-auth headers` runs on every MCP connection (ENVIRONMENT.md, "Speed facts").
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type {
  ChallengeRequest,
  ChallengeResponse,
  HeadersResponse,
  HealthResponse,
  LoginRequest,
  LoginResponse,
  LoginViewResponse,
  LogoutResponse,
  PendingLoginView,
  Problem,
  RequestEnv,
  ServerStatusView,
  ServersResponse,
} from '../api-types.js';
import { ErrorCode, McpAuthError } from '../errors.js';

/** Default budget for one API call (connect, request, whole response). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The daemon caps a long-poll at this many seconds. */
export const MAX_WAIT_SECONDS = 60;
const MAX_RESPONSE_BYTES = 1024 * 1024;
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface DaemonClientOptions {
  port: number;
  token: string;
  /** Loopback address the daemon listens on. */
  host?: string;
  /** Default per-request timeout in ms. */
  timeoutMs?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The daemon could not be reached or did not answer in HTTP (refused, reset, timed out): nothing
 * is known about what it did. Callers may fall back to doing the work in-process.
 */
export class DaemonUnreachableError extends McpAuthError {
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, {
      hint: 'Check `mcp-auth status`; restart the daemon with `mcp-auth stop` and run the command again',
      cause,
    });
    this.name = 'DaemonUnreachableError';
  }
}

/**
 * Turns an error response into the `McpAuthError` the daemon raised: same `code`, same hint, the
 * problem's `detail` as the message. A code this CLI does not know is kept as is (scripts match on
 * codes, and a newer daemon may add some); a body that is not a problem becomes `INTERNAL`.
 */
export function problemToError(status: number, body: unknown): McpAuthError {
  const p = (typeof body === 'object' && body !== null ? body : {}) as Partial<Record<keyof Problem, unknown>>;
  const code = typeof p.code === 'string' && CODE.test(p.code) ? (p.code as ErrorCode) : undefined;
  const detail =
    typeof p.detail === 'string' && p.detail !== '' ? p.detail : typeof p.title === 'string' && p.title !== '' ? p.title : undefined;
  const hint = typeof p.hint === 'string' && p.hint !== '' ? p.hint : undefined;
  if (code === undefined) {
    return new McpAuthError(ErrorCode.Internal, `the mcp-auth daemon answered HTTP ${status}${detail ? `: ${detail}` : ''}`, {
      hint: hint ?? 'See the daemon log, or run `mcp-auth stop` and try again',
    });
  }
  return new McpAuthError(code, detail ?? `the mcp-auth daemon answered HTTP ${status}`, hint !== undefined ? { hint } : {});
}

function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType);
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.destroy(new McpAuthError(ErrorCode.ResponseTooLarge, 'the mcp-auth daemon sent an oversized response'));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}

/** The server list out of a `GET /v1/servers` answer ({@link ServersResponse}). */
export function unwrapServers(body: unknown): ServerStatusView[] {
  const servers = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Partial<ServersResponse>).servers : undefined;
  if (Array.isArray(servers)) return servers;
  throw new McpAuthError(ErrorCode.Internal, 'the mcp-auth daemon sent an unexpected server list');
}

/** The login out of a `GET /v1/logins/{id}` or callback answer ({@link LoginViewResponse}). */
export function unwrapLogin(body: unknown): PendingLoginView {
  const view = typeof body === 'object' && body !== null ? (body as Partial<LoginViewResponse>).login : undefined;
  if (typeof view !== 'object' || view === null || typeof view.id !== 'string' || typeof view.status !== 'string') {
    throw new McpAuthError(ErrorCode.Internal, 'the mcp-auth daemon sent an unexpected login description');
  }
  return view;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

function withEnv<T extends object>(body: T, env: RequestEnv | undefined): T & { env?: RequestEnv } {
  return env !== undefined && Object.keys(env).length > 0 ? { ...body, env } : body;
}

export class DaemonClient {
  readonly port: number;
  readonly host: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(opts: DaemonClientOptions) {
    this.port = opts.port;
    this.host = opts.host ?? '127.0.0.1';
    this.#token = opts.token;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /**
   * One API call: JSON in, JSON out. Error statuses become the daemon's `McpAuthError`; transport
   * failures and timeouts a {@link DaemonUnreachableError}.
   */
  request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const where = `${this.host}:${this.port}`;
    return new Promise<T>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new McpAuthError(ErrorCode.LoginCancelled, 'cancelled', { cause: opts.signal.reason }));
      let settled = false;
      const finish = (err: Error | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as T);
      };
      const headers: Record<string, string> = {
        authorization: `Bearer ${this.#token}`,
        accept: 'application/json, application/problem+json',
        connection: 'close',
      };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(payload.length);
      }
      const req = httpRequest({ host: this.host, port: this.port, method, path, headers, agent: false });
      const timer = setTimeout(() => {
        req.destroy(new DaemonUnreachableError(ErrorCode.Timeout, `the mcp-auth daemon at ${where} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => {
        req.destroy(new McpAuthError(ErrorCode.LoginCancelled, 'cancelled', { cause: opts.signal?.reason }));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      req.on('error', (err) => {
        if (err instanceof McpAuthError) return finish(err);
        finish(new DaemonUnreachableError(ErrorCode.Network, `cannot reach the mcp-auth daemon at ${where} (${(err as NodeJS.ErrnoException).code ?? err.message})`, err));
      });
      req.on('response', (res) => {
        readBody(res).then(
          (text) => {
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            if (text !== '' && isJson(res.headers['content-type'])) {
              try {
                parsed = JSON.parse(text);
              } catch {
                return finish(new McpAuthError(ErrorCode.Internal, `the mcp-auth daemon sent invalid JSON (HTTP ${status})`));
              }
            }
            if (status >= 200 && status < 300) {
              if (parsed === undefined && text !== '') {
                return finish(new McpAuthError(ErrorCode.Internal, `the mcp-auth daemon answered HTTP ${status} without JSON`));
              }
              return finish(undefined, parsed as T);
            }
            finish(problemToError(status, parsed));
          },
          (err: unknown) => {
            if (err instanceof McpAuthError) return finish(err);
            finish(new DaemonUnreachableError(ErrorCode.Network, `the connection to the mcp-auth daemon at ${where} broke`, err));
          },
        );
      });
      req.end(payload);
    });
  }

  health(opts?: RequestOptions): Promise<HealthResponse> {
    return this.request<HealthResponse>('GET', '/v1/health', undefined, opts);
  }

  async servers(opts?: RequestOptions): Promise<ServerStatusView[]> {
    return unwrapServers(await this.request<unknown>('GET', '/v1/servers', undefined, opts));
  }

  /** The headers for `name`; `env` lends the caller's variables for this request only. */
  async headers(name: string, env?: RequestEnv, opts?: RequestOptions): Promise<Record<string, string>> {
    const path = `/v1/servers/${seg(name)}/headers`;
    const res =
      env !== undefined && Object.keys(env).length > 0
        ? await this.request<HeadersResponse>('POST', path, { env }, opts)
        : await this.request<HeadersResponse>('GET', path, undefined, opts);
    return res.headers;
  }

  challenge(name: string, body: ChallengeRequest, opts?: RequestOptions): Promise<ChallengeResponse> {
    return this.request<ChallengeResponse>('POST', `/v1/servers/${seg(name)}/challenge`, body, opts);
  }

  login(name: string, body: Omit<LoginRequest, 'env'>, env?: RequestEnv, opts?: RequestOptions): Promise<LoginResponse> {
    return this.request<LoginResponse>('POST', `/v1/servers/${seg(name)}/login`, withEnv(body, env), opts);
  }

  /** The login's state; with `waitSeconds`, a long-poll that returns early once it is no longer pending. */
  async getLogin(id: string, waitSeconds?: number, opts: RequestOptions = {}): Promise<PendingLoginView> {
    const wait = waitSeconds === undefined ? undefined : Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(waitSeconds)));
    const path = `/v1/logins/${seg(id)}${wait ? `?wait=${wait}` : ''}`;
    const timeoutMs = opts.timeoutMs ?? (wait ? wait * 1000 + this.#timeoutMs : undefined);
    return unwrapLogin(await this.request<unknown>('GET', path, undefined, { ...opts, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }));
  }

  /** Relays a callback URL the user pasted. */
  async callback(id: string, url: string, opts?: RequestOptions): Promise<PendingLoginView> {
    return unwrapLogin(await this.request<unknown>('POST', `/v1/logins/${seg(id)}/callback`, { url }, opts));
  }

  /** Stops waiting for a login; the daemon cancels it only when no other caller joined it. */
  async leaveLogin(id: string, opts?: RequestOptions): Promise<void> {
    await this.request<unknown>('DELETE', `/v1/logins/${seg(id)}`, undefined, opts);
  }

  /** Forgets (and revokes) the credential; `env` lends the caller's variables for this request only. */
  logout(name: string, env?: RequestEnv, opts?: RequestOptions): Promise<LogoutResponse> {
    return this.request<LogoutResponse>('POST', `/v1/servers/${seg(name)}/logout`, withEnv({}, env), opts);
  }
}
