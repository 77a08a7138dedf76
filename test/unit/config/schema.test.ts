import { describe, expect, it } from 'vitest';
import {
  parseConfig,
  validateConfig,
  validateServer,
  validateServerName,
} from '../../../src/config/schema.js';
import { ErrorCode, isMcpAuthError, type McpAuthError } from '../../../src/errors.js';

const FILE = '/home/u/.config/mcp-auth/servers.json';

function errorOf(fn: () => unknown): McpAuthError {
  try {
    fn();
  } catch (e) {
    if (isMcpAuthError(e)) return e;
    throw e;
  }
  throw new Error('expected a throw');
}

function withServer(def: unknown): unknown {
  return { mcpServers: { github: def } };
}

describe('parseConfig', () => {
  it('parses a valid file and normalises a missing type to http', () => {
    const cfg = parseConfig(
      JSON.stringify({
        mcpServers: {
          github: { url: 'https://api.githubcopilot.com/mcp/' },
          linear: { type: 'sse', url: 'https://mcp.linear.app/sse', oauth: false },
          local: {
            type: 'http',
            url: 'http://127.0.0.1:3000/mcp',
            headers: { 'X-Api-Key': '${KEY}' },
            headersHelper: 'print-headers',
            oauth: {
              clientId: 'abc',
              callbackPort: 8765,
              authServerMetadataUrl: 'http://localhost:9000/.well-known/oauth-authorization-server',
              scopes: 'read write:all',
              resource: 'https://api.example.com/',
              clientMetadataUrl: 'https://app.example.com/oauth/client.json',
              redirectUri: 'http://127.0.0.1:8765/callback',
            },
          },
          nores: { url: 'https://x.example.com/mcp', oauth: { resource: false } },
        },
      }),
      FILE,
    );
    expect(cfg.mcpServers.github).toEqual({ type: 'http', url: 'https://api.githubcopilot.com/mcp/' });
    expect(cfg.mcpServers.linear?.oauth).toBe(false);
    expect(cfg.mcpServers.local?.oauth).toMatchObject({ callbackPort: 8765, scopes: 'read write:all' });
    expect(cfg.mcpServers.nores?.oauth).toEqual({ resource: false });
  });

  it('accepts an empty object and a BOM', () => {
    expect(parseConfig('{}', FILE)).toEqual({ mcpServers: {} });
    expect(parseConfig('\ufeff{"mcpServers":{}}', FILE)).toEqual({ mcpServers: {} });
  });

  it('reports bad JSON as CONFIG_INVALID with the file and position, without quoting the content', () => {
    const text = '{\n  "mcpServers": {\n    "a": { "url": "https://h", "headers": { "X": "supersecret" } ,, }\n}';
    const err = errorOf(() => parseConfig(text, FILE));
    expect(err.code).toBe(ErrorCode.ConfigInvalid);
    expect(err.message).toContain(FILE);
    expect(err.message).toMatch(/line 3, column \d+/);
    expect(err.message).not.toContain('supersecret');
    expect(err.hint).toContain(FILE);
  });

  it('reports an empty or truncated file', () => {
    expect(errorOf(() => parseConfig('  \n', FILE)).message).toContain('empty');
    const err = errorOf(() => parseConfig('{"mcpServers": {', FILE));
    expect(err.code).toBe(ErrorCode.ConfigInvalid);
    expect(err.message).toMatch(/line 1/);
  });
});

