// `mcp-auth headers` through the daemon it autostarts, with the real binary: the same contract as
// the in-process unit tests (test/unit/cli/headers.test.ts) must hold when the work happens in
// another process — exit codes, `${VAR}` expansion with the *caller's* variables (never the ones
// the daemon was started with), the helper's output winning, and no helper stdout in errors.
// No authorization server is needed: nothing here is logged in.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cliEnv, runCli } from '../support/cli.js';

let home: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'mcp-auth-e2e-daemon-headers-'));
  env = cliEnv(home);
});

afterAll(async () => {
  if (home) {
    await runCli(['stop'], env);
    await rm(home, { recursive: true, force: true });
  }
});

async function daemonRunning(): Promise<boolean> {
  const st = await runCli(['status', '--json'], env);
  expect(st.code, st.stderr).toBe(0);
  return (JSON.parse(st.stdout) as { daemon: { running: boolean } }).daemon.running;
}

describe('mcp-auth headers through the daemon', () => {
  it('keeps the headersHelper contract when the work happens in the daemon', { timeout: 30_000 }, async () => {
    expect(await daemonRunning()).toBe(false);

    // Not logged in: exit 3 and the command that fixes it, from a daemon started on demand.
    expect((await runCli(['add', 'plain', 'http://127.0.0.1:9/mcp'], env)).code).toBe(0);
    const missing = await runCli(['headers', 'plain'], env);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('mcp-auth login plain');
    expect(await daemonRunning()).toBe(true);

    // Static headers with the caller's variables, and a helper whose output wins.
    const helper = join(home, 'helper.sh');
    await writeFile(helper, `#!/bin/sh\nprintf '{"X-Over":"from-helper","X-Helper-For":"%s"}' "$CLAUDE_CODE_MCP_SERVER_NAME"\n`, { mode: 0o700 });
    const add = await runCli([
      'add',
      '--header', 'X-Env: key=${MY_KEY}',
      '--header', 'X-Default: ${UNSET_VAR:-fallback}',
      '--header', 'X-Over: from-config',
      '--headers-helper', `/bin/sh ${helper}`,
      'demo',
      'http://127.0.0.1:9/mcp',
    ], env);
    expect(add.code, add.stderr).toBe(0);
    for (const key of ['first-caller', 'second-caller']) {
      const r = await runCli(['headers'], { ...env, MY_KEY: key, CLAUDE_CODE_MCP_SERVER_NAME: 'demo' });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ 'X-Env': `key=${key}`, 'X-Default': 'fallback', 'X-Over': 'from-helper', 'X-Helper-For': 'demo' });
    }
    // A caller without the variable gets the error, not an earlier caller's value.
    const unset = await runCli(['headers', 'demo'], env);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain('[CONFIG_INVALID]');
    expect(unset.stderr).toContain('MY_KEY');
    expect(unset.stdout).not.toContain('caller');

    // A failing helper: HELPER_FAILED, exit 1, and nothing it printed on stdout.
    await writeFile(helper, `#!/bin/sh\nprintf '{"Authorization":"Bearer sk-daemon-leak"}'\nexit 5\n`, { mode: 0o700 });
    const failed = await runCli(['headers', 'demo', '--json'], { ...env, MY_KEY: 'k' });
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ error: { code: 'HELPER_FAILED' } });
    expect(failed.stdout + failed.stderr).not.toContain('sk-daemon-leak');

    // A servers.json that no longer parses: CONFIG_INVALID naming the file.
    const configFile = join(home, 'servers.json');
    const good = await readFile(configFile, 'utf8');
    await writeFile(configFile, '{"mcpServers": {');
    const broken = await runCli(['headers', 'demo'], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('[CONFIG_INVALID]');
    expect(broken.stderr).toContain(configFile);

    // Fixed again: the same daemon carries on (it re-reads the file on every request).
    await writeFile(configFile, good);
    expect(await daemonRunning()).toBe(true);
    expect((await runCli(['headers', 'plain'], env)).code).toBe(3);
  });
});
