/**
 * The server configuration schema: the `mcpServers` shape of `.mcp.json` (remote servers only) plus
 * our `oauth` fields, and its validation. Error messages name the key path and the problem but
 * never echo values: URLs and headers may carry API keys.
 */
import { ErrorCode, McpAuthError } from '../errors.js';
import { isLoopbackHost } from '../util/loopback.js';

export interface OAuthConfig {
  clientId?: string;
  callbackPort?: number;            // 1..65535
  authServerMetadataUrl?: string;   // must be https (or http to loopback: 127.0.0.0/8, [::1], localhost)
  scopes?: string;                  // space-separated
  resource?: string | false;        // override the RFC 8707 resource, or false to never send it
  clientMetadataUrl?: string;       // CIMD client_id URL: https with a non-root path
  redirectUri?: string;             // exact redirect URI for pre-registered/CIMD clients
}

export interface ServerConfig {
  type: 'http' | 'sse';
  url: string;
  headers?: Record<string, string>;
  headersHelper?: string;
  oauth?: OAuthConfig | false;      // false: never attempt OAuth for this server
}

export interface ConfigFile { mcpServers: Record<string, ServerConfig> }

const SERVER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** RFC 9110 token: the characters allowed in a header field name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
// eslint-disable-next-line no-control-regex
const LINE_BREAK_OR_NUL = /[\r\n\0]/;

const SERVER_KEYS = new Set(['type', 'url', 'headers', 'headersHelper', 'oauth']);
const OAUTH_KEYS = new Set([
  'clientId',
  'callbackPort',
  'authServerMetadataUrl',
  'scopes',
  'resource',
  'clientMetadataUrl',
  'redirectUri',
]);

/** Whether `name` is usable as a server name: `[A-Za-z0-9_.-]{1,64}`, not `__proto__`. */
export function isValidServerName(name: string): boolean {
  // "__proto__" fits the pattern but would turn `servers[name] = …` into a prototype assignment.
  return SERVER_NAME.test(name) && name !== '__proto__';
}

/**
 * Checks a server name given on the command line.
 * @throws McpAuthError `USAGE` when it is not `[A-Za-z0-9_.-]{1,64}`.
 */
export function validateServerName(name: string): string {
  if (typeof name !== 'string' || !isValidServerName(name)) {
    throw new McpAuthError(ErrorCode.Usage, 'Invalid server name: use 1 to 64 letters, digits, "_", "." or "-"', {
      hint: 'Pick a name like "github" or "linear-prod"',
    });
  }
  return name;
}

type Fail = (path: string, problem: string) => never;

function failer(where: string, hint: string): Fail {
  return (path, problem) => {
    throw new McpAuthError(ErrorCode.ConfigInvalid, `${where}${path} ${problem}`, { hint });
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

function checkKeys(obj: Record<string, unknown>, allowed: ReadonlySet<string>, path: string, fail: Fail): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) fail(`${path}.${key}`, 'is not a known key');
  }
}

function requireString(v: unknown, path: string, fail: Fail): string {
  if (typeof v !== 'string') fail(path, 'must be a string');
  if (v === '') fail(path, 'must not be empty');
  return v;
}

function checkHttpsOrLoopback(value: string, path: string, fail: Fail): URL {
  const u = parseUrl(value);
  if (u === undefined || (u.protocol !== 'https:' && u.protocol !== 'http:')) fail(path, 'must be an http(s) URL');
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
    fail(path, 'must use https (plain http is only allowed to localhost, 127.0.0.0/8 or [::1])');
  }
  if (u.username !== '' || u.password !== '') fail(path, 'must not contain credentials');
  return u;
}

