#!/usr/bin/env node
// A thin, generic MCP client that drives the public `mcp-auth` CLI, for the official
// MCP conformance suite (`conformance client --command "node client.mjs"`; the suite
// appends the server URL as the last argument).
//
// It never looks at the scenario name. MCP_CONFORMANCE_CONTEXT is read only to pass
// pre-registered credentials through the CLI's documented flags/env.
//
// Flow: mcp-auth add -> mcp-auth login -> mcp-auth headers -> an MCP session over
// Streamable HTTP (initialize, tools/list, tools/call) whose fetch injects the headers.
// A 401/403 with a Bearer challenge on any request runs
// `mcp-auth login <name> --www-authenticate '<challenge>'`, refreshes the headers and
// retries; a failed login ends the run with exit 1.
//
// Environment (all optional):
//   MCP_AUTH_CLI                      path of the CLI entry (default: <repo>/bin/mcp-auth.js)
//   MCP_AUTH_CONFORMANCE_HOME_ROOT    parent dir for the per-run MCP_AUTH_HOME (kept);
//                                     default: a temp dir, removed at exit
//   MCP_AUTH_CONFORMANCE_LOGIN_TIMEOUT_MS  per `login` call (default 20000)

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(process.env.MCP_AUTH_CLI || join(HERE, '..', '..', 'bin', 'mcp-auth.js'));
const BROWSER_SCRIPT = join(HERE, 'browser.mjs');
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';
const SERVER_NAME = 'conformance';
const LOGIN_TIMEOUT_MS = Number(process.env.MCP_AUTH_CONFORMANCE_LOGIN_TIMEOUT_MS) || 20_000;
const OTHER_TIMEOUT_MS = 10_000;
const MAX_REAUTHORIZATIONS = 8; // safety net only; the CLI is expected to stop loops itself

class ClientFailure extends Error {}

const children = new Set();
let home;
let keepHome = false;

function log(msg) {
  process.stderr.write(`[conformance-client] ${msg}\n`);
}

function indent(text) {
  return text.replace(/\s+$/, '').replace(/^/gm, '    | ');
}

function parseContext() {
  const raw = process.env.MCP_CONFORMANCE_CONTEXT;
  if (!raw) return {};
  try {
    const ctx = JSON.parse(raw);
    return ctx && typeof ctx === 'object' ? ctx : {};
  } catch {
    throw new ClientFailure('MCP_CONFORMANCE_CONTEXT is not valid JSON');
  }
}

function makeHome() {
  const root = process.env.MCP_AUTH_CONFORMANCE_HOME_ROOT;
  if (root) {
    mkdirSync(root, { recursive: true });
    keepHome = true;
    return mkdtempSync(join(resolve(root), 'home-'));
  }
  return mkdtempSync(join(tmpdir(), 'mcp-auth-conformance-'));
}

function cliEnv(extra) {
  const env = { ...process.env, ...extra };
  // The CLI is judged on its public behaviour: it gets no hint of the scenario.
  for (const k of Object.keys(env)) {
    if (k.startsWith('MCP_CONFORMANCE_') || k.startsWith('MCP_AUTH_CONFORMANCE_')) delete env[k];
  }
  return env;
}

let baseEnv;

/** Runs `mcp-auth <args>`; resolves { code, stdout, stderr, timedOut }. Never rejects. */
function runCli(args, timeoutMs = OTHER_TIMEOUT_MS, extraEnv = {}) {
  const shown = args.map((a) => (/\s|^$/.test(a) ? `'${a}'` : a)).join(' ');
  log(`$ mcp-auth ${shown}`);
  return new Promise((resolvePromise) => {
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...baseEnv, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, timeoutMs);
    const done = (code, signal, spawnError) => {
      clearTimeout(timer);
      children.delete(child);
      const ms = Date.now() - started;
      log(
        `  -> exit ${code ?? 'null'}${signal ? ` (signal ${signal})` : ''}` +
          `${timedOut ? ` (killed after ${timeoutMs} ms)` : ''} in ${ms} ms`,
      );
      if (spawnError) log(`  spawn error: ${spawnError.message}`);
      if (stderr.trim()) log(`  stderr:\n${indent(stderr)}`);
      resolvePromise({ code: code ?? 1, stdout, stderr, timedOut });
    };
    child.on('error', (err) => done(127, null, err));
    child.on('close', (code, signal) => done(code, signal));
  });
}

function redact(headers) {
  return Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, v.length > 16 ? `${v.slice(0, 12)}…(${v.length})` : v]),
  );
}

async function login(challenge) {
  const args = ['login', SERVER_NAME];
  if (challenge !== undefined) args.push('--www-authenticate', challenge);
  const r = await runCli(args, LOGIN_TIMEOUT_MS);
  if (r.code !== 0) {
    throw new ClientFailure(
      `mcp-auth login exited ${r.code}${r.timedOut ? ' (timed out)' : ''}` +
        (challenge !== undefined ? ' while handling a challenge' : ''),
    );
  }
}