describe('validateConfig', () => {
  const bad: Array<[string, unknown, string, RegExp]> = [
    ['top level not an object', [], 'top level', /object/],
    ['unknown top-level key', { mcpServers: {}, extra: 1 }, 'extra', /not a known key/],
    ['mcpServers not an object', { mcpServers: [] }, 'mcpServers', /object/],
    ['server not an object', withServer('https://x'), 'mcpServers.github', /must be an object/],
    ['unknown server key', withServer({ url: 'https://x', env: {} }), 'mcpServers.github.env', /not a known key/],
    ['stdio server', withServer({ command: 'npx', args: [] }), 'mcpServers.github', /stdio/],
    ['type stdio', withServer({ type: 'stdio', url: 'https://x' }), 'mcpServers.github.type', /stdio/],
    ['bad type', withServer({ type: 'ws', url: 'https://x' }), 'mcpServers.github.type', /"http" or "sse"/],
    ['no type, no url', withServer({}), 'mcpServers.github', /url/],
    ['type without url', withServer({ type: 'http' }), 'mcpServers.github.url', /required/],
    ['url wrong type', withServer({ url: 42 }), 'mcpServers.github.url', /string/],
    ['url not a URL', withServer({ url: 'not a url' }), 'mcpServers.github.url', /http\(s\) URL/],
    ['url bad scheme', withServer({ url: 'ftp://x/y' }), 'mcpServers.github.url', /http\(s\) URL/],
    ['headers not an object', withServer({ url: 'https://x', headers: ['a'] }), 'mcpServers.github.headers', /object/],
    ['header value not a string', withServer({ url: 'https://x', headers: { 'X-A': 1 } }), 'mcpServers.github.headers.X-A', /string/],
    ['header name invalid', withServer({ url: 'https://x', headers: { 'Bad Name': 'v' } }), 'mcpServers.github.headers', /header name/],
    ['header value with newline', withServer({ url: 'https://x', headers: { 'X-A': 'a\nb' } }), 'mcpServers.github.headers.X-A', /line break/],
    ['headersHelper empty', withServer({ url: 'https://x', headersHelper: '' }), 'mcpServers.github.headersHelper', /empty/],
    ['oauth true', withServer({ url: 'https://x', oauth: true }), 'mcpServers.github.oauth', /object or false/],
    ['unknown oauth key', withServer({ url: 'https://x', oauth: { clientSecret: 's' } }), 'mcpServers.github.oauth.clientSecret', /not a known key/],
    ['clientId not a string', withServer({ url: 'https://x', oauth: { clientId: 5 } }), 'mcpServers.github.oauth.clientId', /string/],
    ['callbackPort string', withServer({ url: 'https://x', oauth: { callbackPort: '8080' } }), 'mcpServers.github.oauth.callbackPort', /integer from 1 to 65535/],
    ['callbackPort 0', withServer({ url: 'https://x', oauth: { callbackPort: 0 } }), 'mcpServers.github.oauth.callbackPort', /integer/],
    ['callbackPort too big', withServer({ url: 'https://x', oauth: { callbackPort: 65536 } }), 'mcpServers.github.oauth.callbackPort', /integer/],
    ['callbackPort fractional', withServer({ url: 'https://x', oauth: { callbackPort: 80.5 } }), 'mcpServers.github.oauth.callbackPort', /integer/],
    ['metadata url http remote', withServer({ url: 'https://x', oauth: { authServerMetadataUrl: 'http://auth.example.com/.well-known/x' } }), 'mcpServers.github.oauth.authServerMetadataUrl', /https/],
    ['metadata url with placeholder', withServer({ url: 'https://x', oauth: { authServerMetadataUrl: 'https://${AS}/x' } }), 'mcpServers.github.oauth.authServerMetadataUrl', /placeholders/],
    ['scopes empty', withServer({ url: 'https://x', oauth: { scopes: '   ' } }), 'mcpServers.github.oauth.scopes', /at least one/],
    ['scopes with quote', withServer({ url: 'https://x', oauth: { scopes: 'read "x"' } }), 'mcpServers.github.oauth.scopes', /scope names/],
    ['scopes array', withServer({ url: 'https://x', oauth: { scopes: ['read'] } }), 'mcpServers.github.oauth.scopes', /string/],
    ['resource true', withServer({ url: 'https://x', oauth: { resource: true } }), 'mcpServers.github.oauth.resource', /URL string or false/],
    ['resource relative', withServer({ url: 'https://x', oauth: { resource: '/mcp' } }), 'mcpServers.github.oauth.resource', /absolute URL/],
    ['resource with fragment', withServer({ url: 'https://x', oauth: { resource: 'https://x/#f' } }), 'mcpServers.github.oauth.resource', /fragment/],
    ['CIMD http', withServer({ url: 'https://x', oauth: { clientMetadataUrl: 'http://localhost/client.json' } }), 'mcpServers.github.oauth.clientMetadataUrl', /https/],
    ['CIMD root path', withServer({ url: 'https://x', oauth: { clientMetadataUrl: 'https://app.example.com/' } }), 'mcpServers.github.oauth.clientMetadataUrl', /path/],
    ['CIMD no path', withServer({ url: 'https://x', oauth: { clientMetadataUrl: 'https://app.example.com' } }), 'mcpServers.github.oauth.clientMetadataUrl', /path/],
    ['CIMD dot segment', withServer({ url: 'https://x', oauth: { clientMetadataUrl: 'https://app.example.com/a/../client.json' } }), 'mcpServers.github.oauth.clientMetadataUrl', /segments/],
    ['CIMD fragment', withServer({ url: 'https://x', oauth: { clientMetadataUrl: 'https://app.example.com/c.json#x' } }), 'mcpServers.github.oauth.clientMetadataUrl', /fragment/],
    ['redirectUri remote http', withServer({ url: 'https://x', oauth: { redirectUri: 'http://evil.example.com/cb' } }), 'mcpServers.github.oauth.redirectUri', /https/],
    ['redirectUri fragment', withServer({ url: 'https://x', oauth: { redirectUri: 'http://127.0.0.1:1/cb#x' } }), 'mcpServers.github.oauth.redirectUri', /fragment/],
  ];

  it.each(bad)('rejects %s with CONFIG_INVALID naming the file and key path', (_what, raw, path, problem) => {
    const err = errorOf(() => validateConfig(raw, FILE));
    expect(err.code).toBe(ErrorCode.ConfigInvalid);
    expect(err.message.startsWith(`${FILE}: ${path} `)).toBe(true);
    expect(err.message).toMatch(problem);
    expect(err.hint).toBeTruthy();
  });

  it('rejects invalid server names', () => {
    for (const name of ['', 'has space', 'a/b', 'x'.repeat(65), '__proto__']) {
      const raw = JSON.parse(`{"mcpServers":{${JSON.stringify(name)}:{"url":"https://x"}}}`) as unknown;
      const err = errorOf(() => validateConfig(raw, FILE));
      expect(err.code).toBe(ErrorCode.ConfigInvalid);
      expect(err.message).toContain('server name');
    }
  });

  it('does not echo URL values (they may carry keys) in messages', () => {
    const err = errorOf(() => validateConfig(withServer({ url: 'ftp://h/?key=topsecret' }), FILE));
    expect(err.message).not.toContain('topsecret');
  });

  it('checks URL-ness of url only when it has no placeholder', () => {
    const cfg = validateConfig(withServer({ url: '${BASE_URL}/mcp', headers: { A: 'Bearer ${T}' } }), FILE);
    expect(cfg.mcpServers.github?.url).toBe('${BASE_URL}/mcp');
  });

  it('allows http only to loopback for metadata and redirect URLs', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]']) {
      expect(() =>
        validateConfig(withServer({ url: 'https://x', oauth: { authServerMetadataUrl: `http://${host}:8080/m`, redirectUri: `http://${host}:1/cb` } }), FILE),
      ).not.toThrow();
    }
  });

  it('returns a copy', () => {
    const raw = withServer({ url: 'https://x', headers: { A: 'b' } }) as { mcpServers: { github: { headers: Record<string, string> } } };
    const cfg = validateConfig(raw, FILE);
    raw.mcpServers.github.headers.A = 'changed';
    expect(cfg.mcpServers.github?.headers).toEqual({ A: 'b' });
  });
});

describe('validateServer', () => {
  it('prefixes key paths with where', () => {
    const err = errorOf(() => validateServer({ url: 'https://x', oauth: { callbackPort: -1 } }, 'add-json github'));
    expect(err.code).toBe(ErrorCode.ConfigInvalid);
    expect(err.message).toBe('add-json github.oauth.callbackPort must be an integer from 1 to 65535');
  });

  it('returns the normalised server', () => {
    expect(validateServer({ url: 'https://x/mcp' }, 'x')).toEqual({ type: 'http', url: 'https://x/mcp' });
  });
});

describe('validateServerName', () => {
  it('accepts good names and throws USAGE for bad ones', () => {
    for (const ok of ['github', 'a', 'linear-prod', 'my_server.v2', 'x'.repeat(64)]) {
      expect(validateServerName(ok)).toBe(ok);
    }
    for (const bad of ['', 'a b', 'é', 'x'.repeat(65), 'a/b', '__proto__']) {
      expect(errorOf(() => validateServerName(bad)).code).toBe(ErrorCode.Usage);
    }
  });
});

