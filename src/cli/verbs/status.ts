/**
 * `mcp-auth status`: is the daemon up (pid, port, uptime) and the state of every server. Does not
 * start a daemon; without one, server states come from the credential store directly.
 */
import type { HealthResponse, ServerStatusView } from '../../api-types.js';
import { connect } from '../../client/autostart.js';
import { resolvePaths } from '../../config/paths.js';
import { describeState } from '../format.js';
import { noExtra, parse } from '../args.js';
import { daemonDisabled, isUnreachable } from '../daemon.js';
import type { CliIO } from '../io.js';
import { VERSION } from '../version.js';

const USAGE = 'mcp-auth status [--json]';

export interface DaemonStatus {
  running: boolean;
  pid?: number;
  port?: number;
  uptimeMs?: number;
  version?: string;
  store?: string;
}

function describeUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d`;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  noExtra(positionals, 0, USAGE);
  const paths = resolvePaths(io.env);

  let daemon: DaemonStatus = { running: false };
  let servers: ServerStatusView[] | undefined;
  const conn = daemonDisabled(io.env) ? undefined : await connect(paths);
  if (conn) {
    try {
      const [health, list] = await Promise.all([conn.client.health(), conn.client.servers()]);
      daemon = describeDaemon(health, conn.runtime.port);
      servers = list;
    } catch (e) {
      if (!isUnreachable(e)) throw e;
    }
  }
  if (servers === undefined) {
    const { createBroker } = await import('../context.js');
    servers = await createBroker(io).list();
  }

  if (values.json) {
    io.stdout(JSON.stringify({ daemon, servers }, null, 2) + '\n');
    return 0;
  }
  if (daemon.running) {
    io.stdout(`daemon: running, pid ${daemon.pid}, 127.0.0.1:${daemon.port}, up ${describeUptime(daemon.uptimeMs ?? 0)}, version ${daemon.version}, store ${daemon.store}\n`);
    if (daemon.version !== VERSION) io.stdout(`  note: this mcp-auth is ${VERSION}; run \`mcp-auth stop\` so the next command starts the same version\n`);
  } else {
    io.stdout(`daemon: not running${daemonDisabled(io.env) ? ' (MCP_AUTH_NO_DAEMON is set)' : ' (the next headers/login/token/logout starts it)'}\n`);
  }
  if (servers.length === 0) {
    io.stdout('No servers configured. Add one: mcp-auth add <name> <url>\n');
    return 0;
  }
  const now = Date.now();
  const width = Math.max(...servers.map((s) => s.name.length));
  for (const s of servers) io.stdout(`${s.name.padEnd(width)}  ${s.url}  ${describeState(s, now)}\n`);
  return 0;
}

function describeDaemon(health: HealthResponse, port: number): DaemonStatus {
  return { running: true, pid: health.pid, port, uptimeMs: health.uptimeMs, version: health.version, store: health.store };
}