async function readHeaders() {
  let r = await runCli(['headers', SERVER_NAME]);
  if (r.code === 3) {
    log('headers: login required; logging in once more');
    await login();
    r = await runCli(['headers', SERVER_NAME]);
  }
  if (r.code !== 0) throw new ClientFailure(`mcp-auth headers exited ${r.code}`);
  let parsed;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new ClientFailure(`mcp-auth headers printed no JSON object: ${JSON.stringify(r.stdout.slice(0, 200))}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ClientFailure('mcp-auth headers did not print a JSON object');
  }
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new ClientFailure(`mcp-auth headers: value of ${k} is not a string`);
  }
  log(`  headers: ${JSON.stringify(redact(parsed))}`);
  return parsed;
}

function isBearerChallenge(value) {
  return typeof value === 'string' && /(^|,)\s*bearer(\s|$)/i.test(value);
}

async function main() {
  const serverUrl = process.argv[2];
  if (!serverUrl || process.argv.length > 3) {
    log('usage: client.mjs <mcp-server-url>');
    return 2;
  }
  const server = new URL(serverUrl);
  if (/\s/.test(process.execPath) || /\s/.test(BROWSER_SCRIPT)) {
    throw new ClientFailure('BROWSER is split on whitespace: node or browser.mjs path contains whitespace');
  }

  const ctx = parseContext();
  home = makeHome();
  baseEnv = cliEnv({
    MCP_AUTH_HOME: home,
    MCP_AUTH_STORE: 'file',
    BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`,
  });
  delete baseEnv.MCP_CLIENT_SECRET;
  log(`server ${serverUrl}; MCP_AUTH_HOME=${home}; CLI=${CLI}`);

  // 1. add
  const addArgs = ['add', SERVER_NAME, serverUrl, '--client-metadata-url', CLIENT_METADATA_URL];
  const addEnv = {};
  if (typeof ctx.client_id === 'string' && ctx.client_id) addArgs.push('--client-id', ctx.client_id);
  if (typeof ctx.client_secret === 'string' && ctx.client_secret) {
    addEnv.MCP_CLIENT_SECRET = ctx.client_secret; // read by `--client-secret` (no value) from env
    addArgs.push('--client-secret');
  }
  const added = await runCli(addArgs, OTHER_TIMEOUT_MS, addEnv);
  if (added.code !== 0) throw new ClientFailure(`mcp-auth add exited ${added.code}`);

  // 2. login, 3. headers
  await login();
  let authHeaders = await readHeaders();

  // 4. MCP session. The fetch injects the current headers into requests to the server's
  // origin and remembers the last 401/403 challenge of a POST.
  let challenge = null;
  const authFetch = async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init.headers);
    if (url.origin === server.origin) {
      for (const [k, v] of Object.entries(authHeaders)) headers.set(k, v);
    }
    const res = await fetch(input, { ...init, headers });
    const method = (init.method || 'GET').toUpperCase();
    if ((res.status === 401 || res.status === 403) && method === 'POST') {
      challenge = { status: res.status, value: res.headers.get('www-authenticate') };
    }
    return res;
  };

  let reauthorizations = 0;
  async function withAuth(label, op) {
    for (;;) {
      challenge = null;
      try {
        const result = await op();
        log(`${label}: ok`);
        return result;
      } catch (err) {
        const seen = challenge;
        const reason = err instanceof Error ? err.message : String(err);
        if (!seen) throw new ClientFailure(`${label} failed: ${reason}`);
        log(`${label}: HTTP ${seen.status}, WWW-Authenticate: ${seen.value ?? '(none)'}`);
        if (!isBearerChallenge(seen.value)) {
          throw new ClientFailure(`${label} failed with HTTP ${seen.status} and no Bearer challenge`);
        }
        if (++reauthorizations > MAX_REAUTHORIZATIONS) {
          throw new ClientFailure(`${label}: more than ${MAX_REAUTHORIZATIONS} re-authorizations`);
        }
        await login(seen.value); // throws when the CLI refuses
        authHeaders = await readHeaders();
      }
    }
  }

  const client = await withAuth('initialize', async () => {
    const c = new Client({ name: 'mcp-auth-conformance-client', version: '0.1.0' }, { capabilities: {} });
    c.onerror = (e) => log(`transport: ${e instanceof Error ? e.message : String(e)}`);
    const transport = new StreamableHTTPClientTransport(server, { fetch: authFetch });
    try {
      await c.connect(transport);
    } catch (e) {
      await c.close().catch(() => {});
      throw e;
    }
    return c;
  });

  try {
    const { tools } = await withAuth('tools/list', () => client.listTools());
    log(`tools: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
    const tool = tools.find((t) => t.name === 'test-tool') ?? tools[0];
    if (tool) {
      const result = await withAuth(`tools/call ${tool.name}`, () =>
        client.callTool({ name: tool.name, arguments: {} }),
      );
      if (result.isError) throw new ClientFailure(`tools/call ${tool.name} returned isError`);
    }
  } finally {
    await client.close().catch(() => {});
  }
  log('done');
  return 0;
}

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  // login/headers autostart a daemon for this home; stop it before its home goes away.
  if (home && baseEnv) spawnSync(process.execPath, [CLI, 'stop'], { env: baseEnv, stdio: 'ignore', timeout: 5_000 });
  if (home && !keepHome) rmSync(home, { recursive: true, force: true });
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    log(`${sig}: stopping`);
    cleanup();
    process.exit(1);
  });
}

main().then(
  (code) => {
    cleanup();
    process.exit(code);
  },
  (err) => {
    log(`FAILED: ${err instanceof ClientFailure ? err.message : err?.stack || String(err)}`);
    cleanup();
    process.exit(1);
  },
);
