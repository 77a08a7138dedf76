#!/usr/bin/env node
// `mcp-auth headers demo` as a whole process (what Claude Code runs on every MCP connection)
// against a running daemon, next to `node -e 0`, interleaved, 20 runs each: medians and the
// ratio (target ≤ 1.5×). Then which modules that process loads, to show nothing heavy (fastify,
// pino, oauth4webapi, openid-client, undici/fetch) is on the path.
//
//   npm run build && node scripts/bench-cli-headers.mjs   (BENCH_RUNS=n, default 20;
//                                                          BENCH_NO_DOC=1 leaves docs/ alone)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD, fakeJwt, fmt, machine, makeHome, median, ROOT, startDaemonChild, table, today, updateDoc, writeDoc } from './bench/lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS) > 0 ? Number(process.env.BENCH_RUNS) : 20;
// The package's bin (package.json "bin", CommonJS since the headers fast path); a build from
// before it (BENCH_BUILD) has only bin/mcp-auth.js.
const BIN_NAME = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin['mcp-auth'];
const BIN = existsSync(join(BUILD, BIN_NAME)) ? join(BUILD, BIN_NAME) : join(BUILD, 'bin', 'mcp-auth.js');
const BIN_REL = BIN.slice(BUILD.length).replace(/^\//, '');
const TRACE = join(ROOT, 'scripts', 'bench', 'trace-modules.mjs');
const ACCESS_TOKEN = fakeJwt('demo', 800);
/** Packages and built-ins that must stay off the headers path. */
const HEAVY_PACKAGES = ['fastify', 'pino', 'oauth4webapi', 'openid-client', 'open', 'undici', 'ajv', 'light-my-request', 'find-my-way'];
const HEAVY_BUILTINS = ['internal/deps/undici/undici', 'https', 'tls', 'zlib', 'child_process', 'worker_threads'];

const home = await makeHome({ servers: ['demo'], accessToken: ACCESS_TOKEN });
// The daemon is not pinned here: this measures process start-up, which uses every core.
const daemon = await startDaemonChild({ home: home.home, pin: false });
// A clean environment: what a headersHelper gets, plus MCP_AUTH_HOME.
const env = { PATH: process.env.PATH, HOME: process.env.HOME, MCP_AUTH_HOME: home.home };
const expected = JSON.stringify({ Authorization: `Bearer ${ACCESS_TOKEN}` });

function timed(args, extraEnv = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env: { ...env, ...extraEnv }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function packageOf(path) {
  const i = path.lastIndexOf('node_modules/');
  if (i === -1) return undefined;
  const rest = path.slice(i + 'node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

try {
  // Warm-up: page cache, the daemon's first request.
  for (let i = 0; i < 3; i++) {
    const r = timed([BIN, 'headers', 'demo']);
    if (r.status !== 0 || r.stdout.trim() !== expected) throw new Error(`mcp-auth headers failed (${r.status}): ${r.stdout}${r.stderr}`);
    timed(['-e', '0']);
  }
  const cli = [];
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, the order alternating.
    const pair = i % 2 === 0 ? ['cli', 'bare'] : ['bare', 'cli'];
    for (const which of pair) {
      if (which === 'cli') {
        const r = timed([BIN, 'headers', 'demo']);
        if (r.status !== 0 || r.stdout.trim() !== expected) throw new Error(`run ${i}: mcp-auth headers failed (${r.status}): ${r.stderr}`);
        cli.push(r.ms);
      } else {
        bare.push(timed(['-e', '0']).ms);
      }
    }
  }
  const ratio = median(cli) / median(bare);
  const perRun = cli.map((c, i) => c / bare[i]);

  // What the headers process loads: ES modules (loader hook), CommonJS modules and built-ins.
  const traceOut = join(home.home, 'trace.json');
  const trace = (extra) => {
    const r = timed(['--import', TRACE, BIN, 'headers', 'demo'], { TRACE_OUT: traceOut, ...extra });
    if (r.status !== 0) throw new Error(`traced run failed: ${r.stderr}`);
    const t = JSON.parse(readFileSync(traceOut, 'utf8'));
    rmSync(traceOut);
    return t;
  };
  const esm = trace({ TRACE_ESM: '1' }).esm.filter((u) => u.startsWith('file:'));
  const { cjs, builtins } = trace({});
  const ownPath = (u) => u.slice(u.indexOf('/dist/') + 1 || u.indexOf('/bin/') + 1);
  const isOurs = (u) => !u.includes('/node_modules/') && !u.includes('/scripts/bench/');
  const ours = [...new Set([...esm.filter(isOurs).map(ownPath), ...cjs.filter(isOurs).map(ownPath)])];
  const packages = [...new Set([...esm, ...cjs].map(packageOf).filter(Boolean))].sort();
  const publicBuiltins = builtins.filter((b) => !b.startsWith('internal/')).sort();
  const heavyPkgs = packages.filter((p) => HEAVY_PACKAGES.includes(p));
  const heavyBuiltins = builtins.filter((b) => HEAVY_BUILTINS.includes(b));

  const rows = [
    ['`node -e 0`', fmt.ms(median(bare)), fmt.ms(Math.min(...bare)), fmt.ms(Math.max(...bare)), ''],
    ['`mcp-auth headers demo`', fmt.ms(median(cli)), fmt.ms(Math.min(...cli)), fmt.ms(Math.max(...cli)), fmt.ratio(ratio)],
  ];
  const out = table(['process', 'median ms', 'min ms', 'max ms', 'ratio of medians'], rows);
  const met = ratio <= 1.5;
  const verdict = `- Ratio ${fmt.ratio(ratio)} (target ≤ 1.50×; per interleaved pair: ${Math.min(...perRun).toFixed(2)}–${Math.max(...perRun).toFixed(2)}): ${met ? 'met' : '**missed**'}.`;
  const modules = [
    `- Our modules (${ours.length}): ${ours.map((m) => `\`${m}\``).join(', ')}.`,
    `- Packages from node_modules: ${packages.length ? packages.map((p) => `\`${p}\``).join(', ') : 'none'}.`,
    `- Public built-ins: ${publicBuiltins.map((b) => `\`${b}\``).join(', ')}.`,
    `- Heavy modules on the path (${[...HEAVY_PACKAGES, ...HEAVY_BUILTINS.map((b) => `node:${b}`)].join(', ')}): ${
      heavyPkgs.length + heavyBuiltins.length === 0 ? '**none**' : `**${[...heavyPkgs, ...heavyBuiltins].join(', ')}**`
    }.`,
  ].join('\n');
  console.log(`\n${out}\n\n${verdict}\n\n${modules}`);

  if (writeDoc) {
    updateDoc(
      'bench-cli-headers',
      `## \`mcp-auth headers\` as a whole process

\`npm run build && node scripts/bench-cli-headers.mjs\` — ${today()}, ${machine()}.

A daemon (the real one, FILE store, a valid token) runs; \`node ${BIN_REL} headers demo\`
(checked to print the expected headers) and \`node -e 0\` are started ${RUNS} times each,
interleaved with the order alternating, and timed from spawn to exit (wall time, no CPU pinning).

${out}

${verdict}

What the headers process loads (a separate run with \`--import scripts/bench/trace-modules.mjs\`:
ES modules through a loader hook, CommonJS from \`require.cache\` (both counted in "our modules"), built-ins from
\`process.moduleLoadList\` in a run without the hook):

${modules}`,
    );
  }
  if (!met || heavyPkgs.length + heavyBuiltins.length > 0) process.exitCode = 1;
} finally {
  await daemon.close();
  await home.cleanup();
}
