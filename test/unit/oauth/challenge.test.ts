import { describe, expect, it } from 'vitest';
import { bearerChallenge, parseWwwAuthenticate } from '../../../src/oauth/challenge.js';

describe('parseWwwAuthenticate', () => {
  it('parses a single Bearer challenge with quoted and token params', () => {
    expect(parseWwwAuthenticate('Bearer realm="example", error=invalid_token')).toEqual([
      { scheme: 'Bearer', params: { realm: 'example', error: 'invalid_token' } },
    ]);
  });

  it('parses several challenges in one header', () => {
    const h =
      'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"';
    expect(parseWwwAuthenticate(h)).toEqual([
      { scheme: 'Newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'Basic', params: { realm: 'simple' } },
      {
        scheme: 'Bearer',
        params: { resource_metadata: 'https://mcp.example.com/.well-known/oauth-protected-resource' },
      },
    ]);
  });

  it('keeps commas and equals signs inside quoted strings', () => {
    const [c] = parseWwwAuthenticate('Bearer scope="a, b=c", error="x,y"');
    expect(c?.params).toEqual({ scope: 'a, b=c', error: 'x,y' });
  });

  it('unescapes quoted-pairs', () => {
    const [c] = parseWwwAuthenticate('Bearer error_description="back\\\\slash and \\"quote\\" and \\x"');
    expect(c?.params.error_description).toBe('back\\slash and "quote" and x');
  });

  it('lowercases parameter names but keeps the scheme and values as sent', () => {
    const [c] = parseWwwAuthenticate('BEARER Realm="R", ERROR="Invalid_Token"');
    expect(c).toEqual({ scheme: 'BEARER', params: { realm: 'R', error: 'Invalid_Token' } });
  });

  it('tolerates optional whitespace around "=" and extra commas', () => {
    const [c] = parseWwwAuthenticate('Bearer  realm = "r" ,, ,error\t=\tinvalid_token , ');
    expect(c?.params).toEqual({ realm: 'r', error: 'invalid_token' });
  });

  it('parses token68 challenges and parameter-less schemes', () => {
    expect(parseWwwAuthenticate('Negotiate, Basic YWxhZGRpbjpvcGVuc2VzYW1l==, Bearer realm="x"')).toEqual([
      { scheme: 'Negotiate', params: {} },
      { scheme: 'Basic', params: {}, token68: 'YWxhZGRpbjpvcGVuc2VzYW1l==' },
      { scheme: 'Bearer', params: { realm: 'x' } },
    ]);
    expect(parseWwwAuthenticate('Bearer')).toEqual([{ scheme: 'Bearer', params: {} }]);
  });

  it('keeps the first of a repeated parameter', () => {
    expect(parseWwwAuthenticate('Bearer error="first", ERROR="second"')[0]?.params.error).toBe('first');
  });

  it('stores a "__proto__" parameter as a plain key without touching prototypes', () => {
    const [c] = parseWwwAuthenticate('Bearer __proto__="polluted", realm="r"');
    expect(Object.getPrototypeOf(c?.params)).toBe(Object.prototype);
    expect(Object.hasOwn(c?.params ?? {}, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(c?.params.realm).toBe('r');
  });

  it.each([
    '',
    ',,,',
    '=',
    '"',
    '"unterminated',
    'Bearer realm="unterminated',
    'Bearer realm="a\\',
    'Bearer =x',
    '@@@ Bearer',
    'Bearer realm=',
    'Bearer realm=, error',
    '\u0000\u0001 Bearer \u00ff',
    'Bearer realm="a" garbage here, error="e"',
    'a'.repeat(10000),
    '"'.repeat(5000),
  ])('never throws on garbage %#', (h) => {
    expect(() => parseWwwAuthenticate(h)).not.toThrow();
  });

  it('skips an unparseable element but keeps the rest', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="a" garbage here, error="e", scope=@bad, resource_metadata="m"');
    expect(c?.scheme).toBe('Bearer');
    expect(c?.params).toEqual({ error: 'e', resource_metadata: 'm' });
  });

  it('drops a parameter whose quoted value never ends', () => {
    expect(parseWwwAuthenticate('Bearer error="e", realm="oops')).toEqual([
      { scheme: 'Bearer', params: { error: 'e' } },
    ]);
  });
});

describe('bearerChallenge', () => {
  it('returns undefined for no header or no Bearer challenge', () => {
    expect(bearerChallenge(undefined)).toBeUndefined();
    expect(bearerChallenge(null)).toBeUndefined();
    expect(bearerChallenge('')).toBeUndefined();
    expect(bearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(bearerChallenge('Bearerish realm="x"')).toBeUndefined();
  });

  it('maps the RFC 6750 / RFC 9728 parameters', () => {
    const h =
      'Bearer realm="mcp", error="insufficient_scope", error_description="Need \\"files:write\\"", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"';
    expect(bearerChallenge(h)).toEqual({
      realm: 'mcp',
      error: 'insufficient_scope',
      errorDescription: 'Need "files:write"',
      scope: 'files:read files:write',
      resourceMetadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
    });
  });

  it('finds Bearer case-insensitively after other challenges and takes the first', () => {
    const h = 'Basic realm="b", bEaReR scope="one", Bearer scope="two"';
    expect(bearerChallenge(h)).toEqual({ scope: 'one' });
  });

  it('omits absent fields and ignores unknown ones', () => {
    const c = bearerChallenge('Bearer foo="bar"');
    expect(c).toEqual({});
    expect(Object.keys(c ?? {})).toEqual([]);
  });
});
