/**
 * The one error type of mcp-auth. Every failure a user can meet carries a stable `code` (scripts
 * match on it; the daemon API and the CLI print the same one) and a one-line `hint` saying what to
 * run. Messages never contain secrets: callers pass only non-secret facts (URLs without query
 * strings, server names, ports, status codes).
 */

/** Stable error codes. Adding is fine; renaming or removing one breaks users' scripts. */
export const ErrorCode = {
  Usage: 'USAGE',
  ConfigInvalid: 'CONFIG_INVALID',
  ServerNotFound: 'SERVER_NOT_FOUND',
  ServerExists: 'SERVER_EXISTS',
  LoginRequired: 'LOGIN_REQUIRED',
  NotOAuth: 'NOT_OAUTH',
  // Outbound HTTP
  InsecureUrl: 'INSECURE_URL',
  Network: 'NETWORK_ERROR',
  Timeout: 'TIMEOUT',
  ResponseTooLarge: 'RESPONSE_TOO_LARGE',
  UnexpectedRedirect: 'UNEXPECTED_REDIRECT',
  IssuerBlocked: 'ISSUER_BLOCKED',
  // Discovery
  MetadataInvalid: 'METADATA_INVALID',
  MetadataNotFound: 'METADATA_NOT_FOUND',
  IssuerMismatch: 'ISSUER_MISMATCH',
  ResourceMismatch: 'RESOURCE_MISMATCH',
  PkceUnsupported: 'PKCE_UNSUPPORTED',
  // Client identity
  RegistrationFailed: 'REGISTRATION_FAILED',
  NoClientIdentity: 'NO_CLIENT_IDENTITY',
  InvalidClient: 'INVALID_CLIENT',
  // Authorization
  UnsafeAuthorizationUrl: 'UNSAFE_AUTHORIZATION_URL',
  AccessDenied: 'ACCESS_DENIED',
  AuthorizationError: 'AUTHORIZATION_ERROR',
  StateMismatch: 'STATE_MISMATCH',
  IssMismatch: 'ISS_MISMATCH',
  CallbackPortInUse: 'CALLBACK_PORT_IN_USE',
  CallbackInvalid: 'CALLBACK_INVALID',
  LoginTimeout: 'LOGIN_TIMEOUT',
  LoginCancelled: 'LOGIN_CANCELLED',
  StepUpLimit: 'STEP_UP_LIMIT',
  LoginNotFound: 'LOGIN_NOT_FOUND',
  DaemonRunning: 'DAEMON_RUNNING',
  // Tokens
  TokenResponseInvalid: 'TOKEN_RESPONSE_INVALID',
  UnsupportedTokenType: 'UNSUPPORTED_TOKEN_TYPE',
  TokenRequestFailed: 'TOKEN_REQUEST_FAILED',
  AuthServerUnavailable: 'AUTH_SERVER_UNAVAILABLE',
  // Storage
  StoreUnreadable: 'STORE_UNREADABLE',
  StoreWriteFailed: 'STORE_WRITE_FAILED',
  LockTimeout: 'LOCK_TIMEOUT',
  // headersHelper
  HelperFailed: 'HELPER_FAILED',
  Internal: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Process exit codes of the CLI (ARCHITECTURE.md "Contracts"). */
export const ExitCode = { Ok: 0, Error: 1, Usage: 2, LoginRequired: 3 } as const;

export interface McpAuthErrorOptions {
  /** One line telling the user what to run or change. */
  hint?: string;
  cause?: unknown;
}

export class McpAuthError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: McpAuthErrorOptions = {}) {
    super(message);
    this.name = 'McpAuthError';
    this.code = code;
    this.hint = options.hint;
    // Non-enumerable: a cause may hold a response body or a request with secrets in it, and
    // JSON.stringify / structured loggers must not walk into it.
    Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false, writable: true });
  }

  get exitCode(): number {
    if (this.code === ErrorCode.LoginRequired) return ExitCode.LoginRequired;
    if (this.code === ErrorCode.Usage) return ExitCode.Usage;
    return ExitCode.Error;
  }

  /** The shape printed by `--json` and served as problem+json by the daemon. */
  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint };
  }
}

export function isMcpAuthError(value: unknown, code?: ErrorCode): value is McpAuthError {
  return value instanceof McpAuthError && (code === undefined || value.code === code);
}

/**
 * Strips the query string and fragment from a URL before it goes into a message: authorization
 * and callback URLs carry codes and state there.
 */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    u.search = '';
    u.hash = '';
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return '<invalid URL>';
  }
}
