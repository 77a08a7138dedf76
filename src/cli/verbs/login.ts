/**
 * `mcp-auth login <name|url>`: the browser login (or pasted callback URL, or just the printed URL).
 * With `--www-authenticate`, answers a server's 401/403 challenge (refresh or step-up).
 *
 * The daemon owns the login: this command starts or joins it, opens the URL in the user's session
 * (the daemon never opens browsers), relays a callback URL pasted on a terminal, and waits. Ctrl-C
 * leaves the login (the daemon cancels it only when nobody else joined); a killed CLI leaves it
 * running. With `MCP_AUTH_NO_DAEMON=1`, or no daemon ready in time, it all happens in-process.
 */
import { createInterface, type Interface } from 'node:readline';
import type { LoginResponse, PendingLoginView } from '../../api-types.js';
import type { DaemonClient } from '../../client/daemon-client.js';
import { requestEnvFor } from '../../client/request-env.js';
import { resolvePaths, type Paths } from '../../config/paths.js';
import { isValidServerName } from '../../config/schema.js';
import { loadConfig, updateConfig } from '../../config/servers-file.js';
import { ErrorCode, McpAuthError, isMcpAuthError } from '../../errors.js';
import { openBrowser } from '../../oauth/browser.js';
import { describeExpiry } from '../format.js';
import { usageError } from '../errors.js';
import { noExtra, parse, positional } from '../args.js';
import { daemonDisabled, daemonFor, isUnreachable } from '../daemon.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth login [--force] [--no-browser] [--timeout SECONDS] [--www-authenticate VALUE] [--json] <name|url>';
const MAX_TIMEOUT_S = 86_400;
/** Seconds per long-poll of the login's state. */
const WAIT_SECONDS = 30;

interface Options {
  name: string;
  force: boolean;
  noBrowser: boolean;
  challenge: string | undefined;
  timeoutMs: number | undefined;
  json: boolean;
}

/** A URL given instead of a name: the configured server with that URL, else a new entry for it. */
async function nameForUrl(io: CliIO, paths: Paths, url: string): Promise<string> {
  const cfg = await loadConfig(paths);
  const existing = Object.entries(cfg.mcpServers).find(([, s]) => s.url === url);
  if (existing) return existing[0];
  const parsed = URL.parse(url);
  if (!parsed) throw usageError('the target looks like a URL but does not parse as one', `Usage: ${USAGE}`);
  const host = parsed.hostname.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 56) || 'server';
  let chosen = host;
  await updateConfig(paths, (c) => {
    for (let i = 1; c.mcpServers[chosen]; i++) chosen = `${host}_${i}`;
    c.mcpServers[chosen] = { type: 'http', url };
  });
  io.stderr(`Added server "${chosen}" for ${url}.\n`);
  return chosen;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, {
    force: { type: 'boolean' },
    'no-browser': { type: 'boolean' },
    timeout: { type: 'string' },
    'www-authenticate': { type: 'string' },
    json: { type: 'boolean' },
  }, USAGE);
  if (values.help) return io.stdout(`Usage: ${USAGE}\n`), 0;
  const target = positional(positionals, 0, 'server name or URL', USAGE);
  noExtra(positionals, 1, USAGE);
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!Number.isFinite(s) || s <= 0) throw usageError(`--timeout must be a number of seconds, got "${values.timeout}"`);
    // Node timers cannot wait past 2^31-1 ms (~24.8 days): beyond it they fire at once.
    if (s > MAX_TIMEOUT_S) throw usageError(`--timeout must be at most ${MAX_TIMEOUT_S} seconds, got "${values.timeout}"`);
    timeoutMs = s * 1000;
  }
  const paths = resolvePaths(io.env);
  const name = /^https?:\/\//i.test(target) ? await nameForUrl(io, paths, target) : target;
  if (!isValidServerName(name)) throw usageError(`"${name}" is neither a server name nor an http(s) URL`);
  const opts: Options = {
    name,
    force: values.force === true,
    noBrowser: values['no-browser'] === true,
    challenge: values['www-authenticate'] || undefined,
    timeoutMs,
    json: values.json === true,
  };

  const daemon = await daemonFor(io, paths);
  if (daemon) {
    let started: LoginResponse | undefined;
    try {
      const env = await requestEnvFor(paths, name, io.env);
      started = await daemon.client.login(name, { ...(opts.force ? { force: true } : {}), ...(opts.challenge ? { challenge: opts.challenge } : {}) }, env);
    } catch (e) {
      // Only a daemon that never got the request may be replaced by in-process work.
      if (!isUnreachable(e)) throw e;
      io.stderr(`mcp-auth: ${e.message}; logging in without the daemon.\n`);
    }
    if (started) return viaDaemon(io, daemon.client, opts, started);
  } else if (!daemonDisabled(io.env)) {
    io.stderr('mcp-auth: the daemon is not available (see its log); logging in without it.\n');
  }
  return inProcess(io, opts);
}

