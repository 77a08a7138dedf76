#!/usr/bin/env node
// Refresh storm: 1,000 concurrent GET /v1/servers/demo/headers against the real daemon (FILE
// store) whose stored access token has EXPIRED, with a real token endpoint on loopback (a minimal
// authorization server in this process that counts refresh requests, takes 50 ms to answer, and
// rotates both tokens). What is measured is the daemon's single-flight refresh: exactly one token
// request, and all 1,000 answered 200 with the same new token, which is also what the store holds.
//
//   npm run build && node scripts/bench-refresh-storm.mjs   (BENCH_NO_DOC=1 leaves docs/ alone)
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { join } from 'node:path';
import { fmt, machine, makeHome, pinningNote, quantile, ROOT, startDaemonChild, table, today, updateDoc, writeDoc } from './bench/lib.mjs';

const N = 1_000;
const AS_DELAY_MS = 50;

// --- a minimal authorization server, in its own process (scripts/bench/token-endpoint.mjs) ---
const rotated = { accessToken: `at-rotated-${'z'.repeat(780)}`, refreshToken: 'rt-rotated-0002' };
const asProc = fork(join(ROOT, 'scripts', 'bench', 'token-endpoint.mjs'), [], {
  env: { ...process.env, AS_DELAY_MS: String(AS_DELAY_MS), AS_ROTATED: JSON.stringify(rotated) },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const asAsk = (type) => new Promise((r) => { asProc.once('message', r); asProc.send({ type }); });
const asPort = (await new Promise((r) => asProc.once('message', r))).port;
const issuer = `http://127.0.0.1:${asPort}`;

const home = await makeHome({
  servers: ['demo'],
  accessToken: 'at-expired-0001',
  expiresAt: Date.now() - 60_000,
  as: { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token` },
});
const daemon = await startDaemonChild({ home: home.home });
try {
  const path = '/v1/servers/demo/headers';
  const headers = { host: `127.0.0.1:${daemon.port}`, authorization: `Bearer ${daemon.token}` };
  // One connection per request, all opened at once: 1,000 distinct concurrent clients.
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const one = (t0) =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: daemon.port, path, headers, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body, ms: performance.now() - t0 }));
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  const wave = async () => {
    const startEpoch = performance.timeOrigin + performance.now();
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: N }, () => one(t0)));
    const wall = performance.now() - t0;
    const lat = Float64Array.from(results.map((r) => r.ms)).sort();
    return { results, wall, lat, startEpoch };
  };

  // Wave 1: the token has expired. Wave 2, right after: the same with the new, valid token (the
  // cost of 1,000 simultaneous connections alone, for comparison).
  const storm = await wave();
  const { count: tokenRequests, firstAt } = await asAsk('count');
  const calm = await wave();
  const { count: tokenRequestsAfter } = await asAsk('count');
  agent.destroy();

  const expected = JSON.stringify({ headers: { Authorization: `Bearer ${rotated.accessToken}` } });
  const correct = (w) => w.results.filter((r) => r.status === 200 && r.body === expected).length;
  const statuses = (w) => {
    const out = {};
    for (const r of w.results) out[r.status] = (out[r.status] ?? 0) + 1;
    return Object.entries(out).map(([s, n]) => `${s}: ${n}`).join(', ');
  };
  const stored = JSON.parse(readFileSync(home.paths.credentialsFile, 'utf8'));
  const storedCred = Object.values(stored.entries)
    .map((v) => JSON.parse(v))
    .find((v) => v.accessToken !== undefined);
  const storeOk = storedCred?.accessToken === rotated.accessToken && storedCred?.refreshToken === rotated.refreshToken;
  const lat = (w) => `${fmt.ms(quantile(w.lat, 0.5))} / ${fmt.ms(quantile(w.lat, 0.99))} / ${fmt.ms(w.lat[w.lat.length - 1])} ms`;
  const ok = correct(storm);

  const rows = [
    ['concurrent GET headers, one connection each', fmt.n(N), fmt.n(N)],
    ['token requests made', String(tokenRequests), String(tokenRequestsAfter - tokenRequests)],
    ['answered 200 with the new token', `${fmt.n(ok)} / ${fmt.n(N)}`, `${fmt.n(correct(calm))} / ${fmt.n(N)}`],
    ['status codes', statuses(storm), statuses(calm)],
    ['first request sent → token request reached the AS', `${fmt.ms(firstAt - storm.startEpoch)} ms`, '–'],
    ['wall time until all answered', `${fmt.ms(storm.wall)} ms`, `${fmt.ms(calm.wall)} ms`],
    ['latency p50 / p99 / max', lat(storm), lat(calm)],
  ];
  const out = table(['', 'expired token (storm)', 'valid token (same load)'], rows);
  console.log(`\n${out}\n`);
  console.log(`store holds the rotated tokens: ${storeOk ? 'yes' : 'NO'}`);
  const pass = tokenRequests === 1 && tokenRequestsAfter === 1 && ok === N && storeOk;
  const verdict = pass
    ? '- Exactly 1 token request; all 1,000 answered 200 with the same new token, which the store holds: **met**.'
    : `- **missed**: ${tokenRequests} token requests, ${ok} of ${N} correct answers, store ${storeOk ? 'ok' : 'wrong'}.`;
  console.log(verdict);

  if (writeDoc) {
    updateDoc(
      'bench-refresh-storm',
      `## Refresh storm

\`npm run build && node scripts/bench-refresh-storm.mjs\` — ${today()}, ${machine()}.

The real daemon (FILE store) holds a credential whose access token expired a minute ago. A
minimal authorization server on loopback (its own process) answers refresh-token grants after
${AS_DELAY_MS} ms with rotated access and refresh tokens, and counts them. ${fmt.n(N)}
\`GET /v1/servers/demo/headers\` are sent at once, each on its own connection; then the same
again, now with a valid token, to show what the 1,000 simultaneous connections cost by
themselves. ${pinningNote()}

${out}

${verdict}`,
    );
  }
  if (!pass) process.exitCode = 1;
} finally {
  await daemon.close();
  await home.cleanup();
  asProc.kill();
}
