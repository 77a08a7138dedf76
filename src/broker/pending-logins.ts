/**
 * Logins owned by a long-lived process (the daemon) rather than by the short-lived client that
 * asked for them: a CLI that dies does not abort the login, a second `login` for the same server
 * joins the first, and the wait allows for MFA.
 */
import { randomBytes } from 'node:crypto';
import type { PendingLoginView } from '../api-types.js';
import { ErrorCode, McpAuthError, isMcpAuthError } from '../errors.js';
import { AsyncQueue } from './async-queue.js';
import type { LoginOptions, LoginOutcome } from './login.js';

/** Minutes, not seconds: people switch devices and type MFA codes. */
export const DAEMON_LOGIN_TIMEOUT_MS = 10 * 60_000;
/** How long a finished login stays visible to late pollers. */
const KEEP_FINISHED_MS = 5 * 60_000;

export type RunLogin = (name: string, opts: LoginOptions) => Promise<LoginOutcome | { status: 'refreshed' }>;

interface Entry {
  view: PendingLoginView;
  joiners: number;
  abort: AbortController;
  pasted: AsyncQueue<string>;
  settled: Promise<void>;
  expireTimer?: NodeJS.Timeout;
}

export type StartResult =
  | { status: 'unchanged'; reason: string }
  | { status: 'refreshed' }
  | { status: 'pending'; login: PendingLoginView };

export class PendingLogins {
  private readonly byId = new Map<string, Entry>();
  private readonly byServer = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Starts a login for `server`, or joins the one already pending. Resolves as soon as the
   * authorization URL exists (or the login turned out to be unnecessary); the login itself goes
   * on in the background until a callback, a timeout or a cancellation.
   */
  async start(server: string, run: RunLogin, opts: Pick<LoginOptions, 'force' | 'challenge'>, timeoutMs = DAEMON_LOGIN_TIMEOUT_MS): Promise<StartResult> {
    const existingId = this.byServer.get(server);
    const existing = existingId ? this.byId.get(existingId) : undefined;
    if (existing && existing.view.status === 'pending') {
      existing.joiners++;
      return { status: 'pending', login: { ...existing.view } };
    }

    const id = randomBytes(16).toString('base64url');
    const abort = new AbortController();
    const pasted = new AsyncQueue<string>();
    let urlReady!: (url: string) => void;
    const urlPromise = new Promise<string>((resolve) => (urlReady = resolve));
    const task = run(server, {
      ...opts,
      noBrowser: true,
      signal: abort.signal,
      pasted,
      timeoutMs,
      onAuthorizationUrl: urlReady,
    });
    task.catch(() => undefined);

    const first = await Promise.race([urlPromise.then((url) => ({ url })), task.then((outcome) => ({ outcome }))]);
    if ('outcome' in first) {
      pasted.close();
      const o = first.outcome;
      if (o.status === 'logged_in') {
        // Finished without a browser round trip (cannot happen today; kept total for safety).
        return { status: 'unchanged', reason: 'logged in' };
      }
      return o.status === 'refreshed' ? { status: 'refreshed' } : { status: 'unchanged', reason: o.reason };
    }

    const redirectUri = new URL(first.url).searchParams.get('redirect_uri') ?? undefined;
    const view: PendingLoginView = {
      id,
      server,
      kind: 'browser',
      status: 'pending',
      url: first.url,
      expiresAt: this.now() + timeoutMs,
      ...(redirectUri ? { redirectUri } : {}),
    };
    const entry: Entry = {
      view,
      joiners: 1,
      abort,
      pasted,
      settled: task.then(
        (outcome) => {
          view.status = 'succeeded';
          if (outcome.status === 'logged_in' && outcome.scope) view.scope = outcome.scope;
        },
        (e: unknown) => {
          view.status = isMcpAuthError(e, ErrorCode.LoginCancelled) ? 'cancelled' : 'failed';
          const err = isMcpAuthError(e) ? e : new McpAuthError(ErrorCode.Internal, 'unexpected error during login');
          view.error = { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
        },
      ).finally(() => {
        pasted.close();
        entry.expireTimer = setTimeout(() => this.forget(id), KEEP_FINISHED_MS);
        entry.expireTimer.unref();
      }),
    };
    this.byId.set(id, entry);
    this.byServer.set(server, id);
    return { status: 'pending', login: { ...view } };
  }

  get(id: string): PendingLoginView | undefined {
    const e = this.byId.get(id);
    return e ? { ...e.view } : undefined;
  }

  /** Resolves when the login is no longer pending, or after `timeoutMs` with its current view. */
  async wait(id: string, timeoutMs: number): Promise<PendingLoginView | undefined> {
    const e = this.byId.get(id);
    if (!e) return undefined;
    if (e.view.status === 'pending') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([e.settled, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    return { ...e.view };
  }

  /** Relays a callback URL the person pasted; waits briefly for the login to settle on it. */
  async submit(id: string, url: string): Promise<PendingLoginView> {
    const e = this.byId.get(id);
    if (!e) throw notFound();
    if (e.view.status !== 'pending') return { ...e.view };
    e.pasted.push(url);
    return (await this.wait(id, 10_000)) ?? { ...e.view };
  }

  /** One caller gives up; the login is cancelled only when nobody else is waiting for it. */
  leave(id: string): void {
    const e = this.byId.get(id);
    if (!e || e.view.status !== 'pending') return;
    e.joiners--;
    if (e.joiners <= 0) e.abort.abort();
  }

  async close(): Promise<void> {
    for (const e of this.byId.values()) {
      if (e.view.status === 'pending') e.abort.abort();
      clearTimeout(e.expireTimer);
    }
    await Promise.allSettled([...this.byId.values()].map((e) => e.settled));
  }

  private forget(id: string): void {
    const e = this.byId.get(id);
    if (!e) return;
    this.byId.delete(id);
    if (this.byServer.get(e.view.server) === id) this.byServer.delete(e.view.server);
  }
}

function notFound(): McpAuthError {
  return new McpAuthError(ErrorCode.LoginNotFound, 'no such login (it may have finished more than five minutes ago)', {
    hint: 'Start a new one: mcp-auth login <name>',
  });
}
