/**
 * The daemon's structured log (pino). Two layers keep secrets out:
 * - serializers decide what a request, response or error looks like in the log: no bodies, no
 *   query strings, a short list of harmless headers, error messages without their `cause`;
 * - `redact` censors secret-named fields wherever a log call passes them anyway (tokens,
 *   authorization codes, PKCE verifiers, client secrets, lent environments, `Authorization`).
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
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
