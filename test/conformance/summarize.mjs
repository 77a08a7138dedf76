#!/usr/bin/env node
// Summarizes a conformance run made by scripts/conformance.sh.
//
//   node summarize.mjs <out-dir> <scenario>...
//
// For each scenario it reads <out-dir>/<scenario>.rc (the runner's exit code: 0 means the
// suite judged the scenario passed: no FAILURE, no WARNING, no timeout, and a client exit
// of 0 unless the scenario allows a client error), <out-dir>/<scenario>.log (the runner's
// output) and the checks.json the runner saved under <out-dir>/<scenario>/. Prints one
// line per scenario, the failing/warning checks under it, writes <out-dir>/summary.json,
// and ends with the line `conformance: N passed, M failed`. Exit 1 if any failed.

import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [outDir, ...scenarios] = process.argv.slice(2);
if (!outDir || scenarios.length === 0) {
  console.error('usage: summarize.mjs <out-dir> <scenario>...');
  process.exit(2);
}

function findChecks(dir) {
  // The runner writes <dir>/auth/<scenario>-<timestamp>/checks.json; take the newest.
  const found = [];
  const walk = (d, depth) => {
    if (depth > 3 || !existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.name === 'checks.json') found.push(p);
    }
  };
  walk(dir, 0);
  found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found[0];
}

function read(p) {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

const results = [];
let passed = 0;
let failed = 0;
const pad = Math.max(...scenarios.map((s) => s.length)) + 5;

for (const s of scenarios) {
  const rcText = read(join(outDir, `${s}.rc`));
  const rc = rcText === undefined ? undefined : Number(rcText.trim());
  const logText = read(join(outDir, `${s}.log`)) ?? '';
  const checksPath = findChecks(join(outDir, s));
  let checks = [];
  if (checksPath) {
    try {
      checks = JSON.parse(readFileSync(checksPath, 'utf8'));
    } catch {
      checks = [];
    }
  }
  const count = (st) => checks.filter((c) => c.status === st).length;
  const n = { success: count('SUCCESS'), failure: count('FAILURE'), warning: count('WARNING') };
  const clientExit = /Client exited with code (-?\d+)/.exec(logText)?.[1];
  const timedOut = /CLIENT TIMED OUT|Client timed out/.test(logText);
  const ok = rc === 0;
  ok ? passed++ : failed++;

  const notes = [];
  if (rc === undefined) notes.push('runner did not finish');
  if (!checksPath) notes.push('no checks.json');
  if (clientExit !== undefined) notes.push(`client exit ${clientExit}`);
  if (timedOut) notes.push('client timed out');
  const line =
    `${ok ? 'PASS' : 'FAIL'}  ${`auth/${s}`.padEnd(pad)} ` +
    `${n.success} passed, ${n.failure} failed, ${n.warning} warnings` +
    (notes.length ? `  (${notes.join('; ')})` : '');
  console.log(line);
  const why = [];
  if (!ok) {
    for (const c of checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')) {
      console.log(`        ${c.status.padEnd(7)} ${c.id}: ${c.errorMessage || c.description}`);
    }
    // What the client and the CLI said last (client.mjs / sdk-client.mjs log to stderr).
    const clientStderr = (checksPath && read(join(dirname(checksPath), 'stderr.txt'))) || '';
    const lines = clientStderr.split('\n');
    const cliError = lines.filter((l) => /^\s*\| mcp-auth: /.test(l)).pop();
    const clientError = lines.filter((l) => /\] FAILED: /.test(l)).pop();
    for (const l of [cliError, clientError]) {
      if (l) {
        why.push(l.replace(/^\s*\|\s*/, '').trim());
        console.log(`        said: ${why.at(-1).slice(0, 300)}`);
      }
    }
  }
  results.push({
    scenario: `auth/${s}`,
    passed: ok,
    runnerExit: rc ?? null,
    clientExit: clientExit === undefined ? 0 : Number(clientExit),
    timedOut,
    counts: n,
    checksFile: checksPath ?? null,
    said: why,
    problems: checks
      .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
      .map((c) => ({ id: c.id, status: c.status, description: c.description, details: c.details })),
  });
}

writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify({ passed, failed, results }, null, 2)}\n`);
console.log(`details: ${join(outDir, 'summary.json')}, <scenario>.log, <scenario>/**/{checks.json,stderr.txt}`);
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
