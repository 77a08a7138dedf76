/**
 * The broker turns a server name into request headers, and owns the use cases around it: login,
 * step-up, logout and status. The CLI calls it in-process; the daemon owns one long-lived instance
 * whose shared state (single-flight refreshes, pending logins, recent use) serves every client.
 */
import { expandServer, usesEnvironment } from '../config/expand.js';
import type { ConfigFile, ServerConfig } from '../config/schema.js';
import { getServer, loadConfigShared, peekConfigShared } from '../config/servers-file.js';
import { ErrorCode, McpAuthError, isMcpAuthError } from '../errors.js';
import { mergeHeaders } from '../helpers/headers-helper.js';
import { bearerChallenge } from '../oauth/challenge.js';
import { revokeToken } from '../oauth/grants.js';
import { clientSecretKey, serverStateKey } from '../store/key.js';
import type { CredentialStore } from '../store/types.js';
import type { ChallengeResponse, LoginResponse, PendingLoginView, ServerStatusView } from '../api-types.js';
import { holdsAll } from '../oauth/scopes.js';
import { createCallbackHub } from '../oauth/callback-hub.js';
import type { BrokerDeps } from './deps.js';
import { freshCredential, loginRequired, tokenHash, type FreshTokenOptions } from './fresh-token.js';
import { PendingLogins } from './pending-logins.js';
import { SingleFlight } from './single-flight.js';
import { clearAttempts, currentCredential, login, type LoginOptions, type LoginOutcome } from './login.js';
import { readCredential, readServerState, type CredentialRecord, type ServerState } from './records.js';
import { isExpired, needsRefresh } from './refresh-policy.js';
import { clientSecretForState } from './client-identity.js';


/** A server's login state: the API's view of it (api-types.ts) is the one definition. */
export type ServerStatus = ServerStatusView;
export type AuthState = ServerStatusView['state'];

/** Identifies one stored credential (its refresh token, else its access token) without keeping a token. */
function fingerprint(cred: CredentialRecord): string {
  return tokenHash(cred.refreshToken ?? cred.accessToken);
}

