// The daemon never holds one caller's environment for everyone (real `mcp-auth` binary, dist/):
// a daemon started on demand inherits only the allow-listed variables (autostart.ts, INHERITED),
// so a variable of the caller that started it — planted as MCP_AUTH_TEST_CANARY_VAR — is neither in
// its /proc/<pid>/environ nor used for anyone else; each caller's `${VAR}` value (and
// MCP_CLIENT_SECRET) serves that caller's request only, and a caller without the variable gets
// CONFIG_INVALID. A headersHelper runs with the daemon's environment plus the values lent with the
// request. `mcp-auth serve` started by hand keeps its own environment, minus MCP_CLIENT_SECRET.
// No authorization server is needed: the server has `oauth: false`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { INHERITED } from '../../src/client/autostart.js';
import { BIN, cliEnv, runCli } from '../support/cli.js';
import { alive, waitFor } from '../support/processes.js';

const CANARY = 'MCP_AUTH_TEST_CANARY_VAR';

let home: string;
let env: NodeJS.ProcessEnv;
const pids = new Set<number>();
let serveChild: ChildProcess | undefined;

async function runtimePid(): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(join(home, 'run', 'daemon.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/** The daemon's environment as the kernel holds it: NAME=value strings. */
function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-e2e-daemon-env-'));
  env = cliEnv(home);
  const helper = join(home, 'helper.sh');
  // What the helper sees: the lent `${VAR}` value, the lent secret, and a variable nobody lends.
  await writeFile(
    helper,
    `#!/bin/sh\nprintf '{"X-Helper-Canary":"canary=%s","X-Helper-Secret":"secret=%s","X-Helper-Own":"own=%s"}' "$${CANARY}" "$MCP_CLIENT_SECRET" "$MY_OWN"\n`,
    { mode: 0o700 },
  );
  const server = { type: 'http', url: 'http://127.0.0.1:9/mcp', oauth: false, headers: { 'X-Canary': `\${${CANARY}}` }, headersHelper: `/bin/sh ${helper}` };
  const add = await runCli(['add-json', 'demo', JSON.stringify(server)], env);
  expect(add.code, add.stderr).toBe(0);
});

afterAll(async () => {
  if (!home) return;
  await runCli(['stop'], env);
  serveChild?.kill('SIGKILL');
  const pid = await runtimePid();
  if (pid !== undefined) pids.add(pid);
  const left = [...pids].filter(alive);
  for (const p of left) process.kill(p, 'SIGKILL');
  await rm(home, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe('the daemon and the callers’ environments', () => {
  it('an autostarted daemon holds none of the starting caller’s variables; each caller’s ${VAR} serves only itself', { timeout: 30_000 }, async () => {
    expect(await runtimePid()).toBeUndefined();

    // The first caller starts the daemon, with a canary, a secret and a variable nobody references.
    const first = await runCli(['headers', 'demo'], { ...env, [CANARY]: 'canary-first-caller', MCP_CLIENT_SECRET: 'secret-first-caller', MY_OWN: 'own-first-caller' });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      'X-Canary': 'canary-first-caller',
      'X-Helper-Canary': 'canary=canary-first-caller',
      'X-Helper-Secret': 'secret=secret-first-caller',
      'X-Helper-Own': 'own=',
    });
    const pid = await runtimePid();
    expect(pid).toBeDefined();
    pids.add(pid!);

    // Its environment: the allow-list only, and no trace of the caller's values.
    const vars = environ(pid!);
    const names = vars.map((v) => v.slice(0, v.indexOf('=')));
    expect(names.filter((n) => !(INHERITED as readonly string[]).includes(n) && !/^LC_[A-Z]+$/.test(n))).toEqual([]);
    expect(names).not.toContain(CANARY);
    expect(names).not.toContain('MCP_CLIENT_SECRET');
    expect(names).not.toContain('MY_OWN');
    const all = vars.join('\n');
    for (const value of ['canary-first-caller', 'secret-first-caller', 'own-first-caller']) expect(all).not.toContain(value);
    expect(vars).toContain(`MCP_AUTH_HOME=${home}`);

    // A second caller's value is used for its own request; it lends no secret, so none is used.
    const second = await runCli(['headers', 'demo'], { ...env, [CANARY]: 'second-caller' });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({
      'X-Canary': 'second-caller',
      'X-Helper-Canary': 'canary=second-caller',
      'X-Helper-Secret': 'secret=',
      'X-Helper-Own': 'own=',
    });

    // A third caller without the variable: the unset-variable error, not an earlier caller's value.
    const third = await runCli(['headers', 'demo'], env);
    expect(third.code).toBe(1);
    expect(third.stderr).toContain('[CONFIG_INVALID]');
    expect(third.stderr).toContain(CANARY);
    for (const value of ['canary-first-caller', 'second-caller']) expect(third.stdout + third.stderr).not.toContain(value);

    // All three went to the same daemon (none was answered in-process).
    expect(await runtimePid()).toBe(pid);
    const stop = await runCli(['stop'], env);
    expect(stop.code, stop.stderr).toBe(0);
    await waitFor(() => !alive(pid!), 10_000, 'the daemon to exit');
  });

  it('`mcp-auth serve` started by hand keeps its own environment, without MCP_CLIENT_SECRET', { timeout: 30_000 }, async () => {
    expect(await runtimePid()).toBeUndefined();
    serveChild = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...env, MCP_CLIENT_SECRET: 'secret-of-the-serve-command', MY_OWN: 'own-of-the-daemon' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = serveChild;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('listening on 127.0.0.1'), 15_000, 'the daemon to listen');
    pids.add(child.pid!);
    expect(await runtimePid()).toBe(child.pid);

    const r = await runCli(['headers', 'demo'], { ...env, [CANARY]: 'caller-of-serve' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      'X-Canary': 'caller-of-serve',
      'X-Helper-Canary': 'canary=caller-of-serve',
      'X-Helper-Secret': 'secret=',
      'X-Helper-Own': 'own=own-of-the-daemon',
    });
    // A caller without the variable: CONFIG_INVALID here too (the serve command has none of its own).
    expect((await runCli(['headers', 'demo'], env)).stderr).toContain('[CONFIG_INVALID]');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    serveChild = undefined;
  });
});
