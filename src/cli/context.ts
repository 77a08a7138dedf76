/**
 * Builds the broker's real dependencies for one CLI process.
 */
import { resolvePaths, type Paths } from '../config/paths.js';
import { ErrorCode, McpAuthError } from '../errors.js';
import { runHeadersHelper } from '../helpers/headers-helper.js';
import { openBrowser } from '../oauth/browser.js';
import { startCallbackListener } from '../oauth/callback-listener.js';
import { createSafeFetch } from '../oauth/http.js';
import { FileStore } from '../store/file.js';
import { MemoryStore } from '../store/memory.js';
import type { CredentialStore } from '../store/types.js';
import { Broker } from '../broker/broker.js';
import type { BrokerDeps } from '../broker/deps.js';
import type { CliIO } from './io.js';

export function createStore(paths: Paths, env: NodeJS.ProcessEnv): CredentialStore {
  const kind = env.MCP_AUTH_STORE || 'file';
  if (kind === 'file') return new FileStore({ file: paths.credentialsFile, locksDir: paths.locksDir });
  if (kind === 'memory') return new MemoryStore();
  throw new McpAuthError(ErrorCode.ConfigInvalid, `MCP_AUTH_STORE=${kind.slice(0, 20)} is not a store this version offers`, {
    hint: 'Use MCP_AUTH_STORE=file (the default) or memory.',
  });
}

export function createDeps(io: CliIO): BrokerDeps {
  const paths = resolvePaths(io.env);
  return {
    paths,
    store: createStore(paths, io.env),
    fetch: createSafeFetch(),
    now: Date.now,
    env: io.env,
    openBrowser: (url) => openBrowser(url, { env: io.env }),
    startCallbackListener,
    runHeadersHelper,
    log: (line) => io.stderr(`${line}\n`),
  };
}

export function createBroker(io: CliIO): Broker {
  return new Broker(createDeps(io));
}
