/**
 * `${VAR}` and `${VAR:-default}` expansion in server definitions, as `.mcp.json` users know it.
 */
import { ErrorCode, McpAuthError } from '../errors.js';
import type { ServerConfig } from './schema.js';

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
// eslint-disable-next-line no-control-regex
const LINE_BREAK_OR_NUL = /[\r\n\0]/;

function expandString(value: string, env: NodeJS.ProcessEnv, key: string): string {
  // One pass with a replacer: text coming from a variable is never scanned again, so a value
  // containing "${OTHER}" cannot pull in further variables.
  return value.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
    const v = env[name];
    if (fallback !== undefined) return v === undefined || v === '' ? fallback : v;
    if (v === undefined) {
      throw new McpAuthError(ErrorCode.ConfigInvalid, `Environment variable ${name} used in ${key} is not set`, {
        hint: `Export ${name}, or write \${${name}:-default} in the server definition`,
      });
    }
    return v;
  });
}

/**
 * Returns a copy of `server` with `${VAR}` / `${VAR:-default}` expanded in `url`, header values and
 * `headersHelper` — nowhere else. `:-` uses the default when the variable is unset or empty (as in
 * POSIX shells). `$$` and a lone `$` are left as they are.
 *
 * @throws McpAuthError `CONFIG_INVALID` naming the variable and the key when a variable without a
 *   default is unset, or when an expanded header value contains a line break (header injection).
 */
export function expandServer(server: ServerConfig, env: NodeJS.ProcessEnv): ServerConfig {
  const out: ServerConfig = { ...server, url: expandString(server.url, env, 'url') };
  if (server.headers !== undefined) {
    out.headers = Object.fromEntries(
      Object.entries(server.headers).map(([name, value]) => {
        const key = `headers.${name}`;
        const expanded = expandString(value, env, key);
        if (LINE_BREAK_OR_NUL.test(expanded)) {
          throw new McpAuthError(ErrorCode.ConfigInvalid, `${key} contains a line break after expansion`, {
            hint: 'Remove line breaks from the environment variables it uses',
          });
        }
        return [name, expanded];
      }),
    );
  }
  if (server.headersHelper !== undefined) {
    out.headersHelper = expandString(server.headersHelper, env, 'headersHelper');
  }
  return out;
}

/**
 * Whether {@link expandServer} could give a different result in another environment: true when
 * `url`, a header value or `headersHelper` contains `${` (the start of every placeholder). When
 * false, expansion depends on `server` alone, so its result may be reused for any environment.
 */
export function usesEnvironment(server: ServerConfig): boolean {
  if (server.url.includes('${')) return true;
  if (server.headersHelper !== undefined && server.headersHelper.includes('${')) return true;
  if (server.headers !== undefined) {
    for (const name in server.headers) {
      if (Object.hasOwn(server.headers, name) && server.headers[name]!.includes('${')) return true;
    }
  }
  return false;
}
