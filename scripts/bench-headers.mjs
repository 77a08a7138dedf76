#!/usr/bin/env node
// GET /v1/servers/demo/headers on the real daemon (FILE store, a valid far-from-expiry token) next
// to a bare fastify route returning a constant JSON body of the same byte size, both in one
// process (scripts/bench/daemon-child.mjs), loaded by autocannon from this process at concurrency
// 1, 50 and 200, the two targets interleaved (A B B A). Targets: daemon ≥ 0.8× the bare route's
// throughput, daemon p99 ≤ 1.5× the bare route's p99, at each concurrency.
//
//   npm run build && node scripts/bench-headers.mjs   (BENCH_DURATION=s per run, default 1;
//                                                      BENCH_NO_DOC=1 leaves docs/ alone)
import { request } from 'node:http';
import { duration, fakeJwt, fmt, interleaved, load, machine, makeHome, pinningNote, ratios, startDaemonChild, table, today, updateDoc, writeDoc } from './bench/lib.mjs';

const SECONDS = duration(1);
const ROUNDS = 7;
const CONCURRENCY = [1, 50, 200];
const ACCESS_TOKEN = fakeJwt('demo', 800);

function get(port, path, headers) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const home = await makeHome({ servers: ['demo'], accessToken: ACCESS_TOKEN });
// The bare route's body: the same JSON shape and byte size as the daemon's answer.
const expected = JSON.stringify({ headers: { Authorization: `Bearer ${ACCESS_TOKEN}` } });
const bareBody = JSON.stringify({ headers: { Authorization: `Bearer ${'y'.repeat(ACCESS_TOKEN.length)}` } });
const daemon = await startDaemonChild({ home: home.home, bare: true, bareBody });
try {
  const path = '/v1/servers/demo/headers';
  const headers = { host: `127.0.0.1:${daemon.port}`, authorization: `Bearer ${daemon.token}` };
  const check = await get(daemon.port, path, headers);
  if (check.status !== 200 || check.body !== expected) throw new Error(`daemon answered ${check.status}: ${check.body.slice(0, 200)}`);
  const bareCheck = await get(daemon.barePort, path, headers);
  if (bareCheck.body.length !== check.body.length) throw new Error(`body sizes differ: bare ${bareCheck.body.length}, daemon ${check.body.length}`);
  const bodyBytes = Buffer.byteLength(check.body);

  const targets = [
    { name: 'bare', url: `http://127.0.0.1:${daemon.barePort}${path}`, headers: { ...headers, host: `127.0.0.1:${daemon.barePort}` } },
    { name: 'daemon', url: `http://127.0.0.1:${daemon.port}${path}`, headers },
  ];
  // Warm-up (JIT, page cache, connection setup), not measured.
  for (const t of targets) await load({ url: t.url, headers: t.headers, connections: 50, duration: 1 });

  const rows = [];
  const verdicts = [];
  for (const c of CONCURRENCY) {
    const r = await interleaved(targets, { connections: c, duration: SECONDS, rounds: ROUNDS });
    for (const [name, x] of Object.entries(r)) {
      if (x.non2xx || x.errors) throw new Error(`${name} at c=${c}: ${x.non2xx} non-2xx answers, ${x.errors} errors`);
    }
    const q = ratios(r.daemon, r.bare);
    const ok = q.rps.median >= 0.8 && q.p99.median <= 1.5;
    verdicts.push({ c, q, ok });
    const range = (x) => `${fmt.ratio(x.median)} (${x.min.toFixed(2)}–${x.max.toFixed(2)})`;
    rows.push([c, 'bare fastify route', fmt.n(r.bare.rps), fmt.ms(r.bare.p50), fmt.ms(r.bare.p99), '', '']);
    rows.push([c, 'daemon GET headers', fmt.n(r.daemon.rps), fmt.ms(r.daemon.p50), fmt.ms(r.daemon.p99), range(q.rps), range(q.p99)]);
    console.log(`c=${c}: bare ${fmt.n(r.bare.rps)} req/s p99 ${fmt.ms(r.bare.p99)} ms | daemon ${fmt.n(r.daemon.rps)} req/s p99 ${fmt.ms(r.daemon.p99)} ms | ${range(q.rps)} throughput, ${range(q.p99)} p99 ${ok ? 'OK' : 'MISSED'}`);
  }
  const out = table(['concurrency', 'target', 'req/s', 'p50 ms', 'p99 ms', 'daemon/bare req/s', 'daemon/bare p99'], rows);
  console.log(`\n${out}\n`);
  const summary = verdicts
    .map((v) => `- c=${v.c}: throughput ${fmt.ratio(v.q.rps.median)} (target ≥ 0.80×), p99 ${fmt.ratio(v.q.p99.median)} (target ≤ 1.50×): ${v.ok ? 'met' : '**missed**'}`)
    .join('\n');
  console.log(summary);

  if (verdicts.some((v) => !v.ok)) process.exitCode = 1;
  if (writeDoc) {
    updateDoc(
      'bench-headers',
      `## Headers: daemon vs a bare fastify route

\`npm run build && node scripts/bench-headers.mjs\` — ${today()}, ${machine()}.

One process runs the real daemon (\`serve()\`, a \`Broker\` over the FILE store holding a valid
token that expires in 24 h, request log to a file with synchronous writes as an autostarted
daemon's) and a bare fastify 5 app whose one route returns a constant JSON body of the same size
(${bodyBytes} bytes). autocannon (another process) loads \`GET /v1/servers/demo/headers\` with the
daemon's Host and API token: at each concurrency ${ROUNDS} rounds of one ${SECONDS} s run per target,
the order reversed every other round. req/s, p50 and p99 are medians over a target's runs
(latencies from autocannon's per-response times, not its whole-millisecond histogram); each ratio
is the median of the per-round ratios, with their range. ${pinningNote()}

${out}

${summary}`,
    );
  }
} finally {
  await daemon.close();
  await home.cleanup();
}
