#!/usr/bin/env node
// The `mcp-auth` entry (package.json "bin"). CommonJS on purpose: `mcp-auth headers <name>` runs
// on every MCP connection (Claude Code's headersHelper), and a CommonJS entry starts faster than
// an ES module one (docs/BENCHMARKS.md, the CLI section).
//
// The fast path covers the common case only: argv is exactly `headers [name]` (name, else
// $CLAUDE_CODE_MCP_SERVER_NAME), MCP_AUTH_NO_DAEMON does not disable the daemon, and a daemon
// answers ONE request (GET /v1/servers/:name/headers, or POST with the lent variables) with 200
// and a headers object within FAST_TIMEOUT_MS. It prints exactly what the full CLI prints then.
// On anything else (another verb or flag, no or untrusted runtime file, refused connection,
// timeout, any non-200, an unexpected body) it runs the full CLI (dist/cli/index.js), which
// starts a daemon, works in-process, prints errors and sets exit codes.
//
// The request goes over `node:net` with a strict reader of the answer (status 200, a JSON
// content type, a well-framed body, no duplicate fields): loading and first using `node:http`
// cost about as much again as the rest of the fast path.
//
// It skips the full CLI's /v1/health call: the daemon checks the bearer token from the runtime
// file, so a stranger on the port cannot answer with a 200 of ours, and a stale file means a
// refused connection or a 401, both of which fall back.
//
// Copies of three small pieces of the TypeScript sources, kept identical by
// test/unit/cli/fast-path.test.ts (parity tests over many inputs):
//   runtimePaths   ↔ resolvePaths (src/config/paths.ts), the runtimeFile and configFile fields
//   readRuntime    ↔ readRuntimeFile (src/client/runtime.ts): O_NOFOLLOW, regular file, ours,
//                    mode 0600 (no group/other bits), ≤ 4096 bytes, validateRuntimeFile
//   selectEnv      ↔ selectRequestEnv / requestEnvFor (src/client/request-env.ts)
//   daemonDisabled ↔ daemonDisabled (src/cli/daemon.ts)
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** How long the one request may take before the full CLI takes over (its health check: 1 s). */
const FAST_TIMEOUT_MS = 1000;
const MAX_RUNTIME_BYTES = 4096;
const MAX_RESPONSE_BYTES = 1024 * 1024;
const TOKEN = /^[A-Za-z0-9._~+/=-]{32,512}$/;
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g;
const ALWAYS_LENT = ['MCP_CLIENT_SECRET'];

function nonEmpty(value) {
  return value === undefined || value === '' ? undefined : value;
}

function xdgDir(value) {
  const v = nonEmpty(value);
  return v !== undefined && path.isAbsolute(v) ? v : undefined;
}

/** `{ runtimeFile, configFile }` as resolvePaths computes them. */
function runtimePaths(env) {
  const custom = nonEmpty(env.MCP_AUTH_HOME);
  if (custom !== undefined) {
    const home = path.resolve(custom);
    return { configFile: path.join(home, 'servers.json'), runtimeFile: path.join(home, 'run', 'daemon.json') };
  }
  const userHome = nonEmpty(env.HOME) ?? require('node:os').homedir();
  const configDir = path.join(xdgDir(env.XDG_CONFIG_HOME) ?? path.join(userHome, '.config'), 'mcp-auth');
  const dataDir = path.join(xdgDir(env.XDG_DATA_HOME) ?? path.join(userHome, '.local', 'share'), 'mcp-auth');
  const xdgRuntime = xdgDir(env.XDG_RUNTIME_DIR);
  const runtimeDir = xdgRuntime !== undefined ? path.join(xdgRuntime, 'mcp-auth') : path.join(dataDir, 'run');
  return { configFile: path.join(configDir, 'servers.json'), runtimeFile: path.join(runtimeDir, 'daemon.json') };
}

