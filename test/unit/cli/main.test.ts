// The dispatcher and what every verb shares: exit codes, the `--json` error shape, a broken
// servers.json, `client-metadata`, and the usage errors of `login`, `logout` and `token`.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { jsonError, makeHome, type Home } from './support.js';

let home: Home;
beforeEach(async () => {
  home = await makeHome();
});
afterEach(async () => {
  await home.remove();
});

describe('mcp-auth (dispatcher)', () => {
  it('prints the help and exits 2 without a command, 0 with help', async () => {
    const none = await home.run([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('Usage: mcp-auth <command>');
    for (const h of ['help', '--help', '-h']) {
      const r = await home.run([h]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Exit codes: 0 ok, 1 error, 2 usage, 3 login required.');
    }
  });

  it('prints its version', async () => {
    const r = await home.run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mcp-auth \d+\.\d+\.\d+\n$/);
  });

  it('refuses an unknown command with a usage error (exit 2)', async () => {
    const r = await home.run(['frobnicate', 'x']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('mcp-auth: unknown command "frobnicate" [USAGE]\n  hint: Run: mcp-auth help\n');
  });

  it('answers an unknown command with the JSON error shape under --json', async () => {
    const r = await home.run(['frobnicate', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'USAGE', message: 'unknown command "frobnicate"', hint: 'Run: mcp-auth help' } });
  });

  it('answers every --json error as one line {error:{code,message,hint}} on stdout and nothing on stderr', async () => {
    for (const argv of [['list', '--json', 'extra'], ['get', '--json', 'missing'], ['headers', '--json', 'missing']]) {
      const r = await home.run(argv);
      expect(r.code, argv.join(' ')).not.toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.endsWith('\n')).toBe(true);
      expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
      const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(Object.keys(parsed)).toEqual(['error']);
      const e = jsonError(r.stdout);
      expect(Object.keys(e).sort()).toEqual(['code', 'hint', 'message']);
      expect(typeof e.code).toBe('string');
      expect(typeof e.message).toBe('string');
      expect(typeof e.hint).toBe('string');
    }
  });

  it('prints the verb usage with --help for every verb', async () => {
    for (const verb of ['add', 'add-json', 'list', 'get', 'remove', 'login', 'logout', 'headers', 'token', 'client-metadata', 'serve', 'stop', 'status']) {
      const r = await home.run([verb, '--help']);
      expect(r.code, verb).toBe(0);
      expect(r.stdout, verb).toMatch(new RegExp(`^Usage: mcp-auth ${verb}[ \\n]`));
    }
  });
});

describe('a servers.json that is not valid JSON', () => {
  const broken = '{"mcpServers": {"demo": {"url": "https://mcp.example.com/mcp", "headers": {"X-Key": "sk-broken-secret"}}';

  beforeEach(async () => {
    await mkdir(home.dir, { recursive: true });
    await writeFile(home.paths.configFile, broken, { mode: 0o600 });
  });

  it.each([
    ['list'],
    ['list', '--json'],
    ['status'],
    ['status', '--json'],
    ['get', 'demo'],
    ['headers', 'demo'],
    ['token', 'demo'],
    ['remove', 'demo'],
    ['login', 'demo'],
    ['login', 'https://mcp.example.com/mcp'],
    ['logout', 'demo'],
    ['add', 'other', 'https://other.example.com/mcp'],
    ['add-json', 'other', '{"url":"https://other.example.com/mcp"}'],
  ])('`mcp-auth %s` exits 1 with CONFIG_INVALID naming the file, and leaves it alone', async (...argv) => {
    const r = await home.run(argv);
    expect(r.code).toBe(1);
    const text = argv.includes('--json') ? jsonError(r.stdout).message : r.stderr;
    if (argv.includes('--json')) expect(jsonError(r.stdout).code).toBe('CONFIG_INVALID');
    else expect(r.stderr).toContain('[CONFIG_INVALID]');
    expect(text).toContain(`${home.paths.configFile} is not valid JSON`);
    expect(r.stdout + r.stderr).not.toContain('sk-broken-secret');
    expect(await readFile(home.paths.configFile, 'utf8')).toBe(broken);
  });

  it('`mcp-auth headers` with the name from CLAUDE_CODE_MCP_SERVER_NAME too', async () => {
    const r = await home.run(['headers'], { env: { CLAUDE_CODE_MCP_SERVER_NAME: 'demo' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${home.paths.configFile} is not valid JSON`);
  });

  it('names the key path when the JSON parses but a field is wrong', async () => {
    await writeFile(home.paths.configFile, JSON.stringify({ mcpServers: { demo: { url: 'https://x.example.com', oauth: { callbackPort: 'x' } } } }));
    const r = await home.run(['list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${home.paths.configFile}: mcpServers.demo.oauth.callbackPort must be an integer from 1 to 65535`);
  });
});

describe('mcp-auth client-metadata', () => {
  it('prints the Client ID Metadata Document for --url and --callback-port', async () => {
    const r = await home.run(['client-metadata', '--url', 'https://example.com/mcp-auth/client.json', '--callback-port', '8080']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      client_id: 'https://example.com/mcp-auth/client.json',
      client_name: expect.any(String) as string,
      redirect_uris: ['http://localhost:8080/callback', 'http://127.0.0.1:8080/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    });
    expect(existsSync(home.paths.configFile)).toBe(false);
  });

  it('takes explicit redirect URIs and a client name', async () => {
    const r = await home.run([
      'client-metadata', '--url', 'https://example.com/c.json',
      '--redirect-uri', 'http://127.0.0.1:1234/cb', '--redirect-uri', 'http://localhost:1234/cb',
      '--client-name', 'Acme MCP',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ client_name: 'Acme MCP', redirect_uris: ['http://127.0.0.1:1234/cb', 'http://localhost:1234/cb'] });
  });

  it('needs --url (exit 2) and refuses a bad port (exit 2)', async () => {
    expect((await home.run(['client-metadata'])).code).toBe(2);
    expect((await home.run(['client-metadata', '--url', 'https://example.com/c.json', '--callback-port', '99999'])).code).toBe(2);
  });

  it('refuses a URL that cannot be a client id: http, no path (CONFIG_INVALID)', async () => {
    for (const url of ['http://example.com/c.json', 'https://example.com/']) {
      const r = await home.run(['client-metadata', '--url', url]);
      expect(r.code, url).toBe(1);
      expect(r.stderr, url).toContain('[CONFIG_INVALID]');
    }
  });

  it('refuses something that is not a URL as a usage error, not an internal one', async () => {
    const r = await home.run(['client-metadata', '--url', 'example.com/c.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[USAGE]');
    expect(r.stderr).toContain('--url');
  });
});

describe('usage errors of login, logout and token', () => {
  beforeEach(async () => {
    expect((await home.run(['add', 'demo', 'https://mcp.example.com/mcp'])).code).toBe(0);
  });

  it.each([
    ['no target', ['login']],
    ['--www-authenticate without its value', ['login', 'demo', '--www-authenticate']],
    ['--www-authenticate without a target', ['login', '--www-authenticate', 'Bearer error="insufficient_scope", scope="a"']],
    ['two targets', ['login', 'demo', 'other']],
    ['an unknown flag', ['login', '--browser', 'demo']],
    ['a non-numeric --timeout', ['login', '--timeout', 'soon', 'demo']],
    ['a zero --timeout', ['login', '--timeout', '0', 'demo']],
    // Past 2^31-1 ms a Node timer fires at once: the login would time out immediately.
    ['a --timeout longer than a day', ['login', '--timeout', '3000000', 'demo']],
    ['a target that is neither a name nor a URL', ['login', 'not a name']],
    ['a non-http URL-ish target', ['login', 'ftp://mcp.example.com/mcp']],
    ['logout without a name', ['logout']],
    ['logout with two names', ['logout', 'a', 'b']],
    ['token without a name', ['token']],
    ['token with an unknown flag', ['token', '--json', 'demo']],
  ])('%s → exit 2', async (_what, argv) => {
    const r = await home.run(argv);
    expect(r.code, r.stderr).toBe(2);
    // Nothing was added or contacted: the config still holds only "demo".
    expect(await home.readConfig()).toEqual({ mcpServers: { demo: { type: 'http', url: 'https://mcp.example.com/mcp' } } });
  });

  it('refuses a URL target that does not parse as a usage error, adding nothing', async () => {
    for (const target of ['http://', 'https://[not-an-ip/mcp']) {
      const r = await home.run(['login', target]);
      expect(r.code, `${target}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('[USAGE]');
    }
    expect(await home.readConfig()).toEqual({ mcpServers: { demo: { type: 'http', url: 'https://mcp.example.com/mcp' } } });
  });

  it('login, logout and token of an unknown server are SERVER_NOT_FOUND (exit 1)', async () => {
    for (const argv of [['login', 'nope'], ['login', 'nope', '--www-authenticate', 'Bearer realm="x"'], ['logout', 'nope'], ['token', 'nope']]) {
      const r = await home.run(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr).toContain('[SERVER_NOT_FOUND]');
    }
  });

  it('token exits 3 when not logged in', async () => {
    const r = await home.run(['token', 'demo']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('mcp-auth login demo');
  });

  it('logout of a server that is not logged in says so (exit 0)', async () => {
    const r = await home.run(['logout', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('"demo" was not logged in.');
  });

  it('login of an oauth: false server is NOT_OAUTH (exit 1), without contacting anything', async () => {
    expect((await home.run(['add-json', 'plain', '{"url":"https://plain.example.com/mcp","oauth":false}'])).code).toBe(0);
    const r = await home.run(['login', 'plain']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[NOT_OAUTH]');
  });
});

describe('daemon verbs with MCP_AUTH_NO_DAEMON=1 and no daemon', () => {
  it('status says the daemon is not running and lists the servers from the store (text and --json)', async () => {
    expect((await home.run(['add', 'demo', 'https://mcp.example.com/mcp'])).code).toBe(0);
    const text = await home.run(['status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('daemon: not running (MCP_AUTH_NO_DAEMON is set)\n');
    expect(text.stdout).toMatch(/^demo\s+https:\/\/mcp\.example\.com\/mcp\s+login required: run mcp-auth login demo$/m);
    const json = await home.run(['status', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      daemon: { running: false },
      servers: [{ name: 'demo', url: 'https://mcp.example.com/mcp', type: 'http', state: 'login_required', store: 'file' }],
    });
    expect(existsSync(home.paths.runtimeFile)).toBe(false);
  });

  it('stop without a daemon says so and exits 0', async () => {
    const r = await home.run(['stop']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('not running');
  });

  it.each([
    ['serve --port abc', ['serve', '--port', 'abc']],
    ['serve --port 70000', ['serve', '--port', '70000']],
    ['serve with an argument', ['serve', 'now']],
    ['stop --timeout 0', ['stop', '--timeout', '0']],
    ['status with an argument', ['status', 'demo']],
  ])('%s is a usage error (exit 2) and starts nothing', async (_what, argv) => {
    const r = await home.run(argv);
    expect(r.code, r.stderr).toBe(2);
    expect(existsSync(home.paths.runtimeFile)).toBe(false);
  });
});
