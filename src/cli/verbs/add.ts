/**
 * `mcp-auth add <name> <url>`: flags as Claude Code's `mcp add` for remote servers.
 */
import type { OAuthConfig, ServerConfig } from '../../config/schema.js';
import { usageError } from '../errors.js';
import { noExtra, parse, portFlag, positional } from '../args.js';
import type { CliIO } from '../io.js';
import { saveServer } from './save-server.js';

const USAGE = 'mcp-auth add [--transport http|sse] [--header "K: V"]... [--client-id ID] [--client-secret] [--callback-port N] [--scope "a b"] [--auth-server-metadata-url URL] [--client-metadata-url URL] [--redirect-uri URI] [--resource URI | --no-resource] [--headers-helper CMD] [--force] <name> <url>';

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {
    transport: { type: 'string', short: 't' },
    header: { type: 'string', short: 'H', multiple: true },
    'client-id': { type: 'string' },
    'client-secret': { type: 'boolean' },
    'callback-port': { type: 'string' },
    scope: { type: 'string' },
    'auth-server-metadata-url': { type: 'string' },
    'client-metadata-url': { type: 'string' },
    'redirect-uri': { type: 'string' },
    resource: { type: 'string' },
    'no-resource': { type: 'boolean' },
    'headers-helper': { type: 'string' },
    force: { type: 'boolean' },
  }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const name = positional(positionals, 0, 'server name', USAGE);
  const url = positional(positionals, 1, 'server URL', USAGE);
  noExtra(positionals, 2, USAGE);

  const type = values.transport ?? 'http';
  if (type !== 'http' && type !== 'sse') throw usageError(`--transport must be http or sse (stdio servers need no login), got "${type}"`);
  if (values.resource && values['no-resource']) throw usageError('--resource and --no-resource exclude each other');

  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw usageError(`--header must look like "Name: value", got "${h.split(':')[0]}…"`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }

  const oauth: OAuthConfig = {};
  if (values['client-id']) oauth.clientId = values['client-id'];
  const port = portFlag(values['callback-port']);
  if (port !== undefined) oauth.callbackPort = port;
  if (values.scope) oauth.scopes = values.scope;
  if (values['auth-server-metadata-url']) oauth.authServerMetadataUrl = values['auth-server-metadata-url'];
  if (values['client-metadata-url']) oauth.clientMetadataUrl = values['client-metadata-url'];
  if (values['redirect-uri']) oauth.redirectUri = values['redirect-uri'];
  if (values.resource) oauth.resource = values.resource;
  if (values['no-resource']) oauth.resource = false;

  const server: ServerConfig = { type, url };
  if (Object.keys(headers).length) server.headers = headers;
  if (values['headers-helper']) server.headersHelper = values['headers-helper'];
  if (Object.keys(oauth).length) server.oauth = oauth;

  await saveServer(io, name, server, { clientSecret: values['client-secret'] === true, force: values.force === true });
  return 0;
}
