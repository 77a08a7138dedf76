// `mcp-auth add` and `mcp-auth add-json`, in-process: what ends up in servers.json (and what
// must not), the secret in the credential store, and the exit codes of each refusal.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { clientSecretKey } from '../../../src/store/key.js';
import { makeHome, type Home } from './support.js';

let home: Home;
beforeEach(async () => {
  home = await makeHome();
});
afterEach(async () => {
  await home.remove();
});

describe('mcp-auth add', () => {
  it('writes exactly the flags given to servers.json, mode 0600', async () => {
    const r = await home.run([
      'add',
      '--transport', 'sse',
      '--header', 'X-Team: platform',
      '--header', 'X-Api-Key:  ${API_KEY}  ',
      '--client-id', 'my-client',
      '--callback-port', '8123',
      '--scope', 'read write',
      '--auth-server-metadata-url', 'https://as.example.com/.well-known/oauth-authorization-server',
      '--client-metadata-url', 'https://example.com/mcp-auth/client.json',
      '--redirect-uri', 'http://localhost:8123/callback',
      '--resource', 'https://api.example.com/',
      '--headers-helper', 'get-headers --team platform',
      'work',
      'https://mcp.example.com/mcp',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Added sse server "work" (https://mcp.example.com/mcp).');
    expect(await home.readConfig()).toEqual({
      mcpServers: {
        work: {
          type: 'sse',
          url: 'https://mcp.example.com/mcp',
          headers: { 'X-Team': 'platform', 'X-Api-Key': '${API_KEY}' },
          headersHelper: 'get-headers --team platform',
          oauth: {
            clientId: 'my-client',
            callbackPort: 8123,
            authServerMetadataUrl: 'https://as.example.com/.well-known/oauth-authorization-server',
            scopes: 'read write',
            resource: 'https://api.example.com/',
            clientMetadataUrl: 'https://example.com/mcp-auth/client.json',
            redirectUri: 'http://localhost:8123/callback',
          },
        },
      },
    });
    expect((await stat(home.paths.configFile)).mode & 0o777).toBe(0o600);
  });

  it('writes a minimal http entry when no flags are given', async () => {
    const r = await home.run(['add', 'demo', 'https://mcp.example.com/mcp']);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(home.paths.configFile, 'utf8')).toBe(
      JSON.stringify({ mcpServers: { demo: { type: 'http', url: 'https://mcp.example.com/mcp' } } }, null, 2) + '\n',
    );
  });

  it('stores --no-resource as resource: false', async () => {
    const r = await home.run(['add', '--no-resource', 'demo', 'https://mcp.example.com/mcp']);
    expect(r.code, r.stderr).toBe(0);
    expect(await home.readConfig()).toEqual({ mcpServers: { demo: { type: 'http', url: 'https://mcp.example.com/mcp', oauth: { resource: false } } } });
  });

  it('keeps a header value that contains a colon whole', async () => {
    const r = await home.run(['add', '-H', 'X-Forwarded-Host: proxy.example.com:8443', 'demo', 'https://mcp.example.com/mcp']);
    expect(r.code, r.stderr).toBe(0);
    expect(await home.readConfig()).toMatchObject({ mcpServers: { demo: { headers: { 'X-Forwarded-Host': 'proxy.example.com:8443' } } } });
  });

  it('stores --client-secret from MCP_CLIENT_SECRET in the credential store, never in servers.json', async () => {
    const secret = 'cs-3b9f0d-very-secret';
    const r = await home.run(['add', '--client-id', 'ci-client', '--client-secret', 'ci', 'https://mcp.example.com/mcp'], {
      env: { MCP_CLIENT_SECRET: secret },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Client secret stored.');
    expect(r.stderr + r.stdout).not.toContain(secret);
    const config = await readFile(home.paths.configFile, 'utf8');
    expect(config).not.toContain(secret);
    expect(JSON.parse(config)).toEqual({
      mcpServers: { ci: { type: 'http', url: 'https://mcp.example.com/mcp', oauth: { clientId: 'ci-client' } } },
    });
    expect(await home.store().get(clientSecretKey('ci'))).toBe(secret);
    expect((await stat(home.paths.credentialsFile)).mode & 0o777).toBe(0o600);

    // `get` tells that a secret is stored without showing it.
    const got = await home.run(['get', '--json', 'ci']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).not.toContain(secret);
    expect(JSON.parse(got.stdout)).toMatchObject({ clientSecretStored: true });
  });

  it('refuses --client-secret without a terminal and without MCP_CLIENT_SECRET (usage, exit 2), writing nothing', async () => {
    const r = await home.run(['add', '--client-id', 'x', '--client-secret', 'demo', 'https://mcp.example.com/mcp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[USAGE]');
    expect(r.stderr).toContain('MCP_CLIENT_SECRET');
    expect(existsSync(home.paths.configFile)).toBe(false);
    expect(existsSync(home.paths.credentialsFile)).toBe(false);
  });

  it('prompts for --client-secret at a terminal, masked, and stores what was typed', async () => {
    const r = await home.run(['add', '--client-id', 'c', '--client-secret', 'demo', 'https://mcp.example.com/mcp'], {
      interactive: true,
      typed: 'typo\u007f\u007f\u007f\u007ftyped-secret\r',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Client secret: ');
    expect(r.stderr + r.stdout).not.toContain('typed-secret');
    expect(r.rawModes).toEqual([true, false]);
    expect(await home.store().get(clientSecretKey('demo'))).toBe('typed-secret');
    expect(await readFile(home.paths.configFile, 'utf8')).not.toContain('typed-secret');
  });

  it('prefers MCP_CLIENT_SECRET over prompting, even at a terminal', async () => {
    const r = await home.run(['add', '--client-id', 'c', '--client-secret', 'demo', 'https://mcp.example.com/mcp'], {
      interactive: true,
      typed: 'not-this\r',
      env: { MCP_CLIENT_SECRET: 'from-env' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.rawModes).toEqual([]);
    expect(await home.store().get(clientSecretKey('demo'))).toBe('from-env');
  });

  it('writes nothing when the secret prompt is cancelled (Ctrl-C) or left empty', async () => {
    const cancelled = await home.run(['add', '--client-id', 'c', '--client-secret', 'demo', 'https://mcp.example.com/mcp'], {
      interactive: true,
      typed: 'abc\u0003',
    });
    expect(cancelled.code).toBe(1);
    expect(cancelled.stderr).toContain('[LOGIN_CANCELLED]');
    expect(cancelled.rawModes).toEqual([true, false]);
    const empty = await home.run(['add', '--client-id', 'c', '--client-secret', 'demo', 'https://mcp.example.com/mcp'], { interactive: true, typed: '\r' });
    expect(empty.code).toBe(2);
    expect(existsSync(home.paths.configFile)).toBe(false);
    expect(existsSync(home.paths.credentialsFile)).toBe(false);
  });

  it('refuses --client-secret without a client id (usage, exit 2)', async () => {
    const r = await home.run(['add', '--client-secret', 'demo', 'https://mcp.example.com/mcp'], { env: { MCP_CLIENT_SECRET: 's' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--client-secret needs a client id');
    expect(existsSync(home.paths.configFile)).toBe(false);
  });

  it('refuses a duplicate name with SERVER_EXISTS (exit 1) and leaves the first entry; --force replaces it', async () => {
    expect((await home.run(['add', 'demo', 'https://one.example.com/mcp'])).code).toBe(0);
    const dup = await home.run(['add', 'demo', 'https://two.example.com/mcp']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('[SERVER_EXISTS]');
    expect(dup.stderr).toContain('--force');
    expect(await home.readConfig()).toEqual({ mcpServers: { demo: { type: 'http', url: 'https://one.example.com/mcp' } } });

    const forced = await home.run(['add', '--force', '--header', 'X-A: b', 'demo', 'https://two.example.com/mcp']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await home.readConfig()).toEqual({
      mcpServers: { demo: { type: 'http', url: 'https://two.example.com/mcp', headers: { 'X-A': 'b' } } },
    });
  });

  it('keeps other servers when adding one', async () => {
    await home.run(['add', 'a', 'https://a.example.com/mcp']);
    await home.run(['add', 'b', 'https://b.example.com/mcp']);
    expect(Object.keys((await home.readConfig() as { mcpServers: object }).mcpServers)).toEqual(['a', 'b']);
  });

  it.each([['0'], ['65536'], ['80a'], ['-1'], ['8080.5'], ['']])('refuses --callback-port %j (exit 2)', async (port) => {
    const r = await home.run(['add', '--callback-port', port, 'demo', 'https://mcp.example.com/mcp']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--callback-port');
    expect(existsSync(home.paths.configFile)).toBe(false);
  });

  it.each([
    ['a missing URL', ['add', 'demo']],
    ['a missing name', ['add']],
    ['an extra argument', ['add', 'demo', 'https://mcp.example.com/mcp', 'extra']],
    ['an unknown flag', ['add', '--bogus', 'demo', 'https://mcp.example.com/mcp']],
    ['a header without a colon', ['add', '--header', 'NoColon', 'demo', 'https://mcp.example.com/mcp']],
    ['a header with an empty name', ['add', '--header', ': v', 'demo', 'https://mcp.example.com/mcp']],
    ['transport stdio', ['add', '--transport', 'stdio', 'demo', 'https://mcp.example.com/mcp']],
    ['--resource with --no-resource', ['add', '--resource', 'https://x.example.com/', '--no-resource', 'demo', 'https://mcp.example.com/mcp']],
    ['an invalid server name', ['add', 'bad name!', 'https://mcp.example.com/mcp']],
    ['a flag without its value', ['add', 'demo', 'https://mcp.example.com/mcp', '--client-id']],
  ])('refuses %s with a usage error (exit 2)', async (_what, argv) => {
    const r = await home.run(argv);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^mcp-auth: .* \[USAGE\]\n/);
    expect(existsSync(home.paths.configFile)).toBe(false);
  });

  it('refuses an invalid URL with CONFIG_INVALID (exit 1) naming the key', async () => {
    const r = await home.run(['add', 'demo', 'ftp://mcp.example.com/mcp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[CONFIG_INVALID]');
    expect(r.stderr).toContain('.url');
  });

  it('prints its usage with --help (exit 0)', async () => {
    const r = await home.run(['add', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: mcp-auth add /);
  });
});

describe('mcp-auth add-json', () => {
  it('adds a valid .mcp.json entry, normalised', async () => {
    const entry = { url: 'https://mcp.example.com/mcp', headers: { 'X-A': '${A:-x}' }, oauth: { clientId: 'c', callbackPort: 9000 } };
    const r = await home.run(['add-json', 'demo', JSON.stringify(entry)]);
    expect(r.code, r.stderr).toBe(0);
    expect(await home.readConfig()).toEqual({ mcpServers: { demo: { type: 'http', ...entry } } });
    expect((await stat(home.paths.configFile)).mode & 0o777).toBe(0o600);
  });

  it('stores the client secret from MCP_CLIENT_SECRET with --client-secret', async () => {
    const r = await home.run(['add-json', '--client-secret', 'demo', '{"type":"http","url":"https://mcp.example.com/mcp","oauth":{"clientId":"c"}}'], {
      env: { MCP_CLIENT_SECRET: 'json-secret-1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(home.paths.configFile, 'utf8')).not.toContain('json-secret-1');
    expect(await home.store().get(clientSecretKey('demo'))).toBe('json-secret-1');
  });

  it('refuses JSON that does not parse with CONFIG_INVALID (exit 1), without echoing it', async () => {
    const r = await home.run(['add-json', 'demo', '{"url": "https://mcp.example.com/mcp", "headers": {"X-Key": "sk-live-123"']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[CONFIG_INVALID]');
    expect(r.stderr).toContain('does not parse');
    expect(r.stderr).not.toContain('sk-live-123');
    expect(existsSync(home.paths.configFile)).toBe(false);
  });

  it('refuses an unknown key with CONFIG_INVALID naming its path', async () => {
    const top = await home.run(['add-json', 'demo', '{"url":"https://mcp.example.com/mcp","env":{}}']);
    expect(top.code).toBe(1);
    expect(top.stderr).toContain('[CONFIG_INVALID]');
    expect(top.stderr).toContain('server "demo".env is not a known key');

    const nested = await home.run(['add-json', 'demo', '{"url":"https://mcp.example.com/mcp","oauth":{"clientID":"c"}}']);
    expect(nested.code).toBe(1);
    expect(nested.stderr).toContain('server "demo".oauth.clientID is not a known key');
    expect(existsSync(home.paths.configFile)).toBe(false);
  });

  it('refuses a stdio server', async () => {
    const r = await home.run(['add-json', 'demo', '{"command":"npx","args":["server"]}']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[CONFIG_INVALID]');
    expect(r.stderr).toContain('stdio');
  });

  it('refuses a duplicate with SERVER_EXISTS unless --force', async () => {
    expect((await home.run(['add-json', 'demo', '{"url":"https://a.example.com/mcp"}'])).code).toBe(0);
    const dup = await home.run(['add-json', 'demo', '{"url":"https://b.example.com/mcp"}']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('[SERVER_EXISTS]');
    expect((await home.run(['add-json', '--force', 'demo', '{"url":"https://b.example.com/mcp"}'])).code).toBe(0);
    expect(await home.readConfig()).toEqual({ mcpServers: { demo: { type: 'http', url: 'https://b.example.com/mcp' } } });
  });

  it('needs both a name and the JSON (exit 2)', async () => {
    expect((await home.run(['add-json', 'demo'])).code).toBe(2);
    expect((await home.run(['add-json'])).code).toBe(2);
  });
});
