/**
 * Everything the broker does to the world goes through these, so tests (and later the daemon)
 * swap them without module mocks.
 */
import type { Paths } from '../config/paths.js';
import type { runHeadersHelper } from '../helpers/headers-helper.js';
import type { OpenBrowserResult } from '../oauth/browser.js';
import type { startCallbackListener } from '../oauth/callback-listener.js';
import type { FetchLike } from '../oauth/discovery.js';
import type { CredentialStore } from '../store/types.js';

export interface BrokerDeps {
  paths: Paths;
  store: CredentialStore;
  /** The one outbound fetch (https except loopback, timeout, size cap, no redirects). */
  fetch: FetchLike;
  now: () => number;
  /** The caller's environment: `${VAR}` expansion, `MCP_CLIENT_SECRET`, `BROWSER`. */
  env: NodeJS.ProcessEnv;
  openBrowser: (url: string) => Promise<OpenBrowserResult>;
  startCallbackListener: typeof startCallbackListener;
  runHeadersHelper: typeof runHeadersHelper;
  /**
   * Called before an authorization server is contacted for the first time; throwing refuses it
   * (an admin allow-list plugs in here).
   */
  beforeIssuerContact?: (issuer: string, serverName: string) => void | Promise<void>;
  /** Progress for the person at the terminal (stderr in the CLI). Never passed secrets. */
  log: (line: string) => void;
}