function validateOAuth(raw: unknown, path: string, fail: Fail): OAuthConfig | false {
  if (raw === false) return false;
  if (!isPlainObject(raw)) fail(path, 'must be an object or false');
  checkKeys(raw, OAUTH_KEYS, path, fail);
  for (const [key, value] of Object.entries(raw)) {
    // Only url, headers and headersHelper are expanded; a placeholder here would be sent verbatim.
    if (typeof value === 'string' && value.includes('${')) {
      fail(`${path}.${key}`, 'cannot use ${VAR} placeholders (only url, headers and headersHelper are expanded)');
    }
  }
  const out: OAuthConfig = {};

  if (raw.clientId !== undefined) out.clientId = requireString(raw.clientId, `${path}.clientId`, fail);

  if (raw.callbackPort !== undefined) {
    const port = raw.callbackPort;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      fail(`${path}.callbackPort`, 'must be an integer from 1 to 65535');
    }
    out.callbackPort = port;
  }

  if (raw.authServerMetadataUrl !== undefined) {
    const p = `${path}.authServerMetadataUrl`;
    const value = requireString(raw.authServerMetadataUrl, p, fail);
    checkHttpsOrLoopback(value, p, fail);
    out.authServerMetadataUrl = value;
  }

  if (raw.scopes !== undefined) {
    const p = `${path}.scopes`;
    const value = requireString(raw.scopes, p, fail);
    const tokens = value.split(' ').filter((t) => t !== '');
    if (tokens.length === 0) fail(p, 'must name at least one scope');
    if (!tokens.every((t) => SCOPE_TOKEN.test(t))) fail(p, 'must be scope names separated by spaces');
    out.scopes = value;
  }

  if (raw.resource !== undefined) {
    const p = `${path}.resource`;
    if (raw.resource === false) {
      out.resource = false;
    } else {
      if (typeof raw.resource !== 'string') fail(p, 'must be a URL string or false');
      const u = parseUrl(raw.resource);
      // RFC 8707 §2: an absolute URI without a fragment.
      if (u === undefined) fail(p, 'must be an absolute URL');
      if (u.hash !== '' || raw.resource.includes('#')) fail(p, 'must not contain a fragment');
      out.resource = raw.resource;
    }
  }

  if (raw.clientMetadataUrl !== undefined) {
    const p = `${path}.clientMetadataUrl`;
    const value = requireString(raw.clientMetadataUrl, p, fail);
    const u = parseUrl(value);
    // Client ID Metadata Documents: https, a path, no fragment, no credentials, no dot segments.
    if (u === undefined || u.protocol !== 'https:') fail(p, 'must be an https URL');
    if (u.pathname === '/' || u.pathname === '') fail(p, 'must have a path (not just "/")');
    if (value.includes('#')) fail(p, 'must not contain a fragment');
    if (u.username !== '' || u.password !== '') fail(p, 'must not contain credentials');
    // The URL parser has already resolved dot segments away, so look at the raw path.
    const rawPath = value.replace(/^https:\/\/[^/?#]*/i, '').split(/[?#]/)[0] ?? '';
    const segments = rawPath.split('/').map((seg) => seg.toLowerCase().replaceAll('%2e', '.'));
    if (segments.some((seg) => seg === '.' || seg === '..')) fail(p, 'must not contain "." or ".." path segments');
    out.clientMetadataUrl = value;
  }

  if (raw.redirectUri !== undefined) {
    const p = `${path}.redirectUri`;
    const value = requireString(raw.redirectUri, p, fail);
    checkHttpsOrLoopback(value, p, fail);
    // RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
    if (value.includes('#')) fail(p, 'must not contain a fragment');
    out.redirectUri = value;
  }

  return out;
}

function validateServerAt(raw: unknown, where: string, hint: string): ServerConfig {
  const fail: Fail = failer(where, hint);
  if (!isPlainObject(raw)) fail('', 'must be an object');
  if ('command' in raw && !('url' in raw)) {
    fail('', 'is a stdio server ("command"); mcp-auth only handles remote http/sse servers');
  }
  checkKeys(raw, SERVER_KEYS, '', fail);

  let type: ServerConfig['type'];
  if (raw.type === undefined) {
    if (raw.url === undefined) fail('', 'needs a "url" (and optionally "type": "http" or "sse")');
    type = 'http';
  } else if (raw.type === 'http' || raw.type === 'sse') {
    type = raw.type;
  } else if (raw.type === 'stdio') {
    fail('.type', 'is "stdio"; mcp-auth only handles remote http/sse servers');
  } else {
    fail('.type', 'must be "http" or "sse"');
  }

  if (raw.url === undefined) fail('.url', 'is required');
  const url = requireString(raw.url, '.url', fail);
  // With placeholders the URL can only be judged after expansion (the engine checks it again).
  if (!url.includes('${')) {
    const u = parseUrl(url);
    if (u === undefined || (u.protocol !== 'https:' && u.protocol !== 'http:')) fail('.url', 'must be an http(s) URL');
  }
  const out: ServerConfig = { type, url };

  if (raw.headers !== undefined) {
    if (!isPlainObject(raw.headers)) fail('.headers', 'must be an object of header names to string values');
    const entries: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(raw.headers)) {
      const p = `.headers.${name}`;
      if (!HEADER_NAME.test(name)) fail('.headers', 'has a name that is not a valid HTTP header name');
      if (typeof value !== 'string') fail(p, 'must be a string');
      if (LINE_BREAK_OR_NUL.test(value)) fail(p, 'must not contain line breaks');
      entries.push([name, value]);
    }
    // fromEntries defines own properties, so a header literally named "__proto__" stays data.
    out.headers = Object.fromEntries(entries);
  }

  if (raw.headersHelper !== undefined) {
    out.headersHelper = requireString(raw.headersHelper, '.headersHelper', fail);
  }

  if (raw.oauth !== undefined) out.oauth = validateOAuth(raw.oauth, '.oauth', fail);

  return out;
}