function daemonDisabled(env) {
  const v = env.MCP_AUTH_NO_DAEMON?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

function validateRuntime(value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { pid, port, token, startedAt, version } = value;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (typeof token !== 'string' || !TOKEN.test(token)) return undefined;
  if (typeof startedAt !== 'number' || !Number.isFinite(startedAt) || startedAt < 0) return undefined;
  if (typeof version !== 'string' || version.length === 0 || version.length > 64) return undefined;
  return { pid, port, token, startedAt, version };
}

/** The runtime file if it exists and passes every check of readRuntimeFile, else `undefined`. */
function readRuntime(file) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if ((st.mode & fs.constants.S_IFMT) !== fs.constants.S_IFREG) return undefined;
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return undefined;
    if ((st.mode & 0o077) !== 0) return undefined;
    if (st.size > MAX_RUNTIME_BYTES) return undefined;
    return validateRuntime(JSON.parse(fs.readFileSync(fd, 'utf8')));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // nothing to do
      }
    }
  }
}

function referencedVariables(server) {
  if (typeof server !== 'object' || server === null || Array.isArray(server)) return [];
  const strings = [];
  if (typeof server.url === 'string') strings.push(server.url);
  if (typeof server.headersHelper === 'string') strings.push(server.headersHelper);
  const headers = server.headers;
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
    for (const v of Object.values(headers)) if (typeof v === 'string') strings.push(v);
  }
  const names = new Set();
  for (const s of strings) for (const m of s.matchAll(PLACEHOLDER)) names.add(m[1]);
  return [...names];
}

function serverDefinition(config, name) {
  if (typeof config !== 'object' || config === null) return undefined;
  const servers = config.mcpServers;
  if (typeof servers !== 'object' || servers === null) return undefined;
  return Object.hasOwn(servers, name) ? servers[name] : undefined;
}

/** The variables lent with a request about `name`: selectRequestEnv over the parsed config. */
function selectEnv(config, name, env) {
  const out = {};
  for (const v of referencedVariables(serverDefinition(config, name))) {
    const value = env[v];
    if (value !== undefined) out[v] = value;
  }
  for (const v of ALWAYS_LENT) {
    const value = env[v];
    if (value !== undefined && value !== '') out[v] = value;
  }
  return out;
}

/** requestEnvFor: a missing or unparsable config lends only MCP_CLIENT_SECRET. */
function requestEnv(configFile, name, env) {
  let config;
  try {
    config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch {
    config = undefined;
  }
  return selectEnv(config, name, env);
}

/** The server name when argv is exactly `headers [name]` and the fast path may run, else `undefined`. */
function fastName(argv, env) {
  if (argv[0] !== 'headers' || argv.length > 2 || daemonDisabled(env)) return undefined;
  const name = argv.length === 2 ? argv[1] : env.CLAUDE_CODE_MCP_SERVER_NAME;
  // A flag (or `--`) goes through the full CLI's argument parser; an empty name is its usage error.
  if (typeof name !== 'string' || name === '' || (argv.length === 2 && name.startsWith('-'))) return undefined;
  return name;
}

function isJson(contentType) {
  return contentType !== undefined && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType);
}

/** A whole chunked body (hex sizes, no extensions or trailers) joined, else `undefined`. */
function dechunk(raw) {
  const parts = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol === -1) return undefined;
    const sizeText = raw.toString('latin1', at, eol);
    if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) return undefined;
    const size = parseInt(sizeText, 16);
    const start = eol + 2;
    if (size === 0) return raw.length === start + 2 && raw[start] === 13 && raw[start + 1] === 10 ? Buffer.concat(parts) : undefined;
    if (raw.length < start + size + 2 || raw[start + size] !== 13 || raw[start + size + 1] !== 10) return undefined;
    parts.push(raw.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** Parses a whole HTTP/1.1 response; the JSON body of a plain 200 JSON answer, else `undefined`. */
function parseResponse(raw) {
  const split = raw.indexOf('\r\n\r\n');
  if (split === -1) return undefined;
  const lines = raw.toString('latin1', 0, split).split('\r\n');
  if (!/^HTTP\/1\.[01] 200 /.test(lines[0] + ' ')) return undefined;
  const fields = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) return undefined;
    const key = lines[i].slice(0, colon).trim().toLowerCase();
    if (Object.hasOwn(fields, key)) return undefined;
    fields[key] = lines[i].slice(colon + 1).trim();
  }
  // A body framed by Content-Length (what the daemon sends), chunked (plain chunks, no trailers),
  // or by the end of the connection (`Connection: close`, read to a clean end).
  if (!isJson(fields['content-type'])) return undefined;
  let body = raw.subarray(split + 4);
  const te = fields['transfer-encoding'];
  if (te !== undefined) {
    if (te.toLowerCase() !== 'chunked' || fields['content-length'] !== undefined) return undefined;
    body = dechunk(body);
    if (body === undefined) return undefined;
  }
  const length = fields['content-length'];
  if (length !== undefined && (!/^\d+$/.test(length) || Number(length) !== body.length)) return undefined;
  return JSON.parse(body.toString('utf8'));
}

