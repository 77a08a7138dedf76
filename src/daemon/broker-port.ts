/**
 * The part of the broker the daemon calls. The real `Broker` (src/broker/broker.ts) satisfies it
 * structurally; naming only what the routes use keeps the daemon honest about its dependencies and
 * lets tests hand in a double where the real thing would need a live authorization server.
 */
import type { ChallengeResponse, LoginResponse, PendingLoginView, ServerStatusView } from '../api-types.js';
import type { HeadersView } from '../broker/broker.js';

export interface DaemonBroker {
  readonly deps: { readonly store: { readonly backend: string } };
  /** The same shared state (store, locks, pending logins) with the caller's env lent for one request. */
  forRequest(env?: Record<string, string>): DaemonBroker;
  list(): Promise<ServerStatusView[]>;
  headers(name: string): Promise<Record<string, string>>;
  /**
   * What `headers(name)` would answer, when the broker can tell at once from what it holds (and
   * has just checked to be current), possibly a shared frozen object; `undefined` otherwise. Optional: a broker without it always
   * goes through `headers`.
   */
  cachedHeaders?(name: string, view?: HeadersView): Readonly<Record<string, string>> | undefined;
  /**
   * The broker's files checked current now (a `stat` each), for `cachedHeaders` calls on behalf of
   * requests received before this call; `undefined` when they changed or cannot be checked at once.
   */
  peekView?(): HeadersView | undefined;
  challenge(name: string, req: { status: 401 | 403; wwwAuthenticate: string; tokenHash?: string }): Promise<ChallengeResponse>;
  startLogin(name: string, opts: { force?: boolean; challenge?: string }): Promise<LoginResponse>;
  getLogin(id: string): PendingLoginView | undefined;
  waitLogin(id: string, timeoutMs: number): Promise<PendingLoginView | undefined>;
  submitCallback(id: string, url: string): Promise<PendingLoginView>;
  leaveLogin(id: string): void;
  logout(name: string): Promise<{ loggedOut: boolean; revoked: boolean }>;
  startBackgroundRefresh(): void;
  close(): Promise<void>;
}