function hasExplicitAuthorization(headers: Record<string, string> | undefined): boolean {
  return Object.keys(headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
}

/** How often the background refresher looks, and how far ahead of callers it refreshes. */
const REFRESH_TICK_MS = 15_000;
const REFRESH_AHEAD_MS = 45_000;
/** Credentials used within this window are kept fresh in the background; idle ones are not. */
const RECENT_USE_MS = 30 * 60_000;
/** Longest wait between background attempts while an authorization server keeps failing. */
const MAX_BACKOFF_MS = 5 * 60_000;

/** Where the headers path reads records from: the store, or one snapshot of it. */
type RecordSource = Pick<CredentialStore, 'get'>;

/** servers.json and the store's records, both checked current at one moment ({@link Broker.peekView}). */
export interface HeadersView {
  readonly cfg: Readonly<ConfigFile>;
  readonly records: ReadonlyMap<string, string>;
}

/** Bound on the per-key memos (one or two records per configured server in practice). */
const MAX_PARSED = 10_000;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** State that outlives one request: what makes a daemon more than N CLIs. */
export class BrokerShared {
  readonly refreshes = new SingleFlight<CredentialRecord>();
  readonly logins: PendingLogins;
  /** server name → last time its headers were asked for. */
  readonly lastUsed = new Map<string, number>();
  /** server name → when the background refresher may try again after a failure (doubling delay). */
  readonly backoff = new Map<string, { delay: number; until: number }>();
  /** Hashes of tokens obtained by a challenge-driven refresh: rejected again → login required. */
  readonly refreshedAfterChallenge = new Set<string>();
  /**
   * credential key → fingerprint of the stored credential a refresh found unusable (LOGIN_REQUIRED,
   * e.g. invalid_grant): `status` shows it as login_required until a new credential replaces it.
   */
  readonly loginRequired = new Map<string, string>();
  /**
   * server name → the login start in progress. PendingLogins.start registers a login only once its
   * authorization URL exists (after discovery and registration): a second start during that time
   * must wait for the first and join it, not begin a second login.
   */
  readonly loginStarts = new Map<string, Promise<unknown>>();
  /** Fixed-port callback listeners shared by concurrent logins (set by the first Broker). */
  callbacks: BrokerDeps['startCallbackListener'] | undefined;
  timer: NodeJS.Timeout | undefined;
  /**
   * The last parse of each record read on the headers path, reused while the store hands back the
   * same text (the file store returns the very same string while its file is unchanged). Frozen:
   * every request sees the same object.
   */
  readonly parsed = new Map<string, { text: string; value: unknown }>();
  /** server name → its ServerState key (a sha256 per request otherwise). */
  readonly stateKeys = new Map<string, string>();
  /**
   * Shared config object (frozen; replaced whenever servers.json changes) → server name → its
   * expansion, for servers whose expansion does not depend on the environment (no `${`): the same
   * for every caller and every lent env. Entries go with their config object.
   */
  readonly expanded = new WeakMap<Readonly<ConfigFile>, Map<string, ServerConfig>>();
  /** Memoised credential record (frozen, see `parsed`) → its `{ Authorization: "Bearer …" }` (frozen). */
  readonly bearers = new WeakMap<CredentialRecord, Readonly<Record<string, string>>>();

  constructor(now: () => number) {
    this.logins = new PendingLogins(now);
  }
}

export class Broker {
  readonly shared: BrokerShared;

  constructor(readonly deps: BrokerDeps, shared?: BrokerShared) {
    this.shared = shared ?? new BrokerShared(deps.now);
    this.shared.callbacks ??= createCallbackHub(deps.startCallbackListener);
  }

  /**
   * The same broker with a caller's environment lent for one request (`${VAR}` values,
   * `MCP_CLIENT_SECRET`): it serves that request only, and is never kept.
   */
  forRequest(env?: Record<string, string>): Broker {
    if (!env || Object.keys(env).length === 0) return this;
    return new Broker({ ...this.deps, env: { ...this.deps.env, ...env } }, this.shared);
  }

  /**
   * `read(store, key)` (readCredential, readServerState: parse and validate) over the record's
   * current text, reusing the previous parse when the text is unchanged. Errors are never kept.
   */
  private async readParsed<T extends object>(
    source: RecordSource,
    key: string,
    read: (store: CredentialStore, key: string) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const memo = this.shared.parsed;
    const text = await source.get(key);
    if (text === undefined) {
      memo.delete(key);
      return undefined;
    }
    const hit = memo.get(key);
    if (hit !== undefined && hit.text === text) return hit.value as T;
    // Parsed from exactly the text compared above, by the same code as every other read.
    const value = await read({ get: async () => text } as unknown as CredentialStore, key);
    if (value === undefined) return undefined;
    if (memo.size >= MAX_PARSED && !memo.has(key)) memo.clear();
    memo.set(key, { text, value: deepFreeze(value) });
    return value;
  }

  /**
   * The store as one consistent read for the rest of a request, where the store offers it (the
   * file store: one check of its file for all the records a request reads); else the store.
   */
  private async snapshot(): Promise<RecordSource> {
    return this.deps.store.snapshot ? this.deps.store.snapshot() : this.deps.store;
  }

  private stateKey(name: string): string {
    let key = this.shared.stateKeys.get(name);
    if (key === undefined) {
      if (this.shared.stateKeys.size >= MAX_PARSED) this.shared.stateKeys.clear();
      key = serverStateKey(name);
      this.shared.stateKeys.set(name, key);
    }
    return key;
  }

  /** A usable credential; concurrent callers in this process share one refresh. */
  private async credential(name: string, state: ServerState, opts: FreshTokenOptions = {}, source: RecordSource = this.deps.store): Promise<CredentialRecord> {
    const cred = await this.readParsed(source, state.credentialKey, readCredential);
    if (cred?.loginRequiredAt !== undefined) throw loginRequired(name, 'the authorization server ended this login (invalid_grant)');
    if (cred && !opts.force && !needsRefresh(cred, this.deps.now(), opts.aheadMs)) return cred;
    return this.refresh(name, state, cred, opts);
  }

  /**
   * One refresh shared by concurrent callers. A LOGIN_REQUIRED outcome marks the credential `seen`
   * (what the caller read) so `status` shows login_required until a new credential replaces it.
   */
  private refresh(name: string, state: ServerState, seen: CredentialRecord | undefined, opts: FreshTokenOptions): Promise<CredentialRecord> {
    return this.shared.refreshes.run(state.credentialKey, () => freshCredential(this.deps, name, state, opts)).catch((e: unknown) => {
      if (seen && isMcpAuthError(e, ErrorCode.LoginRequired)) this.shared.loginRequired.set(state.credentialKey, fingerprint(seen));
      throw e;
    });
  }

  /**
   * The server's config with `${VAR}` expanded from the caller's environment. The config is the
   * shared, change-checked copy (servers-file.ts): an edit of servers.json is seen by the next call.
   */
  async server(name: string): Promise<ServerConfig> {
    return this.expandedServer(await loadConfigShared(this.deps.paths), name);
  }

  /**
   * `expandServer(getServer(cfg, name), env)`, reused for the life of `cfg` when the server uses
   * no `${VAR}` (then the result is the same in every environment). Read-only (frozen).
   * @throws as getServer and expandServer do (never cached).
   */
  private expandedServer(cfg: Readonly<ConfigFile>, name: string): ServerConfig {
    const server = getServer(cfg, name);
    if (usesEnvironment(server)) return expandServer(server, this.deps.env);
    let byName = this.shared.expanded.get(cfg);
    if (byName === undefined) {
      byName = new Map();
      this.shared.expanded.set(cfg, byName);
    }
    let out = byName.get(name);
    if (out === undefined) {
      out = deepFreeze(expandServer(server, this.deps.env));
      byName.set(name, out);
    }
    return out;
  }

  /** The memoised parse of `key`'s record in `records`, if that exact text was parsed before. */
  private memoized<T>(records: ReadonlyMap<string, string>, key: string): T | undefined {
    const text = records.get(key);
    if (text === undefined) return undefined;
    const hit = this.shared.parsed.get(key);
    return hit !== undefined && hit.text === text ? (hit.value as T) : undefined;
  }

  /**
   * servers.json and the store as of now (a `stat` of each, in that order), when both are unchanged
   * since they were last read and parsed; else `undefined` (or when the store cannot tell at once).
   * What {@link cachedHeaders} answers from: one view may serve every request received before it
   * was taken.
   */
  peekView(): HeadersView | undefined {
    const store = this.deps.store;
    if (!store.peekSnapshot) return undefined;
    const cfg = peekConfigShared(this.deps.paths);
    if (cfg === undefined) return undefined;
    const records = store.peekSnapshot();
    return records === undefined ? undefined : { cfg, records };
  }

  /**
   * {@link headers} without waiting, in the common case only: a logged-in OAuth server with no
   * static headers and no headersHelper, whose config and records are unchanged since they were
   * last read and parsed (checked by {@link peekView}, now unless a view taken after the request
   * arrived is passed), and
   * whose token needs no refresh. Returns exactly what `headers` would; `undefined` whenever
   * anything else holds (the caller then calls `headers`, which handles every case, reads what
   * changed and reports errors).
   */
  cachedHeaders(name: string, view: HeadersView | undefined = this.peekView()): Readonly<Record<string, string>> | undefined {
    if (view === undefined) return undefined;
    const { cfg, records } = view;
    if (!Object.hasOwn(cfg.mcpServers, name)) return undefined;
    let server: ServerConfig;
    try {
      server = this.expandedServer(cfg, name);
    } catch {
      return undefined;
    }
    if (server.oauth === false || server.headers !== undefined || server.headersHelper !== undefined) return undefined;
    const state = this.memoized<ServerState>(records, this.stateKey(name));
    if (state === undefined || state.serverUrl !== server.url) return undefined;
    const cred = this.memoized<CredentialRecord>(records, state.credentialKey);
    const now = this.deps.now();
    if (cred === undefined || cred.loginRequiredAt !== undefined || needsRefresh(cred, now)) return undefined;
    this.shared.lastUsed.set(name, now);
    let bearer = this.shared.bearers.get(cred);
    if (bearer === undefined) {
      bearer = Object.freeze({ Authorization: `Bearer ${cred.accessToken}` });
      this.shared.bearers.set(cred, bearer);
    }
    return bearer;
  }

  private async loggedInState(name: string, server: ServerConfig, source: RecordSource = this.deps.store): Promise<ServerState | undefined> {
    const state = await this.readParsed(source, this.stateKey(name), readServerState);
    return state && state.serverUrl === server.url ? state : undefined;
  }

  /**
   * The headers to send to `name`: the OAuth bearer token (refreshed if due), then the config's
   * static headers, then the headersHelper's output — later layers win, so an explicit user
   * setting beats what login produced. Never opens a browser.
   */
  async headers(name: string): Promise<Record<string, string>> {
    const server = this.expandedServer(await loadConfigShared(this.deps.paths), name);
    const helper = server.headersHelper
      ? await this.deps.runHeadersHelper(server.headersHelper, { serverName: name, serverUrl: server.url, env: this.deps.env })
      : undefined;
    let bearer: Record<string, string> | undefined;
    if (server.oauth !== false) {
      // The state and its credential from one read of the store.
      const records = await this.snapshot();
      const state = await this.loggedInState(name, server, records);
      if (state) {
        this.shared.lastUsed.set(name, this.deps.now());
        const cred = await this.credential(name, state, {}, records);
        bearer = { Authorization: `Bearer ${cred.accessToken}` };
        // The common case, a bearer token and nothing else: what mergeHeaders would return.
        if (server.headers === undefined && helper === undefined) return bearer;
      } else if (!hasExplicitAuthorization(server.headers) && !hasExplicitAuthorization(helper) && !server.headersHelper) {
        throw loginRequired(name, 'not logged in');
      }
    }
    return mergeHeaders(bearer, server.headers, helper);
  }

  /** The bare access token (`mcp-auth token`), refreshed if due. */
  async accessToken(name: string): Promise<string> {
    const server = await this.server(name);
    if (server.oauth === false) {
      throw new McpAuthError(ErrorCode.NotOAuth, `server "${name}" does not use OAuth`, { hint: `Use: mcp-auth headers ${name}` });
    }
    const state = await this.loggedInState(name, server);
    if (!state) throw loginRequired(name, 'not logged in');
    return (await this.credential(name, state)).accessToken;
  }

  /**
   * Logs in. With a challenge from the server: a 401 first tries one refresh; a 403
   * `insufficient_scope` steps up to the union of held and challenged scopes (a no-op when all
   * are held). Step-up attempts are limited per scope set.
   */
  async login(name: string, opts: LoginOptions = {}): Promise<LoginOutcome | { status: 'refreshed' }> {
    const server = await this.server(name);
    const current = await currentCredential(this.deps, name);
    if (opts.challenge && current.state && current.credential?.refreshToken && current.state.serverUrl === server.url) {
      const challenge = bearerChallenge(opts.challenge);
      if (challenge?.error !== 'insufficient_scope') {
        try {
          await this.credential(name, current.state, { force: true });
          return { status: 'refreshed' };
        } catch (e) {
          if (!isMcpAuthError(e, ErrorCode.LoginRequired)) throw e;
        }
      }
    }
    if (!opts.challenge && !opts.force && current.state && current.credential && current.state.serverUrl === server.url) {
      // A stored credential is "already logged in" only while it works: one due for refresh is
      // refreshed first, and a refusal (invalid_grant: e.g. its refresh token was rotated by a
      // refresh whose answer never got saved) needs the new login `mcp-auth login` promises.
      try {
        await this.credential(name, current.state);
      } catch (e) {
        if (isMcpAuthError(e, ErrorCode.LoginRequired)) opts = { ...opts, force: true };
      }
    }
    if (!opts.challenge) await clearAttempts(this.deps, name);
    return login({ ...this.deps, startCallbackListener: this.shared.callbacks! }, name, server, opts, current);
  }

  /**
   * Answers an MCP server's 401/403 as reported by a client. A report about a token that is no
   * longer current gets the current headers with no token request; a 401 gets one refresh (a
   * second 401 for the refreshed token means login required); a 403 `insufficient_scope` starts a
   * step-up login unless every challenged scope is already held.
   */
  async challenge(name: string, req: { status: 401 | 403; wwwAuthenticate: string; tokenHash?: string }): Promise<ChallengeResponse> {
    const server = await this.server(name);
    const state = await this.loggedInState(name, server);
    if (!state) throw loginRequired(name, 'not logged in');
    const cred = await readCredential(this.deps.store, state.credentialKey);
    if (!cred) throw loginRequired(name, 'no stored credential');
    if (req.tokenHash && tokenHash(cred.accessToken) !== req.tokenHash) {
      return { action: 'current', headers: await this.headers(name) };
    }
    const challenge = bearerChallenge(req.wwwAuthenticate);
    if (req.status === 403 && challenge?.error === 'insufficient_scope') {
      const started = await this.startLogin(name, { challenge: req.wwwAuthenticate });
      if (started.status === 'pending' && started.login) return { action: 'login', login: started.login };
      return { action: 'unchanged', headers: await this.headers(name) };
    }
    const rejected = req.tokenHash ?? tokenHash(cred.accessToken);
    if (this.shared.refreshedAfterChallenge.has(rejected)) {
      throw loginRequired(name, 'the server rejected a freshly refreshed token');
    }
    const next = await this.refresh(name, state, cred, { force: true, rejectedTokenHash: rejected });
    this.shared.refreshedAfterChallenge.add(tokenHash(next.accessToken));
    return { action: next.accessToken === cred.accessToken ? 'current' : 'refreshed', headers: await this.headers(name) };
  }

  /**
   * Starts (or joins) a login owned by this broker. Resolves once the authorization URL exists;
   * the caller shows or opens it, and follows the login with {@link waitLogin}.
   */
  async startLogin(name: string, opts: { force?: boolean; challenge?: string } = {}): Promise<LoginResponse> {
    await this.server(name);
    const starts = this.shared.loginStarts;
    const previous = starts.get(name) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.shared.logins.start(name, (n, o) => this.login(n, o), opts));
    starts.set(name, mine);
    let r;
    try {
      r = await mine;
    } finally {
      if (starts.get(name) === mine) starts.delete(name);
    }
    if (r.status === 'pending') return { status: 'pending', login: r.login };
    return r.status === 'refreshed' ? { status: 'refreshed' } : { status: 'unchanged', reason: r.reason };
  }

  getLogin(id: string): PendingLoginView | undefined {
    return this.shared.logins.get(id);
  }

  waitLogin(id: string, timeoutMs: number): Promise<PendingLoginView | undefined> {
    return this.shared.logins.wait(id, timeoutMs);
  }

  submitCallback(id: string, url: string): Promise<PendingLoginView> {
    return this.shared.logins.submit(id, url);
  }

  leaveLogin(id: string): void {
    this.shared.logins.leave(id);
  }

  /**
   * Keeps recently used credentials fresh ahead of their callers, so nobody waits for a refresh
   * in the common case. Idle credentials are left alone: refreshing them forever would rotate
   * refresh tokens nobody uses.
   */
  startBackgroundRefresh(): void {
    if (this.shared.timer) return;
    this.shared.timer = setInterval(() => void this.refreshRecent(), REFRESH_TICK_MS);
    this.shared.timer.unref();
  }

  /** One pass of the background refresher (exposed for tests). */
  async refreshRecent(): Promise<void> {
    const now = this.deps.now();
    for (const [name, at] of this.shared.lastUsed) {
      if (now - at > RECENT_USE_MS) {
        this.shared.lastUsed.delete(name);
        continue;
      }
      const backoff = this.shared.backoff.get(name);
      if (backoff && now < backoff.until) continue;
      let failed = false;
      try {
        const server = await this.server(name);
        const state = await this.loggedInState(name, server);
        // A still-due credential after the call means the refresh did not happen (the AS was
        // unreachable and the current token is still valid).
        if (state) failed = needsRefresh(await this.credential(name, state, { aheadMs: REFRESH_AHEAD_MS }), this.deps.now(), REFRESH_AHEAD_MS);
      } catch (e) {
        failed = true;
        this.deps.log(`background refresh of ${name} failed: ${isMcpAuthError(e) ? e.code : 'unexpected error'}`);
      }
      if (!failed) this.shared.backoff.delete(name);
      else {
        const delay = backoff ? Math.min(backoff.delay * 2, MAX_BACKOFF_MS) : REFRESH_TICK_MS;
        this.shared.backoff.set(name, { delay, until: this.deps.now() + delay });
      }
    }
  }

  async close(): Promise<void> {
    if (this.shared.timer) clearInterval(this.shared.timer);
    this.shared.timer = undefined;
    await this.shared.logins.close();
  }

  /**
   * Forgets the server's credential, revoking it first where the AS supports RFC 7009. Local
   * deletion happens even when revocation fails (the user asked to be logged out).
   */
  async logout(name: string): Promise<{ loggedOut: boolean; revoked: boolean }> {
    const { state, credential } = await currentCredential(this.deps, name);
    let revoked = false;
    if (state && credential) {
      try {
        const secret = state.client.tokenEndpointAuthMethod === 'none' ? undefined : await clientSecretForState(this.deps, name, state, credential);
        const identity = { clientId: state.client.clientId, tokenEndpointAuthMethod: state.client.tokenEndpointAuthMethod, ...(secret ? { clientSecret: secret } : {}) };
        const token = credential.refreshToken ?? credential.accessToken;
        revoked = await revokeToken(state.as, identity, token, credential.refreshToken ? 'refresh_token' : 'access_token', {
          fetch: this.deps.fetch,
          signal: AbortSignal.timeout(5_000),
        });
        if (credential.refreshToken) {
          await revokeToken(state.as, identity, credential.accessToken, 'access_token', { fetch: this.deps.fetch, signal: AbortSignal.timeout(5_000) });
        }
      } catch {
        revoked = false;
      }
      await this.deps.store.withLock(state.credentialKey, () => this.deps.store.delete(state.credentialKey));
    }
    await this.deps.store.delete(serverStateKey(name));
    await clearAttempts(this.deps, name);
    return { loggedOut: state !== undefined, revoked };
  }

  /** Forgets everything stored for a server name (used by `remove`). */
  async forget(name: string): Promise<void> {
    const state = await readServerState(this.deps.store, serverStateKey(name)).catch(() => undefined);
    if (state) await this.deps.store.delete(state.credentialKey);
    await this.deps.store.delete(serverStateKey(name));
    await this.deps.store.delete(clientSecretKey(name));
    await clearAttempts(this.deps, name);
  }

  /** What `list` and `status` show. Reads only; never refreshes or contacts a server. */
  async status(name: string, server: ServerConfig): Promise<ServerStatus> {
    const base: ServerStatus = { name, url: server.url, type: server.type, state: 'login_required', store: this.deps.store.backend };
    if (server.oauth === false) return { ...base, state: 'not_oauth' };
    let state: ServerState | undefined;
    let cred: CredentialRecord | undefined;
    try {
      state = await readServerState(this.deps.store, serverStateKey(name));
      if (state && state.serverUrl === server.url) cred = await readCredential(this.deps.store, state.credentialKey);
    } catch (e) {
      const err = isMcpAuthError(e) ? e : new McpAuthError(ErrorCode.Internal, 'unexpected error');
      return { ...base, state: 'error', error: { code: err.code, message: err.message } };
    }
    if (!state || !cred) {
      const explicit = hasExplicitAuthorization(server.headers) || server.headersHelper !== undefined;
      return explicit ? { ...base, state: 'not_oauth' } : base;
    }
    const out: ServerStatus = {
      ...base,
      state: this.shared.refreshes.has(state.credentialKey)
        ? 'refreshing'
        : cred.loginRequiredAt !== undefined || this.shared.loginRequired.get(state.credentialKey) === fingerprint(cred)
          ? 'login_required'
          : isExpired(cred, this.deps.now()) && !cred.refreshToken
          ? 'expired'
          : 'ok',
      issuer: state.issuer,
      clientId: state.client.clientId,
      hasRefreshToken: cred.refreshToken !== undefined,
      account: cred.account,
    };
    if (cred.scope) out.scope = cred.scope;
    if (cred.expiresAt !== undefined) out.expiresAt = cred.expiresAt;
    return out;
  }

  async list(): Promise<ServerStatus[]> {
    const cfg = await loadConfigShared(this.deps.paths);
    const out: ServerStatus[] = [];
    for (const [name, raw] of Object.entries(cfg.mcpServers)) {
      let server: ServerConfig;
      try {
        server = expandServer(raw, this.deps.env);
      } catch (e) {
        const err = isMcpAuthError(e) ? e : new McpAuthError(ErrorCode.Internal, 'unexpected error');
        out.push({ name, url: raw.url, type: raw.type, state: 'error', store: this.deps.store.backend, error: { code: err.code, message: err.message } });
        continue;
      }
      out.push(await this.status(name, server));
    }
    return out;
  }
}
