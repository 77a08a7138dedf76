#!/usr/bin/env node
// GET headers latency with 1 vs 1,000 configured servers (all 1,000 logged in, so the FILE store
// holds 2,000 records), measured as bench-headers.mjs does at concurrency 1 and 50: two daemons,
// one per home, loaded alternately. Target: the 1,000-server figures within 10% of the 1-server
// ones. Also each daemon's RSS when idle after start, and idle again after the load.
//
//   npm run build && node scripts/bench-many-servers.mjs   (BENCH_DURATION=s per run, default 1;
//                                                           BENCH_NO_DOC=1 leaves docs/ alone)
import { statSync } from 'node:fs';
import { duration, fakeJwt, fmt, interleaved, load, machine, makeHome, pinningNote, ratios, startDaemonChild, table, today, updateDoc, writeDoc } from './bench/lib.mjs';

const SECONDS = duration(1);
const ROUNDS = 7;
const CONCURRENCY = [1, 50];
const MANY = 1_000;
const ACCESS_TOKEN = fakeJwt('demo', 800);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const names = ['demo', ...Array.from({ length: MANY - 1 }, (_, i) => `server-${String(i + 1).padStart(4, '0')}`)];
const [oneHome, manyHome] = await Promise.all([
  makeHome({ servers: ['demo'], accessToken: ACCESS_TOKEN }),
  makeHome({ servers: names, accessToken: ACCESS_TOKEN }),
]);
const sizes = {
  one: { config: statSync(oneHome.paths.configFile).size, store: statSync(oneHome.paths.credentialsFile).size },
  many: { config: statSync(manyHome.paths.configFile).size, store: statSync(manyHome.paths.credentialsFile).size },
};
const one = await startDaemonChild({ home: oneHome.home });
const many = await startDaemonChild({ home: manyHome.home });
try {
  // Idle after start: no request yet, a moment to settle.
  await sleep(1_000);
  const rssStart = { one: await one.rss(), many: await many.rss() };

  const path = '/v1/servers/demo/headers';
  const target = (name, d) => ({ name, url: `http://127.0.0.1:${d.port}${path}`, headers: { host: `127.0.0.1:${d.port}`, authorization: `Bearer ${d.token}` } });
  const targets = [target('one', one), target('many', many)];
  // Warm-up, not measured; also past the file-change window (util/file-signature.ts, 2.5 s) of
  // the freshly written homes, as a daemon's files normally are.
  for (const t of targets) await load({ url: t.url, headers: t.headers, connections: 50, duration: 1 });
  await sleep(1_000);

  const rows = [];
  const verdicts = [];
  for (const c of CONCURRENCY) {
    const r = await interleaved(targets, { connections: c, duration: SECONDS, rounds: ROUNDS });
    for (const [name, x] of Object.entries(r)) {
      if (x.non2xx || x.errors) throw new Error(`${name} at c=${c}: ${x.non2xx} non-2xx answers, ${x.errors} errors`);
    }
    const q = ratios(r.many, r.one);
    const p50 = r.many.runs.map((x, i) => x.p50 / r.one.runs[i].p50).sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
    // "Within 10%": latency (p50 and p99) at most 1.10× and throughput at least 0.90×.
    const ok = q.p99.median <= 1.1 && p50 <= 1.1 && q.rps.median >= 0.9;
    verdicts.push({ c, q, p50, ok });
    const range = (x) => `${fmt.ratio(x.median)} (${x.min.toFixed(2)}–${x.max.toFixed(2)})`;
    rows.push([c, '1 server', fmt.n(r.one.rps), fmt.ms(r.one.p50), fmt.ms(r.one.p99), '', '', '']);
    rows.push([c, `${fmt.n(MANY)} servers`, fmt.n(r.many.rps), fmt.ms(r.many.p50), fmt.ms(r.many.p99), range(q.rps), fmt.ratio(p50), range(q.p99)]);
    console.log(`c=${c}: 1 server ${fmt.n(r.one.rps)} req/s p50 ${fmt.ms(r.one.p50)} p99 ${fmt.ms(r.one.p99)} | ${MANY} servers ${fmt.n(r.many.rps)} req/s p50 ${fmt.ms(r.many.p50)} p99 ${fmt.ms(r.many.p99)} ${ok ? 'OK' : 'MISSED'}`);
  }
  await sleep(1_000);
  const rssAfter = { one: await one.rss(), many: await many.rss() };

  const out = table(['concurrency', 'daemon', 'req/s', 'p50 ms', 'p99 ms', 'req/s vs 1', 'p50 vs 1', 'p99 vs 1'], rows);
  const mem = table(
    ['daemon', 'servers.json', 'credentials.json', 'idle RSS after start', 'idle RSS after the load'],
    [
      ['1 server', `${fmt.n(sizes.one.config)} B`, `${fmt.n(sizes.one.store)} B`, fmt.mib(rssStart.one), fmt.mib(rssAfter.one)],
      [`${fmt.n(MANY)} servers`, `${fmt.n(sizes.many.config)} B`, `${fmt.n(sizes.many.store)} B`, fmt.mib(rssStart.many), fmt.mib(rssAfter.many)],
    ],
  );
  const summary = verdicts
    .map((v) => `- c=${v.c}: ${fmt.n(MANY)} servers vs 1: throughput ${fmt.ratio(v.q.rps.median)}, p50 ${fmt.ratio(v.p50)}, p99 ${fmt.ratio(v.q.p99.median)} (target: within 10%): ${v.ok ? 'met' : '**missed**'}`)
    .join('\n');
  console.log(`\n${out}\n\n${mem}\n\n${summary}`);

  if (verdicts.some((v) => !v.ok)) process.exitCode = 1;
  if (writeDoc) {
    updateDoc(
      'bench-many-servers',
      `## 1 vs ${fmt.n(MANY)} configured servers

\`npm run build && node scripts/bench-many-servers.mjs\` — ${today()}, ${machine()}.

Two real daemons (FILE store), one for a home with 1 server, one for a home with ${fmt.n(MANY)}
servers, all logged in (so its store holds ${fmt.n(2 * MANY)} records); both serve
\`GET /v1/servers/demo/headers\` for the same 800-character token. Method as for the headers
benchmark: at each concurrency ${ROUNDS} rounds of one ${SECONDS} s autocannon run per daemon,
the order reversed every other round; medians over runs, ratios per round. ${pinningNote()}
RSS is the daemon process's resident set, idle 1 s after start (no request yet) and idle 1 s after
the load.

${out}

${mem}

${summary}`,
    );
  }
} finally {
  await Promise.all([one.close(), many.close()]);
  await Promise.all([oneHome.cleanup(), manyHome.cleanup()]);
}
