// The reading verbs (`list`, `get`) and `remove`, in-process.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { clientSecretKey, serverStateKey } from '../../../src/store/key.js';
import { makeHome, seedLogin, type Home } from './support.js';

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

describe('mcp-auth list', () => {
  it('says how to add a server when there is none; --json gives an empty list', async () => {
    const text = await home.run(['list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('No servers configured');
    const json = await home.run(['list', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ servers: [] });
  });

  it('lists every server with its state, as text and as parseable JSON', async () => {
    await add('demo', 'https://mcp.example.com/mcp');
    await add('--header', 'Authorization: Bearer ${TOKEN}', 'static', 'https://static.example.com/mcp');
    await add('--transport', 'sse', 'live', 'https://live.example.com/sse');
    await seedLogin(home, 'live', 'https://live.example.com/sse', {
      accessToken: 'at-live',
      refreshToken: 'rt-live',
      expiresAt: Date.now() + 3_600_000,
      scope: 'mcp:read',
    });

    const env = { TOKEN: 'tok-env' };
    const text = await home.run(['list'], { env });
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^demo\s+https:\/\/mcp\.example\.com\/mcp\s+login required: run mcp-auth login demo$/);
    expect(lines[1]).toMatch(/^static\s+https:\/\/static\.example\.com\/mcp\s+no OAuth/);
    expect(lines[2]).toMatch(/^live\s+https:\/\/live\.example\.com\/sse\s+logged in, expires in \d+m, refreshable$/);
    expect(text.stdout).not.toContain('at-live');

    const json = await home.run(['list', '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { servers: Array<Record<string, unknown>> };
    expect(parsed.servers).toEqual([
      { name: 'demo', url: 'https://mcp.example.com/mcp', type: 'http', state: 'login_required', store: 'file' },
      { name: 'static', url: 'https://static.example.com/mcp', type: 'http', state: 'not_oauth', store: 'file' },
      {
        name: 'live',
        url: 'https://live.example.com/sse',
        type: 'sse',
        state: 'ok',
        store: 'file',
        issuer: 'https://as.example.test',
        clientId: 'client-1',
        hasRefreshToken: true,
        account: 'default',
        scope: 'mcp:read',
        expiresAt: expect.any(Number) as number,
      },
    ]);
    expect(json.stdout).not.toContain('at-live');
    expect(json.stdout).not.toContain('rt-live');
  });

  it('shows a server whose ${VAR} is unset as an error without failing the listing', async () => {
    await add('--header', 'Authorization: Bearer ${TOKEN}', 'static', 'https://static.example.com/mcp');
    await add('demo', 'https://mcp.example.com/mcp');
    const r = await home.run(['list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { servers: unknown[] }).servers).toEqual([
      expect.objectContaining({ name: 'static', state: 'error', error: { code: 'CONFIG_INVALID', message: expect.stringContaining('TOKEN') as string } }),
      expect.objectContaining({ name: 'demo', state: 'login_required' }),
    ]);
  });

  it('refuses positional arguments (exit 2)', async () => {
    expect((await home.run(['list', 'demo'])).code).toBe(2);
  });
});

describe('mcp-auth get', () => {
  beforeEach(async () => {
    await add(
      '--header', 'X-Api-Key: sk-live-abcdef',
      '--header', 'Authorization: Bearer ${MY_TOKEN}',
      '--header', 'Cookie: session=s3cr3t',
      '--header', 'X-Team: platform',
      '--client-id', 'cid',
      '--callback-port', '8080',
      'demo',
      'https://mcp.example.com/mcp',
    );
  });

  it('shows the configuration with credential-like header values masked (text)', async () => {
    const r = await home.run(['get', 'demo'], { env: { MY_TOKEN: 'tok-from-env' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('demo:\n  type: http\n  url: https://mcp.example.com/mcp\n');
    expect(r.stdout).toContain('  header: X-Api-Key: <redacted>\n');
    expect(r.stdout).toContain('  header: Cookie: <redacted>\n');
    // A value that only references a variable reveals nothing and is shown as written.
    expect(r.stdout).toContain('  header: Authorization: Bearer ${MY_TOKEN}\n');
    expect(r.stdout).toContain('  header: X-Team: platform\n');
    expect(r.stdout).toContain('  oauth.clientId: cid\n  oauth.callbackPort: 8080\n');
    expect(r.stdout).toContain('  status: no OAuth (static headers / headersHelper)\n');
    expect(r.stdout).not.toContain('sk-live-abcdef');
    expect(r.stdout).not.toContain('s3cr3t');
    expect(r.stdout).not.toContain('tok-from-env');
  });

  it('prints one parseable JSON document with --json, masked the same way', async () => {
    const r = await home.run(['get', '--json', 'demo'], { env: { MY_TOKEN: 'tok-from-env' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'demo',
      config: {
        type: 'http',
        url: 'https://mcp.example.com/mcp',
        headers: {
          'X-Api-Key': '<redacted>',
          Authorization: 'Bearer ${MY_TOKEN}',
          Cookie: '<redacted>',
          'X-Team': 'platform',
        },
        oauth: { clientId: 'cid', callbackPort: 8080 },
      },
      clientSecretStored: false,
      status: { name: 'demo', url: 'https://mcp.example.com/mcp', type: 'http', state: 'not_oauth', store: 'file' },
    });
    expect(r.stdout).not.toContain('sk-live-abcdef');
  });

  it('shows a logged-in state without the tokens', async () => {
    await seedLogin(home, 'demo', 'https://mcp.example.com/mcp', { accessToken: 'at-secret-1', refreshToken: 'rt-secret-1', expiresAt: Date.now() + 90_000, scope: 'a b' });
    const r = await home.run(['get', 'demo'], { env: { MY_TOKEN: 'x' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ {2}status: logged in, expires in \d+s, refreshable\n/);
    expect(r.stdout).toContain('  issuer: https://as.example.test\n  client id: client-1\n  scope: a b\n  store: file\n');
    expect(r.stdout).not.toContain('at-secret-1');
    expect(r.stdout).not.toContain('rt-secret-1');
  });

  it('still shows the configuration when a ${VAR} it uses is unset, with the problem as its state', async () => {
    const r = await home.run(['get', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  header: Authorization: Bearer ${MY_TOKEN}\n');
    expect(r.stdout).toContain('  status: error: Environment variable MY_TOKEN used in headers.Authorization is not set\n');
    const j = await home.run(['get', '--json', 'demo']);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ status: { state: 'error', error: { code: 'CONFIG_INVALID' } } });
  });

  it('reports an unknown server as SERVER_NOT_FOUND (exit 1), also with --json', async () => {
    const r = await home.run(['get', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[SERVER_NOT_FOUND]');
    expect(r.stderr).toContain('  hint: ');
    const j = await home.run(['get', 'nope', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ error: { code: 'SERVER_NOT_FOUND', message: 'No server named "nope"', hint: expect.any(String) as string } });
  });

  it('needs a name (exit 2)', async () => {
    expect((await home.run(['get'])).code).toBe(2);
  });
});

describe('mcp-auth remove', () => {
  it('drops the entry, keeps the others, and forgets its stored secret and login', async () => {
    await add('keep', 'https://keep.example.com/mcp');
    const r0 = await home.run(['add', '--client-id', 'c', '--client-secret', 'gone', 'https://gone.example.com/mcp'], { env: { MCP_CLIENT_SECRET: 'sec' } });
    expect(r0.code, r0.stderr).toBe(0);
    await seedLogin(home, 'gone', 'https://gone.example.com/mcp', { accessToken: 'at' });
    expect(await home.store().get(clientSecretKey('gone'))).toBe('sec');

    const r = await home.run(['remove', 'gone']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Removed "gone".');
    expect(await home.readConfig()).toEqual({ mcpServers: { keep: { type: 'http', url: 'https://keep.example.com/mcp' } } });
    expect(await home.store().get(clientSecretKey('gone'))).toBeUndefined();
    expect(await home.store().get(serverStateKey('gone'))).toBeUndefined();
    expect(await home.store().keys('cred:')).toEqual([]);

    const again = await home.run(['remove', 'gone']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('[SERVER_NOT_FOUND]');
  });

  it('needs exactly one name (exit 2)', async () => {
    expect((await home.run(['remove'])).code).toBe(2);
    expect((await home.run(['remove', 'a', 'b'])).code).toBe(2);
  });
});
