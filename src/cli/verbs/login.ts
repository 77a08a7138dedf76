/**
 * `mcp-auth login <name|url>`: the browser login (or pasted callback URL, or just the printed URL).
 * With `--www-authenticate`, answers a server's 401/403 challenge (refresh or step-up).
 */
import { createInterface } from 'node:readline';
import { resolvePaths } from '../../config/paths.js';
import { isValidServerName } from '../../config/schema.js';
import { loadConfig, updateConfig } from '../../config/servers-file.js';
import { ErrorCode, McpAuthError } from '../../errors.js';
import { createBroker } from '../context.js';
import { describeExpiry } from '../format.js';
import { usageError } from '../errors.js';
import { noExtra, parse, positional } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = 'mcp-auth login [--force] [--no-browser] [--timeout SECONDS] [--www-authenticate VALUE] [--json] <name|url>';

/** A URL given instead of a name: the configured server with that URL, else a new entry for it. */
async function nameForUrl(io: CliIO, url: string): Promise<string> {
  const paths = resolvePaths(io.env);
  const cfg = await loadConfig(paths);
  const existing = Object.entries(cfg.mcpServers).find(([, s]) => s.url === url);
  if (existing) return existing[0];
  const host = new URL(url).hostname.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 56) || 'server';
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
    timeoutMs = s * 1000;
  }
  const name = /^https?:\/\//i.test(target) ? await nameForUrl(io, target) : target;
  if (!isValidServerName(name)) throw usageError(`"${name}" is neither a server name nor an http(s) URL`);

  const broker = createBroker(io);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rl = io.interactive ? createInterface({ input: io.stdin, terminal: false }) : undefined;
  try {
    const outcome = await broker.login(name, {
      ...(values.force ? { force: true } : {}),
      ...(values['no-browser'] ? { noBrowser: true } : {}),
      ...(values['www-authenticate'] ? { challenge: values['www-authenticate'] } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      signal: abort.signal,
      ...(rl ? { pasted: rl } : {}),
      onAuthorizationUrl: (url) => {
        io.stderr(`\nTo authorize mcp-auth for "${name}", open this URL in a browser:\n\n  ${url}\n\n`);
        if (rl) io.stderr('Waiting for the browser… (or paste the URL it ends on here and press Enter)\n');
        else io.stderr('Waiting for the browser…\n');
      },
    });
    if (values.json) io.stdout(JSON.stringify({ server: name, ...outcome }) + '\n');
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
