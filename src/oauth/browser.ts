import type { ChildProcess, spawn as spawnFn } from 'node:child_process';
import { ErrorCode, McpAuthError, redactUrl } from '../errors.js';
import { isLoopbackHost } from '../util/loopback.js';

export interface OpenBrowserDeps {
  /** Where `BROWSER` is read from, and the environment the `BROWSER` command runs with; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Spawner for the `BROWSER` command; defaults to `node:child_process` spawn. */
  spawn?: typeof spawnFn;
  /** Opener used without `BROWSER`; defaults to the `open` package with `{ wait: false }`. */
  openUrl?: (url: string) => Promise<ChildProcess>;
}

export interface OpenBrowserResult {
  opened: boolean;
  /** Why the browser could not be opened; never contains the URL. */
  reason?: string;
}

/** How long a launcher gets to fail before a still-running browser counts as opened. */
const LAUNCH_GRACE_MS = 1_500;

// C0 and C1 controls, DEL, any whitespace, anything outside printable ASCII (bidi overrides and
// look-alikes that spoof a terminal), and characters a shell or cmd.exe would act on. Query
// syntax a real authorization URL needs (% & = + ~ ? / : # [ ] @ , . - _) stays allowed, and so
// does "*": URLSearchParams leaves it unencoded, so a scope like "files:*" produces it.
const UNSAFE_CHARS = /[^\x21-\x7e]|["'`$\\<>|;{}^()!]/;

/**
 * Checks an authorization request URL before it is handed to a browser launcher.
 *
 * RFC 8252 §8.1/§8.12 and RFC 9700 §4.15: the authorization endpoint comes from server metadata
 * an attacker may control, and launchers (`xdg-open`, `cmd /c start`, a user's `BROWSER` script)
 * have a history of interpreting their argument. Only `https:` (or `http:` to loopback) without
 * userinfo is allowed, and the raw string is checked before parsing because the WHATWG parser
 * silently strips or re-encodes the very characters an injection relies on.
 *
 * @throws McpAuthError `UNSAFE_AUTHORIZATION_URL`
 */
export function assertSafeAuthorizationUrl(url: string): URL {
  const refuse = (why: string): McpAuthError =>
    new McpAuthError(ErrorCode.UnsafeAuthorizationUrl, `Refusing to open the authorization URL: ${why}.`, {
      hint: 'The authorization server metadata looks wrong or hostile; check the server and its authorization_endpoint.',
    });
  if (typeof url !== 'string' || url === '') throw refuse('it is empty');
  if (UNSAFE_CHARS.test(url)) {
    throw refuse('it contains whitespace, control or shell-significant characters');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse('it is not a valid URL');
  }
  if (parsed.username !== '' || parsed.password !== '' || parsed.host === '' || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url)) {
    throw refuse(`${redactUrl(parsed)} carries a user name or password`);
  }
  const secure =
    parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname));
  if (!secure) throw refuse(`${redactUrl(parsed)} is neither https nor http to a loopback address`);
  // Normalisation only percent-encodes, so this cannot fire; it guards what is actually launched.
  if (UNSAFE_CHARS.test(parsed.href)) throw refuse('it contains characters that are unsafe to launch');
  return parsed;
}

/**
 * Opens the authorization URL in the user's browser (RFC 8252 §4.1, external user-agent).
 *
 * With `BROWSER` set, it is split on whitespace into argv (never through a shell) and the URL is
 * appended as one argument. Otherwise the `open` package picks the platform launcher. Either way
 * the launcher is watched for ~1.5 s: a spawn failure or non-zero exit (`xdg-open` exits 3 on a
 * machine without a desktop while `open()` still resolves) reports `opened: false`.
 *
 * Never throws for a failed launch — the caller always prints the URL as well — only for an
 * unsafe URL.
 *
 * @throws McpAuthError `UNSAFE_AUTHORIZATION_URL`
 */
export async function openBrowser(url: string, deps: OpenBrowserDeps = {}): Promise<OpenBrowserResult> {
  const target = assertSafeAuthorizationUrl(url).href;
  const env = deps.env ?? process.env;
  const browser = env.BROWSER?.trim();

  if (browser !== undefined && browser !== '') {
    const [command, ...args] = browser.split(/\s+/);
    if (command === undefined || command === '') return { opened: false, reason: 'BROWSER is empty' };
    const spawn = deps.spawn ?? (await import('node:child_process')).spawn;
    let child: ChildProcess;
    try {
      // The given env goes to the browser too: a daemon opening it for a CLI needs that CLI's DISPLAY.
      child = spawn(command, [...args, target], { env, detached: true, stdio: 'ignore', shell: false });
    } catch (err) {
      return { opened: false, reason: `could not start the BROWSER command ${command}: ${describe(err)}` };
    }
    return watchLauncher(child, `the BROWSER command ${command}`);
  }

  let child: ChildProcess;
  try {
    const openUrl = deps.openUrl ?? (await defaultOpenUrl());
    child = await openUrl(target);
  } catch (err) {
    return { opened: false, reason: `could not start the system browser launcher: ${describe(err)}` };
  }
  return watchLauncher(child, 'the system browser launcher');
}

async function defaultOpenUrl(): Promise<(url: string) => Promise<ChildProcess>> {
  // Loaded on demand: most commands never open a browser and should not pay for the import.
  const { default: open } = await import('open');
  return (url) => open(url, { wait: false });
}

function watchLauncher(child: ChildProcess, name: string): Promise<OpenBrowserResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: OpenBrowserResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep a no-op listener: an 'error' after we stop watching must not crash the process.
      child.on('error', () => undefined);
      child.unref();
      resolve(result);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (code === 0) finish({ opened: true });
      else if (code !== null) finish({ opened: false, reason: `${name} exited with code ${code}` });
      else finish({ opened: false, reason: `${name} was killed by ${signal ?? 'a signal'}` });
    };
    const onError = (err: Error): void => {
      finish({ opened: false, reason: `could not start ${name}: ${describe(err)}` });
    };
    const timer = setTimeout(() => finish({ opened: true }), LAUNCH_GRACE_MS);
    child.once('exit', onExit);
    child.once('error', onError);
    // open() may hand back a launcher that has already finished (it awaits it on Windows).
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
  });
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}