function announce(io: CliIO, name: string, view: PendingLoginView, interactive: boolean): void {
  if (view.url) io.stderr(`\nTo authorize mcp-auth for "${name}", open this URL in a browser:\n\n  ${view.url}\n\n`);
  if (view.userCode) io.stderr(`Enter the code ${view.userCode} when asked.\n`);
  if (interactive && view.kind === 'browser') io.stderr('Waiting for the browser… (or paste the URL it ends on here and press Enter)\n');
  else io.stderr('Waiting for the browser…\n');
}

function loginError(view: PendingLoginView): McpAuthError {
  if (view.status === 'cancelled') {
    return new McpAuthError((view.error?.code as ErrorCode | undefined) ?? ErrorCode.LoginCancelled, view.error?.message ?? 'the login was cancelled', {
      hint: view.error?.hint ?? `Run: mcp-auth login ${view.server}`,
    });
  }
  const e = view.error;
  return new McpAuthError((e?.code as ErrorCode | undefined) ?? ErrorCode.AuthorizationError, e?.message ?? 'the login failed', e?.hint ? { hint: e.hint } : {});
}

/** Relays pasted callback URLs to the daemon until `stop` is aborted. */
async function relayPasted(io: CliIO, client: DaemonClient, id: string, rl: Interface, stop: AbortSignal): Promise<void> {
  for await (const raw of rl) {
    if (stop.aborted) return;
    const line = raw.trim();
    if (line === '') continue;
    if (!/^https?:\/\//i.test(line)) {
      io.stderr('That is not a URL. Paste the whole address the browser ended on (it starts with http://).\n');
      continue;
    }
    try {
      const view = await client.callback(id, line, { signal: stop });
      if (view.status !== 'pending') return;
    } catch (e) {
      if (stop.aborted) return;
      if (isMcpAuthError(e)) io.stderr(`mcp-auth: ${e.message} [${e.code}]\n${e.hint ? `  hint: ${e.hint}\n` : ''}`);
      else throw e;
    }
  }
}

