#!/usr/bin/env node
// `npm run bench`: every scripts/bench-*.mjs in turn (each rewrites its section of
// docs/BENCHMARKS.md), going on after one that misses its target, then a summary. Exits 1 when
// any benchmark missed a target or failed.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const scripts = fileURLToPath(new URL('..', import.meta.url));
const ORDER = ['bench-headers.mjs', 'bench-refresh-storm.mjs', 'bench-cli-headers.mjs', 'bench-many-servers.mjs'];
const found = readdirSync(scripts).filter((f) => /^bench-.*\.mjs$/.test(f));
const all = [...ORDER.filter((f) => found.includes(f)), ...found.filter((f) => !ORDER.includes(f)).sort()];

const results = [];
const t0 = Date.now();
for (const file of all) {
  console.log(`\n=== ${file}`);
  const start = Date.now();
  const r = spawnSync(process.execPath, [join(scripts, file)], { stdio: 'inherit' });
  results.push({ file, status: r.status ?? 1, seconds: (Date.now() - start) / 1000 });
}
console.log('\n=== summary');
for (const r of results) console.log(`${r.status === 0 ? 'ok    ' : 'MISSED'} ${r.file} (${r.seconds.toFixed(0)} s)`);
console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exitCode = results.every((r) => r.status === 0) ? 0 : 1;
