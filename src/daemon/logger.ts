/**
 * The daemon's structured log (pino). Two layers keep secrets out:
 * - serializers decide what a request, response or error looks like in the log: no bodies, no
 *   query strings, a short list of harmless headers, error messages without their `cause`;
 * - `redact` censors secret-named fields wherever a log call passes them anyway (tokens,
 *   authorization codes, PKCE verifiers, client secrets, lent environments, `Authorization`).
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Level, type Logger, type LoggerOptions } from 'pino';
import { isMcpAuthError } from '../errors.js';

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'token',
  'apiToken',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'clientSecret',
  'client_secret',
  'codeVerifier',
  'code_verifier',
  'verifier',
  'authorizationCode',
  'password',
  'secret',
  'assertion',
  'client_assertion',
  'env',
  'headers.authorization',
  'headers.Authorization',
];

/** Each key at the top level and up to three levels down. */
export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => {
  const p = k.includes('.') || /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const sep = p.startsWith('[') ? '' : '.';
  return [p, `*${sep}${p}`, `*.*${sep}${p}`, `*.*.*${sep}${p}`];
});

export const REDACTED = '[redacted]';

/** Request headers worth logging; everything else (including any credential) is left out. */
const LOGGED_HEADERS = ['host', 'user-agent', 'content-type', 'content-length', 'origin'];

/** Path only: query strings are where careless clients put tokens and codes. */
function pathOnly(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}

interface RequestLike {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  ip?: string;
  socket?: { remoteAddress?: string; remotePort?: number };
  routeOptions?: { url?: string };
}

export function serializeRequest(req: RequestLike): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const name of LOGGED_HEADERS) {
    const v = req.headers?.[name];
    if (v !== undefined) headers[name] = v;
  }
  return {
    method: req.method,
    url: pathOnly(req.url),
    ...(req.routeOptions?.url ? { route: req.routeOptions.url } : {}),
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    headers,
  };
}

export function serializeResponse(res: { statusCode?: number }): Record<string, unknown> {
  return { statusCode: res.statusCode };
}

/**
 * Name, code and message; a stack only for unexpected errors. Never `cause`: it may hold an HTTP
 * response or request with secrets in it (which is why McpAuthError keeps it non-enumerable).
 */
export function serializeError(err: unknown): Record<string, unknown> {
  if (isMcpAuthError(err)) return { type: err.name, code: err.code, message: err.message };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const statusCode = (err as { statusCode?: unknown }).statusCode;
    return {
      type: err.name,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof statusCode === 'number' ? { statusCode } : {}),
      message: err.message,
      stack: err.stack,
    };
  }
  return { type: typeof err };
}

export interface CreateLoggerOptions {
  level?: LoggerOptions['level'];
  /** Where lines go (default: stderr, so stdout stays free for the CLI). */
  destination?: DestinationStream;
}

export function loggerOptions(level: LoggerOptions['level'] = 'info'): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { req: serializeRequest, res: serializeResponse, err: serializeError, error: serializeError },
  };
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  return pino(loggerOptions(opts.level), opts.destination ?? pino.destination({ fd: 2, sync: true }));
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `'quiet'`: a successful request to this route is logged at `debug`, not `info` — for the hot
     * paths (headers on every MCP connection, health on every CLI call). Refusals and failures are
     * logged at `info`/`error` on every route.
     */
    requestLog?: 'quiet';
  }
}

/** Route config for {@link RequestLogController}'s quiet routes. */
export const QUIET_ROUTE = { requestLog: 'quiet' } as const;

/**
 * What fastify logs about each request: one line when it is answered ("request completed" with
 * method, path, status and time) instead of fastify's two. Refusals and failures (status ≥ 400)
 * at `info`, errors at `error`; successes at `info`, except on routes marked {@link QUIET_ROUTE}
 * (headers, health), where they go to `debug`: at load, logging every headers request (through
 * `redact`) cost more CPU than answering it. Everything else fastify logs (handler errors, stream
 * errors, 503s while closing) is unchanged.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {
    // Folded into requestCompleted: the request's fields are on that line.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const quiet = (request.routeOptions.config as { requestLog?: string } | undefined)?.requestLog === 'quiet';
    const level = error ? 'error' : reply.statusCode >= 400 || !quiet ? 'info' : 'debug';
    const log = reply.log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
    // Checked first: most requests are not logged, and the line's fields cost something to gather.
    if (log.isLevelEnabled !== undefined && !log.isLevelEnabled(level)) return;
    const fields = { req: request, res: reply, responseTime: reply.elapsedTime, ...(error ? { err: error } : {}) };
    log[level](fields, error ? 'request errored' : 'request completed');
  }
}

/**
 * The per-request logger fastify hands out as `request.log` (bound to the request id), created on
 * its first enabled log call rather than for every request: a pino child serialises its bindings
 * through `redact` when created, which at load cost as much as the rest of a headers request, and
 * most requests never log at an enabled level.
 */
class LazyChildLogger {
  readonly #parent: Logger;
  readonly #bindings: Bindings;
  #real: Logger | undefined;

  constructor(parent: Logger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  #child(): Logger {
    return (this.#real ??= this.#parent.child(this.#bindings));
  }

  #log(level: Level, args: unknown[]): void {
    if (this.#real === undefined && !this.#parent.isLevelEnabled(level)) return;
    (this.#child()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.#real ?? this.#parent).level;
  }

  set level(level: string) {
    this.#child().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.#real ?? this.#parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, opts?: ChildLoggerOptions): Logger {
    return this.#child().child(bindings, opts);
  }
}

/**
 * fastify's `childLoggerFactory`: a {@link LazyChildLogger}. With child options (a route
 * `logLevel` or serializers) or a parent that is not pino, the child is made at once, as fastify
 * would.
 */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  const pinoParent = parent as Partial<Logger>;
  if (Object.keys(opts).length > 0 || typeof pinoParent.isLevelEnabled !== 'function') return parent.child(bindings, opts);
  return new LazyChildLogger(parent as Logger, bindings) as unknown as FastifyBaseLogger;
}
