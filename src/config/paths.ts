import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** Every file and directory mcp-auth uses. All paths are absolute. */
export interface Paths {
  /** The mcp-auth home: `MCP_AUTH_HOME`, else the config directory. */
  home: string;
  /** Server definitions, `servers.json`. */
  configFile: string;
  /** The file-backed credential store, `credentials.json`. */
  credentialsFile: string;
  /** Lock files. */
  locksDir: string;
  /** Directory of the runtime file (kept at mode 0700 by whoever creates it). */
  runtimeDir: string;
  /** `daemon.json`: pid, port and API token of the running daemon. */
  runtimeFile: string;
  /** The daemon's log. */
  logFile: string;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** XDG base directories must be absolute; the spec says to ignore a relative one. */
function xdgDir(value: string | undefined): string | undefined {
  const v = nonEmpty(value);
  return v !== undefined && isAbsolute(v) ? v : undefined;
}

/**
 * Resolves where mcp-auth keeps its files. With `MCP_AUTH_HOME` everything lives under that one
 * directory (tests, CI, portable setups). Otherwise the XDG Base Directory layout: config in
 * `$XDG_CONFIG_HOME/mcp-auth`, credentials and locks in `$XDG_DATA_HOME/mcp-auth`, the runtime file
 * in `$XDG_RUNTIME_DIR/mcp-auth` (else `<data>/run`), the log in `$XDG_STATE_HOME/mcp-auth`.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const custom = nonEmpty(env.MCP_AUTH_HOME);
  if (custom !== undefined) {
    const home = resolve(custom);
    const runtimeDir = join(home, 'run');
    return {
      home,
      configFile: join(home, 'servers.json'),
      credentialsFile: join(home, 'credentials.json'),
      locksDir: join(home, 'locks'),
      runtimeDir,
      runtimeFile: join(runtimeDir, 'daemon.json'),
      logFile: join(home, 'daemon.log'),
    };
  }

  const userHome = nonEmpty(env.HOME) ?? homedir();
  const configDir = join(xdgDir(env.XDG_CONFIG_HOME) ?? join(userHome, '.config'), 'mcp-auth');
  const dataDir = join(xdgDir(env.XDG_DATA_HOME) ?? join(userHome, '.local', 'share'), 'mcp-auth');
  const stateDir = join(xdgDir(env.XDG_STATE_HOME) ?? join(userHome, '.local', 'state'), 'mcp-auth');
  const xdgRuntime = xdgDir(env.XDG_RUNTIME_DIR);
  const runtimeDir = xdgRuntime !== undefined ? join(xdgRuntime, 'mcp-auth') : join(dataDir, 'run');
  return {
    home: configDir,
    configFile: join(configDir, 'servers.json'),
    credentialsFile: join(dataDir, 'credentials.json'),
    locksDir: join(dataDir, 'locks'),
    runtimeDir,
    runtimeFile: join(runtimeDir, 'daemon.json'),
    logFile: join(stateDir, 'daemon.log'),
  };
}
