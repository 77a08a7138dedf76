// In-process harness for the CLI: `main(argv, io)` with captured streams and an environment of
// the test's own (MCP_AUTH_HOME in a temporary directory, nothing of the developer's).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { main } from '../../../src/cli/index.js';
import type { CliIO } from '../../../src/cli/io.js';
import { resolvePaths, type Paths } from '../../../src/config/paths.js';
import { FileStore } from '../../../src/store/file.js';
import { credentialKey, serverStateKey } from '../../../src/store/key.js';
import { writeRecord, type CredentialRecord, type ServerState } from '../../../src/broker/records.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Home {
  dir: string;
  paths: Paths;
  env: NodeJS.ProcessEnv;
  /** Runs `mcp-auth <argv>` in-process; `env` is merged over the home's environment. */
  run(argv: string[], opts?: { env?: NodeJS.ProcessEnv; interactive?: boolean; typed?: string }): Promise<Run & { rawModes: boolean[] }>;
  readConfig(): Promise<unknown>;
  store(): FileStore;
  remove(): Promise<void>;
}

/**
 * Captured streams. `interactive` makes stdin look like a terminal (with a `setRawMode` that
 * records its calls) holding `typed`; otherwise stdin is an empty pipe.
 */
export function fakeIO(
  env: NodeJS.ProcessEnv,
  interactive = false,
  typed = '',
): { io: CliIO; out: () => string; err: () => string; rawModes: boolean[] } {
  let stdout = '';
  let stderr = '';
  const rawModes: boolean[] = [];
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdin.isTTY = interactive;
  if (interactive) {
    stdin.setRawMode = (mode: boolean) => rawModes.push(mode);
    stdin.write(typed);
  } else {
    stdin.end();
  }
  return {
    rawModes,
    io: { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), stdin, env, interactive },
    out: () => stdout,
    err: () => stderr,
  };
}

export async function makeHome(): Promise<Home> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-auth-cli-'));
  // In-process verbs only: these tests must never start a background daemon
  // (the daemon path is covered by test/unit/client and test/e2e/daemon-cli.test.ts).
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, MCP_AUTH_HOME: dir, MCP_AUTH_NO_DAEMON: '1' };
  const paths = resolvePaths(env);
  return {
    dir,
    paths,
    env,
    async run(argv, opts = {}) {
      const { io, out, err, rawModes } = fakeIO({ ...env, ...opts.env }, opts.interactive ?? false, opts.typed);
      const code = await main(argv, io);
      return { code, stdout: out(), stderr: err(), rawModes };
    },
    async readConfig() {
      return JSON.parse(await readFile(paths.configFile, 'utf8')) as unknown;
    },
    store() {
      return new FileStore({ file: paths.credentialsFile, locksDir: paths.locksDir });
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Stores what a finished login leaves behind (server state + credential), so `headers` has a
 * token to hand out without an authorization server. The token never expires unless told to.
 */
export async function seedLogin(
  home: Home,
  name: string,
  serverUrl: string,
  cred: Partial<CredentialRecord> & { accessToken: string },
  issuer = 'https://as.example.test',
): Promise<void> {
  const clientId = 'client-1';
  const key = credentialKey({ resource: serverUrl, issuer, clientId });
  const store = home.store();
  const record: CredentialRecord = {
    v: 1,
    issuer,
    resource: serverUrl,
    clientId,
    account: 'default',
    obtainedAt: Date.now(),
    ...cred,
  };
  await writeRecord(store, key, record);
  const state: ServerState = {
    v: 1,
    serverUrl,
    issuer,
    as: { issuer, token_endpoint: `${issuer}/token`, authorization_endpoint: `${issuer}/authorize` },
    resource: serverUrl,
    client: { clientId, tokenEndpointAuthMethod: 'none', source: 'dcr', redirectUri: 'http://127.0.0.1:1/callback' },
    credentialKey: key,
    account: 'default',
    updatedAt: Date.now(),
  };
  await writeRecord(store, serverStateKey(name), state);
}

/** The `{error:{…}}` object `--json` prints on stdout. */
export function jsonError(stdout: string): { code: string; message: string; hint?: string } {
  const parsed = JSON.parse(stdout) as { error: { code: string; message: string; hint?: string } };
  return parsed.error;
}
