// `mcp-auth headers`, in-process: Claude Code's headersHelper contract (one JSON object on
// stdout), the server-name fallback, exit 3 for a missing login, header layering and helper
// failures. Logins are seeded in the credential store; no authorization server is contacted
// except a closed loopback port where a refresh is due.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { readCredential, readServerState } from '../../../src/broker/records.js';
import { serverStateKey } from '../../../src/store/key.js';
import { jsonError, makeHome, seedLogin, type Home } from './support.js';

const URL_ = 'https://mcp.example.com/mcp';
let home: Home;
beforeEach(async () => {
  home = await makeHome();
});
afterEach(async () => {
  await home.remove();
});

async function add(...argv: string[]): Promise<void> {
  const r = await home.run(['add', ...argv]);
  expect(r.code, r.stderr).toBe(0);
}

/** A shell script in the home directory, used as a headersHelper. */
async function helper(name: string, body: string): Promise<string> {
  const file = join(home.dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o700 });
  return `/bin/sh ${file}`;
}

/** A loopback port with nothing listening: connections are refused at once. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('mcp-auth headers', () => {
  it('prints exactly one JSON object with the bearer token of a logged-in server', async () => {
    await add('demo', URL_);
    await seedLogin(home, 'demo', URL_, { accessToken: 'at-123', expiresAt: Date.now() + 3_600_000 });
    const r = await home.run(['headers', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('{"Authorization":"Bearer at-123"}\n');
  });

  it('takes the server name from CLAUDE_CODE_MCP_SERVER_NAME when none is given', async () => {
    await add('demo', URL_);
    await add('other', 'https://other.example.com/mcp');
    await seedLogin(home, 'demo', URL_, { accessToken: 'at-demo' });
    const r = await home.run(['headers'], { env: { CLAUDE_CODE_MCP_SERVER_NAME: 'demo' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ Authorization: 'Bearer at-demo' });
    // An explicit name wins over the variable.
    const explicit = await home.run(['headers', 'other'], { env: { CLAUDE_CODE_MCP_SERVER_NAME: 'demo' } });
    expect(explicit.code).toBe(3);
  });

  it('is a usage error (exit 2) without a name and without CLAUDE_CODE_MCP_SERVER_NAME', async () => {
    await add('demo', URL_);
    const r = await home.run(['headers']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('CLAUDE_CODE_MCP_SERVER_NAME');
    const empty = await home.run(['headers'], { env: { CLAUDE_CODE_MCP_SERVER_NAME: '' } });
    expect(empty.code).toBe(2);
  });

  it('exits 3 when not logged in, naming the command that fixes it, with nothing on stdout', async () => {
    await add('demo', URL_);
    const r = await home.run(['headers', 'demo']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[LOGIN_REQUIRED]');
    expect(r.stderr).toContain('mcp-auth login demo');
  });

  it('exits 3 with the JSON error shape under --json', async () => {
    await add('demo', URL_);
    const r = await home.run(['headers', '--json', 'demo']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('');
    const e = jsonError(r.stdout);
    expect(Object.keys(e).sort()).toEqual(['code', 'hint', 'message']);
    expect(e).toMatchObject({ code: 'LOGIN_REQUIRED', hint: 'Run: mcp-auth login demo' });
  });

  it('exits 3 for an expired token that cannot be refreshed', async () => {
    await add('demo', URL_);
    await seedLogin(home, 'demo', URL_, { accessToken: 'old', obtainedAt: Date.now() - 7_200_000, expiresAt: Date.now() - 3_600_000 });
    const r = await home.run(['headers', 'demo']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('mcp-auth login demo');
  });

  it('exits 3 when the login was for a URL the config no longer has', async () => {
    await add('demo', URL_);
    await seedLogin(home, 'demo', 'https://previous.example.com/mcp', { accessToken: 'at-old-url' });
    const r = await home.run(['headers', 'demo']);
    expect(r.code).toBe(3);
    expect(r.stdout).not.toContain('at-old-url');
  });

  it('merges static headers (with ${VAR} and ${VAR:-default} expanded) and the helper output; the helper wins', async () => {
    const cmd = await helper(
      'helper.sh',
      `printf '{"X-Over":"from-helper","X-Helper":"%s %s","Authorization":"Bearer helper-token"}' "$CLAUDE_CODE_MCP_SERVER_NAME" "$CLAUDE_CODE_MCP_SERVER_URL"`,
    );
    await add(
      '--header', 'X-Static: plain',
      '--header', 'X-Env: key=${MY_KEY}',
      '--header', 'X-Default: ${UNSET_VAR:-fallback}',
      '--header', 'X-Empty-Default: ${EMPTY_VAR:-used}',
      '--header', 'X-Over: from-config',
      '--header', 'authorization: Bearer static-token',
      '--headers-helper', cmd,
      'demo',
      URL_,
    );
    const r = await home.run(['headers', 'demo'], { env: { MY_KEY: 'k-1', EMPTY_VAR: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      'X-Static': 'plain',
      'X-Env': 'key=k-1',
      'X-Default': 'fallback',
      'X-Empty-Default': 'used',
      'X-Over': 'from-helper',
      'X-Helper': `demo ${URL_}`,
      // Case-insensitive merge: the helper's spelling and value replace the config's.
      Authorization: 'Bearer helper-token',
    });
  });

  it('puts the login token under explicit headers: static Authorization beats it, others are added', async () => {
    await add('--header', 'X-Team: a', 'demo', URL_);
    await seedLogin(home, 'demo', URL_, { accessToken: 'at-login' });
    const r = await home.run(['headers', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ Authorization: 'Bearer at-login', 'X-Team': 'a' });

    await home.run(['add', '--force', '--header', 'Authorization: Bearer ${PAT}', 'demo', URL_]);
    await seedLogin(home, 'demo', URL_, { accessToken: 'at-login' });
    const overridden = await home.run(['headers', 'demo'], { env: { PAT: 'pat-9' } });
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(JSON.parse(overridden.stdout)).toEqual({ Authorization: 'Bearer pat-9' });
  });

  it('needs no login for a server with oauth: false', async () => {
    const r0 = await home.run(['add-json', 'demo', JSON.stringify({ url: URL_, headers: { 'X-Api-Key': '${KEY}' }, oauth: false })]);
    expect(r0.code, r0.stderr).toBe(0);
    const r = await home.run(['headers', 'demo'], { env: { KEY: 'key-1' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ 'X-Api-Key': 'key-1' });
  });

  it('fails with CONFIG_INVALID (exit 1) naming a ${VAR} that is not set', async () => {
    await add('--header', 'X-Env: ${MISSING_VAR}', '--headers-helper', 'echo {}', 'demo', URL_);
    const r = await home.run(['headers', 'demo']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[CONFIG_INVALID]');
    expect(r.stderr).toContain('MISSING_VAR');
  });

  it('reports a failing helper as HELPER_FAILED (exit 1) without its stdout', async () => {
    const cmd = await helper('fail.sh', `printf '{"Authorization":"Bearer sk-leaked-secret"}'\necho 'upstream said no' >&2\nexit 4`);
    await add('--headers-helper', cmd, 'demo', URL_);
    const r = await home.run(['headers', 'demo']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[HELPER_FAILED]');
    expect(r.stderr).toContain('exited with code 4');
    expect(r.stderr).toContain('upstream said no');
    expect(r.stderr).not.toContain('sk-leaked-secret');

    const j = await home.run(['headers', 'demo', '--json']);
    expect(j.code).toBe(1);
    expect(jsonError(j.stdout).code).toBe('HELPER_FAILED');
    expect(j.stdout).not.toContain('sk-leaked-secret');
  });

  it('reports helper output that is not a JSON object as HELPER_FAILED without echoing it', async () => {
    const cmd = await helper('bad.sh', `echo 'Authorization: Bearer sk-not-json-secret'`);
    await add('--headers-helper', cmd, 'demo', URL_);
    const r = await home.run(['headers', 'demo']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[HELPER_FAILED]');
    expect(r.stderr).not.toContain('sk-not-json-secret');
  });

  it('reports an unknown server as SERVER_NOT_FOUND (exit 1)', async () => {
    const r = await home.run(['headers', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[SERVER_NOT_FOUND]');
  });

  it('refuses a second positional argument (exit 2)', async () => {
    expect((await home.run(['headers', 'a', 'b'])).code).toBe(2);
  });

  describe('with the authorization server unreachable', () => {
    it('keeps using a token that is due for refresh but still valid (exit 0)', async () => {
      const issuer = `http://127.0.0.1:${await closedPort()}`;
      await add('demo', URL_);
      const now = Date.now();
      // Due: two minutes left, inside the five-minute refresh margin.
      await seedLogin(home, 'demo', URL_, { accessToken: 'at-due', refreshToken: 'rt-1', obtainedAt: now - 3_000_000, expiresAt: now + 120_000 }, issuer);
      const r = await home.run(['headers', 'demo']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ Authorization: 'Bearer at-due' });
      expect(r.stderr).toContain('the current token is still valid');
    });

    it('fails an expired token with AUTH_SERVER_UNAVAILABLE (exit 1, not 3) and keeps the credential', async () => {
      const issuer = `http://127.0.0.1:${await closedPort()}`;
      await add('demo', URL_);
      const now = Date.now();
      await seedLogin(home, 'demo', URL_, { accessToken: 'at-expired', refreshToken: 'rt-keep', obtainedAt: now - 7_200_000, expiresAt: now - 60_000 }, issuer);
      const r = await home.run(['headers', 'demo']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('[AUTH_SERVER_UNAVAILABLE]');
      expect(r.stderr).not.toContain('mcp-auth login demo');

      const state = await readServerState(home.store(), serverStateKey('demo'));
      expect(state).toBeDefined();
      const cred = await readCredential(home.store(), state!.credentialKey);
      expect(cred).toMatchObject({ accessToken: 'at-expired', refreshToken: 'rt-keep' });
      const list = await home.run(['list', '--json']);
      expect(JSON.parse(list.stdout)).toMatchObject({ servers: [{ name: 'demo', state: 'ok', hasRefreshToken: true }] });
    });
  });
});
