#!/usr/bin/env node
// Stands in for `mcp-auth serve` in the autostart tests: records that it was started (and with
// which environment), answers /v1/health on a free loopback port and publishes the runtime file
// like the real daemon. A file `fake-mode` in MCP_AUTH_HOME (the caller's variables do not reach
// a started daemon) holding "exit" makes it fail at once; "silent", never become ready.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const home = process.env.MCP_AUTH_HOME;
let mode = 'ok';
try {
  mode = readFileSync(join(home, 'fake-mode'), 'utf8').trim();
} catch {
  // the default
}
appendFileSync(join(home, 'starts.txt'), `${process.pid}\n`);
writeFileSync(join(home, `env-${process.pid}.json`), JSON.stringify({ env: process.env, argv: process.argv.slice(2), cwd: process.cwd() }));
process.stdout.write(`fake daemon ${process.pid} starting (${mode})\n`);
if (mode === 'exit') process.exit(1);

const token = 'F'.repeat(43);
const server = createServer((req, res) => {
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ok: true, pid: process.pid, version: '0.0.0-fake', store: 'memory', uptimeMs: 1 }));
});
server.listen(0, '127.0.0.1', () => {
  if (mode === 'silent') return;
  const run = join(home, 'run');
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const tmp = join(run, `.daemon.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify({ pid: process.pid, port: server.address().port, token, startedAt: Date.now(), version: '0.0.0-fake' }), { mode: 0o600 });
  renameSync(tmp, join(run, 'daemon.json'));
  process.stdout.write(`fake daemon ${process.pid} listening\n`);
});
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), 60_000).unref();
