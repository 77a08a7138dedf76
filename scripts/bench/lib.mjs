// Shared by scripts/bench-*.mjs: a temporary MCP_AUTH_HOME with servers and a planted login, a
// daemon process (scripts/bench/daemon-child.mjs) to load, autocannon runs, tables, and the
// sections of docs/BENCHMARKS.md each benchmark rewrites. Plain Node ESM against dist/ (run
// `npm run build` first). Loopback only; every run is bounded in time or count.
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/**
 * The build under test: this checkout, or BENCH_BUILD=<dir> holding another build's dist/ and bin/
 * (how the "before" figures in docs/BENCHMARKS.md were taken from the code before a change).
 */
export const BUILD = process.env.BENCH_BUILD ? process.env.BENCH_BUILD : ROOT;
export const DIST = join(BUILD, 'dist');
const DOC = join(ROOT, 'docs', 'BENCHMARKS.md');

if (!existsSync(join(DIST, 'daemon', 'serve.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(1);
}

const dist = (p) => import(join(DIST, p));

export const SERVER_URL = 'https://mcp.example.com/mcp';
export const ISSUER = 'https://as.example.com';
export const CLIENT_ID = 'client-bench';

/** An access token of realistic size (a signed JWT is typically 700–1,000 characters). */
export function fakeJwt(label = 'a', length = 800) {
  const base = `eyJhbGciOiJSUzI1NiJ9.${label}.`;
  return (base + 'x'.repeat(length)).slice(0, length);
}

/**
 * A fresh MCP_AUTH_HOME. `servers` names are added to servers.json (one updateConfig, like many
 * `mcp-auth add`s); each name in `loggedIn` gets a ServerState + CredentialRecord written straight
 * into the FILE store (the default store), as test/unit/daemon/support.ts does with its memory one.
 */
export async function makeHome({ servers = ['demo'], loggedIn = servers, accessToken = fakeJwt(), expiresAt, as } = {}) {
  const [{ resolvePaths }, { updateConfig }, { credentialKey, serverStateKey }] = await Promise.all([
    dist('config/paths.js'),
    dist('config/servers-file.js'),
    dist('store/key.js'),
  ]);
  const home = mkdtempSync(join(tmpdir(), 'mcp-auth-bench-'));
  const paths = resolvePaths({ MCP_AUTH_HOME: home });
  const urlOf = (name) => (name === 'demo' ? SERVER_URL : `https://mcp-${name}.example.com/mcp`);
  await updateConfig(paths, (cfg) => {
    for (const name of servers) cfg.mcpServers[name] = { type: 'http', url: urlOf(name) };
  });
  const now = Date.now();
  const issuer = as?.issuer ?? ISSUER;
  const asMeta = as ?? { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token` };
  // One store write for everything: 2,000 separate set()s would each rewrite the whole file.
  const entries = {};
  for (const name of loggedIn) {
    const serverUrl = urlOf(name);
    const credKey = credentialKey({ resource: serverUrl, issuer, clientId: CLIENT_ID });
    entries[serverStateKey(name)] = JSON.stringify({
      v: 1,
      serverUrl,
      issuer,
      as: asMeta,
      resource: serverUrl,
      client: { clientId: CLIENT_ID, tokenEndpointAuthMethod: 'none', source: 'dcr', redirectUri: 'http://127.0.0.1:33418/callback' },
      credentialKey: credKey,
      account: 'default',
      updatedAt: now,
    });
    entries[credKey] = JSON.stringify({
      v: 1,
      issuer,
      resource: serverUrl,
      clientId: CLIENT_ID,
      account: 'default',
      accessToken: name === 'demo' ? accessToken : fakeJwt(name),
      refreshToken: `rt-${name}-0001`,
      expiresAt: expiresAt ?? now + 24 * 3_600_000,
      obtainedAt: now,
      scope: 'mcp:read',
    });
  }
  // The store's own format ({"version":1,"entries":{…}}, mode 0600), written in one go.
  writeFileSync(paths.credentialsFile, JSON.stringify({ version: 1, entries }, null, 2) + '\n', { mode: 0o600 });
  return { home, paths, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/**
 * CPU pinning: the process under load on the last core, the load generator (this process) on the
 * others, so the two never trade places mid-run; it makes runs on a small shared machine far less
 * noisy. Needs `taskset` (util-linux) and ≥ 2 cores; BENCH_PIN=0 turns it off.
 */
const CORES = cpus().length;
export const pinning =
  process.env.BENCH_PIN !== '0' && CORES >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
const SERVER_CPU = String(CORES - 1);
const CLIENT_CPUS = CORES > 2 ? `0-${CORES - 2}` : '0';
let pinnedSelf = false;
/** Pins this process (the load generator) to its cores; load benchmarks call it once. */
export function pinSelf() {
  if (pinning && !pinnedSelf) spawnSync('taskset', ['-a', '-cp', CLIENT_CPUS, String(process.pid)], { stdio: 'ignore' });
  pinnedSelf = true;
}

export function pinningNote() {
  return pinning && pinnedSelf
    ? `Processes pinned with taskset: the one under test on CPU ${SERVER_CPU}, the load generator on CPU ${CLIENT_CPUS}.`
    : 'No CPU pinning.';
}

/**
 * Starts scripts/bench/daemon-child.mjs: the real daemon (serve() over a Broker with the FILE
 * store, logging to a file like an autostarted daemon) and, with `bare`, a bare fastify app
 * answering `bareBody`. Resolves with { port, token, barePort, rss(), close() }.
 */
export function startDaemonChild({ home, bare = false, bareBody, extraEnv = {}, pin = true }) {
  const pinIt = pin && pinning;
  if (pinIt) pinSelf();
  const child = fork(join(ROOT, 'scripts', 'bench', 'daemon-child.mjs'), [], {
    env: { ...process.env, ...extraEnv, MCP_AUTH_HOME: home, BENCH_DIST: DIST, BENCH_BARE: bare ? '1' : '', BENCH_BARE_BODY: bareBody ?? '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // fork() runs `<execPath> <execArgv…> <module>`: taskset -c N node <module> when pinning.
    ...(pinIt ? { execPath: 'taskset' } : {}),
    // e.g. BENCH_CHILD_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the daemon process.
    execArgv: [
      ...(pinIt ? ['-c', SERVER_CPU, process.execPath] : []),
      ...(process.env.BENCH_CHILD_ARGS ? process.env.BENCH_CHILD_ARGS.split(' ') : []),
    ],
  });
  let seq = 0;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon child did not start within 15 s')), 15_000);
    child.once('exit', (code) => reject(new Error(`daemon child exited early (${code})`)));
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        clearTimeout(timer);
        const ask = (type) =>
          new Promise((res) => {
            const id = ++seq;
            waiting.set(id, res);
            child.send({ type, id });
          });
        resolve({
          pid: child.pid,
          port: msg.port,
          token: msg.token,
          barePort: msg.barePort,
          rss: async () => (await ask('rss')).rss,
          close: async () => {
            const exited = new Promise((r) => child.once('exit', r));
            child.send({ type: 'close' });
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
            if (child.exitCode === null) child.kill('SIGKILL');
          },
        });
      } else if (waiting.has(msg.id)) {
        waiting.get(msg.id)(msg);
        waiting.delete(msg.id);
      }
    });
  });
}

let autocannonMod;

/** The q-quantile (0..1) of sorted samples (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * One autocannon run. Latencies are taken from autocannon's per-response times (fractional ms):
 * its own histogram rounds to whole milliseconds, too coarse at concurrency 1.
 */
export async function load({ url, headers, connections, duration }) {
  autocannonMod ??= (await import('autocannon')).default;
  const samples = [];
  const instance = autocannonMod({ url, headers, connections, duration, pipelining: 1 });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
  });
  const r = await instance;
  return {
    rps: r.requests.total / (r.duration || duration),
    total: r.requests.total,
    samples,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

/**
 * Interleaved short runs of several targets at one concurrency, `rounds` times, the order
 * reversed every other round (A B, B A, …), so that drift (GC, page cache, and above all other
 * load on a shared machine) hits every target alike. Per target: the median over its runs of
 * req/s, p50 and p99. Ratios between two targets are best taken per round ({@link ratios}).
 */
export async function interleaved(targets, { connections, duration, rounds = 5 }) {
  const runs = new Map(targets.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const r = await load({ url: t.url, headers: t.headers, connections, duration });
      const sorted = Float64Array.from(r.samples).sort();
      runs.get(t.name).push({ rps: r.rps, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), total: r.total, non2xx: r.non2xx, errors: r.errors });
    }
  }
  const out = {};
  for (const [name, rs] of runs) {
    out[name] = {
      runs: rs,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      total: rs.reduce((s, r) => s + r.total, 0),
      non2xx: rs.reduce((s, r) => s + r.non2xx, 0),
      errors: rs.reduce((s, r) => s + r.errors, 0),
    };
  }
  return out;
}

/** Median over rounds of a/b for req/s and p99, with their spread (min–max over rounds). */
export function ratios(a, b) {
  // A run with no successful response has no latency (NaN): left out of the latency ratios.
  const per = (k) => a.runs.map((r, i) => r[k] / b.runs[i][k]).filter((x) => Number.isFinite(x));
  const spread = (xs) => (xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : { median: NaN, min: NaN, max: NaN });
  return { rps: spread(per('rps')), p99: spread(per('p99')) };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A Markdown table (also readable on a terminal). */
export function table(header, rows) {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(cells[0]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

export const fmt = {
  n: (x, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }),
  ms: (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  ratio: (x) => `${x.toFixed(2)}×`,
  mib: (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`,
};

/** Load average (1 min) when the benchmark started: other work on the machine skews every figure. */
const loadAtStart = loadavg()[0];
if (loadAtStart > 1.5) console.warn(`note: load average ${loadAtStart.toFixed(2)} at start; other work on this machine will skew the figures`);

export function machine() {
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}, ${process.platform}/${process.arch}, 1-min load average ${loadAtStart.toFixed(2)} at start`;
}

export function today() {
  return new Date().toISOString().slice(0, 10);
}

/**
 * Replaces the section between `<!-- BEGIN id -->` and `<!-- END id -->` in docs/BENCHMARKS.md
 * (appending it when absent), leaving everything else in the file alone.
 */
export function updateDoc(id, body) {
  const begin = `<!-- BEGIN ${id} (generated by scripts/${id}.mjs; do not edit by hand) -->`;
  const end = `<!-- END ${id} -->`;
  const section = `${begin}\n${body.trim()}\n${end}`;
  let text = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  const re = new RegExp(`<!-- BEGIN ${id} [^\\n]*-->[\\s\\S]*?<!-- END ${id} -->`);
  text = re.test(text) ? text.replace(re, () => section) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(DOC, text);
  console.log(`\n${DOC.slice(ROOT.length)} updated (section ${id})`);
}

/** Whether to write docs/BENCHMARKS.md (off with BENCH_NO_DOC=1, for trial runs). */
export const writeDoc = process.env.BENCH_NO_DOC !== '1' && !process.env.BENCH_BUILD;

/** Seconds per autocannon run (BENCH_DURATION overrides, e.g. for a quick trial). */
export function duration(defaultSeconds) {
  const v = Number(process.env.BENCH_DURATION);
  return Number.isFinite(v) && v > 0 ? v : defaultSeconds;
}

export { dirname, join, dist };
