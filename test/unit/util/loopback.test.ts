import { describe, expect, it } from 'vitest';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { assertSecureUrl, isLoopbackHost } from '../../../src/util/loopback.js';

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    '127.0.0.1',
    '127.0.0.2',
    '127.255.255.254',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '[0:0:0:0:0:0:0:1]',
  ])('accepts %s', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each([
    'localhost.evil.com',
    'evil-localhost',
    'localhost.',
    '0.0.0.0',
    '127.0.0.1.nip.io',
    '128.0.0.1',
    '10.0.0.1',
    '127.1',
    '127.0.0.256',
    '::',
    '[::]',
    '::ffff:127.0.0.1',
    '[::2]',
    'example.com',
    '',
    '[::1',
  ])('rejects %s', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('accepts URL.hostname forms of loopback URLs', () => {
    for (const u of ['http://127.0.0.1:8080/', 'http://[::1]:1/', 'http://localhost/', 'http://127.1/']) {
      expect(isLoopbackHost(new URL(u).hostname), u).toBe(true);
    }
  });
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isMcpAuthError(err) ? err.code : `not McpAuthError: ${String(err)}`;
  }
  return undefined;
}

describe('assertSecureUrl', () => {
  it.each([
    'https://as.example.com/token',
    'https://as.example.com:8443/t1/.well-known/openid-configuration',
    'http://127.0.0.1:3000/token',
    'http://localhost:3000/token',
    'http://[::1]:3000/token',
  ])('accepts %s', (url) => {
    expect(assertSecureUrl(url, 'token endpoint').href).toBe(new URL(url).href);
  });

  it('accepts a URL object', () => {
    const u = assertSecureUrl(new URL('https://as.example.com/x'), 'x');
    expect(u).toBeInstanceOf(URL);
    expect(u.hostname).toBe('as.example.com');
  });

  it.each([
    'http://as.example.com/token',
    'http://localhost.evil.com/token',
    'http://0.0.0.0:80/token',
    'http://127.0.0.1.nip.io/token',
    'ftp://as.example.com/token',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'https://user:pass@as.example.com/token',
    'https://user@as.example.com/token',
    'http://user@127.0.0.1/token',
    'not a url',
  ])('rejects %s with INSECURE_URL', (url) => {
    expect(codeOf(() => assertSecureUrl(url, 'token endpoint'))).toBe(ErrorCode.InsecureUrl);
  });

  it('names what was checked and redacts query, fragment and credentials', () => {
    let message = '';
    try {
      assertSecureUrl('http://alice:s3cret@as.example.com/cb?code=abc123&state=xyz#frag', 'token endpoint');
    } catch (err) {
      message = (err as Error).message;
      expect(isMcpAuthError(err) && err.hint).toBeTruthy();
    }
    expect(message).toContain('token endpoint');
    expect(message).toContain('as.example.com');
    for (const secret of ['s3cret', 'alice', 'abc123', 'xyz', 'frag']) expect(message).not.toContain(secret);

    try {
      assertSecureUrl('http://as.example.com/cb?code=abc123', 'authorization server metadata');
    } catch (err) {
      expect((err as Error).message).toContain('authorization server metadata');
      expect((err as Error).message).not.toContain('abc123');
    }
  });

  it('reads well whether or not the caller puts an article before the name', () => {
    for (const what of ['MCP server URL', 'the MCP server URL']) {
      try {
        assertSecureUrl('http://mcp.example.com/mcp', what);
        expect.unreachable();
      } catch (err) {
        expect((err as Error).message).toBe('The MCP server URL http://mcp.example.com/mcp does not use https.');
      }
    }
  });
});
