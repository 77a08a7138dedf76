// The process under load in the benchmarks: the real daemon, built as `mcp-auth serve` builds it
// (createDeps → FILE store, real safe fetch; a Broker; serve() on 127.0.0.1), its log going to a
// file with synchronous writes as an autostarted daemon's stderr does. With BENCH_BARE=1 the same
// process also runs a bare fastify 5 app whose one route returns BENCH_BARE_BODY (constant JSON).
// Talks to its parent over IPC: "ready" with the ports and API token; answers "rss"; "close" stops.
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = process.env.BENCH_DIST ?? fileURLToPath(new URL('../../dist/', import.meta.url));
const [{ createDeps }, { Broker }, { serve }, { VERSION }, { readRuntimeFile }] = await Promise.all([
  import(join(DIST, 'cli/context.js')),
  import(join(DIST, 'broker/broker.js')),
  import(join(DIST, 'daemon/serve.js')),
  import(join(DIST, 'cli/version.js')),
  import(join(DIST, 'client/runtime.js')),
]);

const env = { ...process.env };
const io = { env, stdout: () => undefined, stderr: (s) => process.stderr.write(s) };
const deps = {
  ...createDeps(io),
  openBrowser: async () => ({ opened: false, reason: 'benchmark daemon' }),
};
if (deps.store.backend !== 'file') throw new Error(`expected the file store, got ${deps.store.backend}`);
const broker = new Broker(deps);

const logFd = openSync(deps.paths.logFile, 'a', 0o600);
const handle = await serve({
  paths: deps.paths,
  broker,
  version: VERSION,
  log: (line) => writeSync(logFd, `${line}\n`),
  handleSignals: false,
});
const runtime = await readRuntimeFile(deps.paths);
if (!runtime) throw new Error('no runtime file after serve()');

let bare;
if (process.env.BENCH_BARE === '1') {
  const { default: Fastify } = await import('fastify');
  const body = JSON.parse(process.env.BENCH_BARE_BODY);
  bare = Fastify();
  bare.get('/v1/servers/:name/headers', async () => body);
  await bare.listen({ host: '127.0.0.1', port: 0 });
}

process.on('message', async (msg) => {
  if (msg.type === 'rss') {
    process.send({ id: msg.id, rss: process.memoryUsage().rss });
  } else if (msg.type === 'close') {
    await bare?.close();
    await handle.close();
    closeSync(logFd);
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

process.send({ type: 'ready', port: handle.port, token: runtime.token, barePort: bare?.server.address().port });
