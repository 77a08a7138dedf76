/**
 * `mcp-auth` entry: dispatches to one verb module, imported lazily so each verb loads only what
 * it uses (`headers` runs on every MCP connection and must start fast).
 */
import { reportError, usageError } from './errors.js';
import { processIO, type CliIO } from './io.js';
import { VERSION } from './version.js';

type Verb = { run(args: string[], io: CliIO): Promise<number> };

const VERBS: Record<string, () => Promise<Verb>> = {
  add: () => import('./verbs/add.js'),
  'add-json': () => import('./verbs/add-json.js'),
  list: () => import('./verbs/list.js'),
  get: () => import('./verbs/get.js'),
  remove: () => import('./verbs/remove.js'),
  login: () => import('./verbs/login.js'),
  logout: () => import('./verbs/logout.js'),
  headers: () => import('./verbs/headers.js'),
  token: () => import('./verbs/token.js'),
  'client-metadata': () => import('./verbs/client-metadata.js'),
  serve: () => import('./verbs/serve.js'),
  stop: () => import('./verbs/stop.js'),
  status: () => import('./verbs/status.js'),
};

const HELP = `mcp-auth — one OAuth helper for every MCP client on this machine

Usage: mcp-auth <command> [options]

Servers:
  add <name> <url>          add a remote MCP server (flags as Claude Code's \`mcp add\`)
  add-json <name> '<json>'  add a server from one .mcp.json entry
  list                      servers and their login state (--json)
  get <name>                one server's config and state (--json)
  remove <name>             remove a server and forget its credentials

Credentials:
  login <name|url>          log in through the browser (--no-browser, --force, --www-authenticate)
  logout <name>             revoke and forget the credential
  headers [name]            print request headers as JSON (a drop-in headersHelper)
  token <name>              print the access token
  client-metadata --url U   print a Client ID Metadata Document to host at U

Daemon (started on demand by login, logout, headers and token):
  serve [--port N]          run it in the foreground
  stop                      stop the running daemon
  status                    is it running, and every server's state (--json)
  MCP_AUTH_NO_DAEMON=1      do everything in-process, never start a daemon

Exit codes: 0 ok, 1 error, 2 usage, 3 login required.
Files live under $MCP_AUTH_HOME (default: XDG directories). Run \`mcp-auth <command> --help\`.
`;

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === 'help' || verb === '--help' || verb === '-h') {
    io.stdout(HELP);
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-V' || verb === 'version') {
    io.stdout(`mcp-auth ${VERSION}\n`);
    return 0;
  }
  const json = rest.includes('--json');
  try {
    const load = VERBS[verb];
    if (!load) throw usageError(`unknown command "${verb.slice(0, 40)}"`);
    return await (await load()).run(rest, io);
  } catch (e) {
    return reportError(io, e, json);
  }
}