/**
 * One request to the daemon on 127.0.0.1, written and read over `node:net` (a third of the cost
 * of loading and first using `node:http`, on a path that runs for every MCP connection), with
 * the same headers as DaemonClient. Resolves the parsed body of a 200 JSON answer, else
 * `undefined`. Never rejects.
 */
function request(runtime, method, urlPath, body) {
  return new Promise((resolve) => {
    const net = require('node:net');
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    let head =
      `${method} ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${runtime.port}\r\nAuthorization: Bearer ${runtime.token}\r\n` +
      'Accept: application/json, application/problem+json\r\nConnection: close\r\n';
    if (payload !== undefined) head += `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n`;
    const message = payload === undefined ? Buffer.from(head + '\r\n', 'latin1') : Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), payload]);
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const socket = net.connect({ host: '127.0.0.1', port: runtime.port });
    const timer = setTimeout(() => finish(undefined), FAST_TIMEOUT_MS);
    const chunks = [];
    let size = 0;
    socket.write(message); // queued until connected
    socket.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) return finish(undefined);
      chunks.push(chunk);
    });
    socket.on('end', () => {
      try {
        finish(parseResponse(Buffer.concat(chunks)));
      } catch {
        finish(undefined);
      }
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}

/**
 * The fast path: resolves what `mcp-auth headers` prints on stdout with exit code 0, or
 * `undefined` when the full CLI must run instead. Never rejects.
 */
async function fastHeaders(argv, env) {
  try {
    const name = fastName(argv, env);
    if (name === undefined) return undefined;
    const paths = runtimePaths(env);
    const runtime = readRuntime(paths.runtimeFile);
    if (runtime === undefined) return undefined;
    const lent = requestEnv(paths.configFile, name, env);
    const urlPath = `/v1/servers/${encodeURIComponent(name)}/headers`;
    const body =
      Object.keys(lent).length > 0 ? await request(runtime, 'POST', urlPath, { env: lent }) : await request(runtime, 'GET', urlPath);
    const headers = typeof body === 'object' && body !== null && !Array.isArray(body) ? body.headers : undefined;
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return undefined;
    for (const v of Object.values(headers)) if (typeof v !== 'string') return undefined;
    return JSON.stringify(headers) + '\n';
  } catch {
    return undefined;
  }
}

/** The full CLI (dist/, built by `npm run build`). */
function fullCli(argv) {
  return import('../dist/cli/index.js').then(({ main }) =>
    main(argv).then((code) => {
      process.exitCode = code;
    }),
  );
}

/** Runs `mcp-auth` with this process's argv and environment. */
function start() {
  const argv = process.argv.slice(2);
  if (fastName(argv, process.env) === undefined) return fullCli(argv);
  return fastHeaders(argv, process.env).then((out) => {
    if (out === undefined) return fullCli(argv);
    process.stdout.write(out);
    process.exitCode = 0;
  });
}

module.exports = { start, fastHeaders, parseResponse, dechunk, fastName, runtimePaths, readRuntime, selectEnv, requestEnv, daemonDisabled, FAST_TIMEOUT_MS };

if (require.main === module) start();
