/**
 * RFC 9457 problem details for every error the API answers with, and the one table that maps our
 * stable error codes onto HTTP statuses. The body carries the same `code` and `hint` the CLI prints.
 */
import type { FastifyReply } from 'fastify';
import type { Problem } from '../api-types.js';
import { ErrorCode, isMcpAuthError } from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * Codes that exist only at the HTTP layer (the guards and fastify's own request errors). They
 * never become an `McpAuthError` in the daemon; a client maps them as it sees fit.
 */
export const ApiCode = {
  /** `Host` is not 127.0.0.1:<port>, localhost:<port> or [::1]:<port> (DNS rebinding). */
  HostNotAllowed: 'HOST_NOT_ALLOWED',
  /** The request carries an `Origin` (or other browser-only) header: web pages may never call the API. */
  OriginRefused: 'ORIGIN_REFUSED',
  /** Missing or wrong API token. */
  Unauthorized: 'UNAUTHORIZED',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  BodyTooLarge: 'BODY_TOO_LARGE',
  NotFound: 'NOT_FOUND',
} as const;

/**
 * HTTP status per error code. Anything not listed is 500. Grouped by who has to act:
 * the request (4xx) or something upstream of the daemon (502/504).
 */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  // The request is wrong.
  [ErrorCode.Usage]: 400,
  [ErrorCode.ConfigInvalid]: 400,
  [ErrorCode.CallbackInvalid]: 400,
  [ErrorCode.StateMismatch]: 400,
  [ErrorCode.IssMismatch]: 400,
  [ApiCode.Unauthorized]: 401,
  [ApiCode.OriginRefused]: 403,
  [ErrorCode.IssuerBlocked]: 403,
  [ErrorCode.AccessDenied]: 403,
  [ApiCode.NotFound]: 404,
  [ErrorCode.ServerNotFound]: 404,
  [ErrorCode.LoginNotFound]: 404,
  [ApiCode.BodyTooLarge]: 413,
  [ApiCode.UnsupportedMediaType]: 415,
  [ApiCode.HostNotAllowed]: 421,
  // The request is fine but the server's state does not allow it yet: a person must act.
  [ErrorCode.LoginRequired]: 409,
  [ErrorCode.NotOAuth]: 409,
  [ErrorCode.ServerExists]: 409,
  [ErrorCode.NoClientIdentity]: 409,
  [ErrorCode.LoginCancelled]: 409,
  [ErrorCode.CallbackPortInUse]: 409,
  [ErrorCode.StepUpLimit]: 429,
  // Something the daemon depends on failed.
  [ErrorCode.LockTimeout]: 503,
  [ErrorCode.Network]: 502,
  [ErrorCode.AuthServerUnavailable]: 502,
  [ErrorCode.InsecureUrl]: 502,
  [ErrorCode.ResponseTooLarge]: 502,
  [ErrorCode.UnexpectedRedirect]: 502,
  [ErrorCode.MetadataInvalid]: 502,
  [ErrorCode.MetadataNotFound]: 502,
  [ErrorCode.IssuerMismatch]: 502,
  [ErrorCode.ResourceMismatch]: 502,
  [ErrorCode.PkceUnsupported]: 502,
  [ErrorCode.RegistrationFailed]: 502,
  [ErrorCode.InvalidClient]: 502,
  [ErrorCode.UnsafeAuthorizationUrl]: 502,
  [ErrorCode.AuthorizationError]: 502,
  [ErrorCode.TokenResponseInvalid]: 502,
  [ErrorCode.UnsupportedTokenType]: 502,
  [ErrorCode.TokenRequestFailed]: 502,
  [ErrorCode.HelperFailed]: 502,
  [ErrorCode.Timeout]: 504,
  [ErrorCode.LoginTimeout]: 504,
  // STORE_UNREADABLE, STORE_WRITE_FAILED, INTERNAL and anything unknown: 500.
};

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

export function problem(status: number, code: string, detail: string, hint?: string): Problem {
  const p: Problem = {
    type: `urn:mcp-auth:error:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail,
  };
  if (hint !== undefined) p.hint = hint;
  return p;
}

/** Fastify's own request errors (`FST_ERR_*`), which carry a 4xx `statusCode`. */
interface FastifyRequestError {
  statusCode?: number;
  code?: string;
  validation?: unknown;
  validationContext?: string;
  message: string;
}

function asFastifyError(err: unknown): FastifyRequestError | undefined {
  if (typeof err !== 'object' || err === null || !('message' in err)) return undefined;
  return err as FastifyRequestError;
}

/**
 * Turns anything thrown while handling a request into a problem. `McpAuthError` messages are safe
 * by construction (they never hold secrets) and are passed through; anything else is a bug and
 * gets a generic message, its details going only to the log.
 */
export function toProblem(err: unknown): Problem {
  if (isMcpAuthError(err)) {
    const status = statusForCode(err.code);
    if (err.code === ErrorCode.Internal) return problem(500, err.code, 'internal error', err.hint);
    return problem(status, err.code, err.message, err.hint);
  }
  const fe = asFastifyError(err);
  if (fe?.validation !== undefined) {
    // Ajv's messages name the field and the rule ("body/status must be equal to one of the
    // allowed values"), never the offending value.
    return problem(400, ErrorCode.Usage, `invalid request: ${fe.message}`);
  }
  const status = fe?.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    if (status === 415) return problem(415, ApiCode.UnsupportedMediaType, 'request bodies must be application/json');
    if (status === 413) return problem(413, ApiCode.BodyTooLarge, 'request body too large');
    if (status === 404) return problem(404, ApiCode.NotFound, 'not found');
    // Invalid or empty JSON and the like. Node's JSON.parse messages quote part of the input, so
    // they are not echoed.
    return problem(400, ErrorCode.Usage, fe?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'request body is not valid JSON' : 'bad request');
  }
  return problem(500, ErrorCode.Internal, 'internal error');
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}