/**
 * Validates one server definition (also used for `mcp-auth add-json`). `where` names the
 * definition's location and prefixes key paths in messages, e.g. `servers.json: mcpServers.github`
 * gives `servers.json: mcpServers.github.oauth.callbackPort must be an integer from 1 to 65535`.
 * Returns a normalised copy (`type` defaults to `http` when `url` is given).
 *
 * @throws McpAuthError `CONFIG_INVALID` on unknown keys, wrong types and malformed URLs.
 */
export function validateServer(raw: unknown, where: string): ServerConfig {
  return validateServerAt(raw, where, 'Fix the server definition; see the mcp-auth README for its fields');
}

/**
 * Validates a parsed configuration file. Returns a normalised copy.
 * @throws McpAuthError `CONFIG_INVALID` naming `file`, the key path and the problem.
 */
export function validateConfig(raw: unknown, file: string): ConfigFile {
  const hint = `Edit ${file} to fix it`;
  const fail: Fail = failer(`${file}: `, hint);
  if (!isPlainObject(raw)) fail('top level', 'must be a JSON object');
  for (const key of Object.keys(raw)) {
    if (key !== 'mcpServers') fail(key, 'is not a known key');
  }
  if (raw.mcpServers === undefined) return { mcpServers: {} };
  if (!isPlainObject(raw.mcpServers)) fail('mcpServers', 'must be an object of server names to definitions');

  const servers: Array<[string, ServerConfig]> = [];
  for (const [name, def] of Object.entries(raw.mcpServers)) {
    if (!isValidServerName(name)) {
      fail('mcpServers', 'has an invalid server name: use 1 to 64 letters, digits, "_", "." or "-"');
    }
    servers.push([name, validateServerAt(def, `${file}: mcpServers.${name}`, hint)]);
  }
  return { mcpServers: Object.fromEntries(servers) };
}

/**
 * Parses and validates the text of a configuration file.
 * @throws McpAuthError `CONFIG_INVALID` naming `file` (with line and column for JSON syntax errors).
 */
export function parseConfig(text: string, file: string): ConfigFile {
  // Editors on Windows like to prepend a BOM, which JSON.parse rejects.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    // V8's own message quotes part of the input, which may be a secret header value: only the
    // position is taken from it.
    const where = body.trim() === '' ? 'is empty' : `is not valid JSON${jsonErrorLocation(err, body)}`;
    throw new McpAuthError(ErrorCode.ConfigInvalid, `${file} ${where}`, { hint: `Edit ${file} to fix it` });
  }
  return validateConfig(raw, file);
}

function jsonErrorLocation(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : '';
  let offset: number | undefined;
  const pos = /at position (\d+)/.exec(message);
  if (pos?.[1] !== undefined) offset = Number(pos[1]);
  else if (/Unexpected end of JSON input/i.test(message)) offset = text.length;
  const lc = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lc?.[1] !== undefined && lc[2] !== undefined) return ` (line ${lc[1]}, column ${lc[2]})`;
  if (offset === undefined) return '';
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return ` (line ${line}, column ${column})`;
}