async function viaDaemon(io: CliIO, client: DaemonClient, opts: Options, res: LoginResponse): Promise<number> {
  const { name } = opts;
  if (res.status === 'unchanged') {
    if (opts.json) io.stdout(JSON.stringify({ server: name, status: 'unchanged', reason: res.reason ?? 'already logged in' }) + '\n');
    else io.stderr(`Nothing to do for "${name}": ${res.reason ?? 'already logged in'}.\n`);
    return 0;
  }
  if (res.status === 'refreshed') {
    if (opts.json) io.stdout(JSON.stringify({ server: name, status: 'refreshed' }) + '\n');
    else io.stderr(`Refreshed the token for "${name}".\n`);
    return 0;
  }
  let view = res.login;
  if (!view) throw new McpAuthError(ErrorCode.Internal, 'the daemon started a login but did not describe it');

  const cancel = new AbortController();
  let cancelled = false;
  const onSignal = (): void => {
    cancelled = true;
    cancel.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rl = io.interactive && view.kind === 'browser' ? createInterface({ input: io.stdin, terminal: false }) : undefined;
  const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
  try {
    if (view.status === 'pending') {
      announce(io, name, view, rl !== undefined);
      if (view.url && !opts.noBrowser) {
        const opened = await openBrowser(view.url, { env: io.env });
        if (!opened.opened) io.stderr(`Could not open a browser (${opened.reason ?? 'unknown reason'}); open the URL above yourself.\n`);
      }
      if (rl) {
        relayPasted(io, client, view.id, rl, cancel.signal).catch((e: unknown) => {
          io.stderr(`mcp-auth: could not relay the pasted URL (${e instanceof Error ? e.message : String(e)})\n`);
        });
      }
    }
    while (view.status === 'pending') {
      if (cancelled) break;
      let wait = WAIT_SECONDS;
      if (deadline !== undefined) {
        const left = deadline - Date.now();
        if (left <= 0) {
          await client.leaveLogin(view.id).catch(() => undefined);
          throw new McpAuthError(ErrorCode.LoginTimeout, `no browser login for "${name}" within ${Math.round(opts.timeoutMs! / 1000)} s`, {
            hint: `Run: mcp-auth login ${name} (and finish the login in the browser)`,
          });
        }
        wait = Math.max(1, Math.min(WAIT_SECONDS, Math.ceil(left / 1000)));
      }
      try {
        view = await client.getLogin(view.id, wait, { signal: cancel.signal });
      } catch (e) {
        if (cancelled) break;
        throw e;
      }
    }
    if (cancelled && view.status === 'pending') {
      await client.leaveLogin(view.id, { timeoutMs: 3_000 }).catch(() => undefined);
      throw new McpAuthError(ErrorCode.LoginCancelled, 'login cancelled', {
        hint: `The daemon finishes it only if another command joined it. Run again: mcp-auth login ${name}`,
      });
    }
    if (view.status !== 'succeeded') throw loginError(view);

    const status = await client.servers().then((all) => all.find((s) => s.name === name)).catch(() => undefined);
    const scope = status?.scope ?? view.scope;
    if (opts.json) {
      io.stdout(JSON.stringify({
        server: name,
        status: 'logged_in',
        ...(scope ? { scope } : {}),
        ...(status?.expiresAt !== undefined ? { expiresAt: status.expiresAt } : {}),
        ...(status?.issuer ? { issuer: status.issuer } : {}),
      }) + '\n');
    } else {
      io.stderr(`Logged in to "${name}". Token ${describeExpiry(status?.expiresAt, Date.now())}${scope ? `; scope: ${scope}` : ''}.\n`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cancel.abort();
    rl?.close();
  }
}

async function inProcess(io: CliIO, opts: Options): Promise<number> {
  const { createBroker } = await import('../context.js');
  const { name } = opts;
  const broker = createBroker(io);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rl = io.interactive ? createInterface({ input: io.stdin, terminal: false }) : undefined;
  try {
    const outcome = await broker.login(name, {
      ...(opts.force ? { force: true } : {}),
      ...(opts.noBrowser ? { noBrowser: true } : {}),
      ...(opts.challenge ? { challenge: opts.challenge } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      signal: abort.signal,
      ...(rl ? { pasted: rl } : {}),
      onAuthorizationUrl: (url) => {
        io.stderr(`\nTo authorize mcp-auth for "${name}", open this URL in a browser:\n\n  ${url}\n\n`);
        if (rl) io.stderr('Waiting for the browser… (or paste the URL it ends on here and press Enter)\n');
        else io.stderr('Waiting for the browser…\n');
      },
    });
    if (opts.json) io.stdout(JSON.stringify({ server: name, ...outcome }) + '\n');
    else if (outcome.status === 'unchanged') io.stderr(`Nothing to do for "${name}": ${outcome.reason}.\n`);
    else if (outcome.status === 'refreshed') io.stderr(`Refreshed the token for "${name}".\n`);
    else if (outcome.expiresAt !== undefined) io.stderr(`Token ${describeExpiry(outcome.expiresAt, Date.now())}${outcome.scope ? `; scope: ${outcome.scope}` : ''}.\n`);
    return 0;
  } catch (e) {
    if (abort.signal.aborted && !(e instanceof McpAuthError)) throw new McpAuthError(ErrorCode.LoginCancelled, 'login cancelled', { cause: e });
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rl?.close();
  }
}
