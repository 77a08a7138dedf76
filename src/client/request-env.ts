/**
 * Which of the caller's environment variables travel with a request to the daemon: the daemon
 * serves every process of the user and never adopts one caller's environment, so each request
 * lends exactly what that server's definition references — the `${VAR}` / `${VAR:-default}` names
 * in its `url`, header values and `headersHelper` — plus `MCP_CLIENT_SECRET` when it is set.
 *
 * So, with the daemon, `${VAR}` values and `MCP_CLIENT_SECRET` come from the calling process: they
 * are sent with each request (headers, token, login, challenge, logout) for that one server only,
 * and the daemon forgets them when the request ends. A caller that does not have a variable gets
 * the unset-variable error (CONFIG_INVALID), never another caller's value. A `headersHelper` runs
 * in the daemon, with the daemon's own environment plus the values lent with that request. (An
 * autostarted daemon's own environment is only the short allow-list in autostart.ts, `INHERITED`:
 * paths, locale, session bus, CA certificates and proxies.)
 *
 * Reads `servers.json` with `node:fs` and a regular expression, without the config schema: this
 * runs on the `mcp-auth headers` hot path, and the daemon validates the config anyway.
 */
import { readFile } from 'node:fs/promises';
import type { RequestEnv } from '../api-types.js';
import type { Paths } from '../config/paths.js';

/** Same grammar as src/config/expand.ts. */
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g;
/** Variables that go with every request when the caller has them. */
export const ALWAYS_LENT = ['MCP_CLIENT_SECRET'] as const;

function strings(server: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof server.url === 'string') out.push(server.url);
  if (typeof server.headersHelper === 'string') out.push(server.headersHelper);
  const headers = server.headers;
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
    for (const v of Object.values(headers)) if (typeof v === 'string') out.push(v);
  }
  return out;
}

/** The `${VAR}` names one server definition references, in order of first use. */
export function referencedVariables(server: unknown): string[] {
  if (typeof server !== 'object' || server === null || Array.isArray(server)) return [];
  const names = new Set<string>();
  for (const s of strings(server as Record<string, unknown>)) {
    for (const m of s.matchAll(PLACEHOLDER)) names.add(m[1]!);
  }
  return [...names];
}

/** The server definition named `name` in parsed `servers.json` content, if any. */
export function serverDefinition(config: unknown, name: string): unknown {
  if (typeof config !== 'object' || config === null) return undefined;
  const servers = (config as { mcpServers?: unknown }).mcpServers;
  if (typeof servers !== 'object' || servers === null) return undefined;
  return Object.hasOwn(servers, name) ? (servers as Record<string, unknown>)[name] : undefined;
}

/**
 * The subset of `env` to lend for a request about `name`, given the parsed config: the variables
 * its definition references that are set (an empty value counts: `${VAR:-d}` treats it as unset
 * itself), and `MCP_CLIENT_SECRET`.
 */
export function selectRequestEnv(config: unknown, name: string, env: NodeJS.ProcessEnv): RequestEnv {
  const out: RequestEnv = {};
  for (const v of referencedVariables(serverDefinition(config, name))) {
    const value = env[v];
    if (value !== undefined) out[v] = value;
  }
  for (const v of ALWAYS_LENT) {
    const value = env[v];
    if (value !== undefined && value !== '') out[v] = value;
  }
  return out;
}

/**
 * {@link selectRequestEnv} over the config file on disk. A missing or unparsable config lends
 * only `MCP_CLIENT_SECRET`: the daemon reports the config problem itself.
 */
export async function requestEnvFor(paths: Pick<Paths, 'configFile'>, name: string, env: NodeJS.ProcessEnv): Promise<RequestEnv> {
  let config: unknown;
  try {
    config = JSON.parse(await readFile(paths.configFile, 'utf8'));
  } catch {
    config = undefined;
  }
  return selectRequestEnv(config, name, env);
}
