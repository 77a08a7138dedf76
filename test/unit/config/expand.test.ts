import { describe, expect, it } from 'vitest';
import { expandServer, usesEnvironment } from '../../../src/config/expand.js';
import type { ServerConfig } from '../../../src/config/schema.js';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('expandServer', () => {
  it('expands ${VAR} and ${VAR:-default} in url, header values and headersHelper only', () => {
    const server: ServerConfig = {
      type: 'http',
      url: 'https://${HOST}/mcp?team=${TEAM:-core}',
      headers: { 'X-Api-Key': 'k-${KEY}', 'X-${KEY}': 'literal' },
      headersHelper: 'get-token --user ${USER_NAME:-me}',
      oauth: { clientId: '${KEY}', scopes: 'read ${KEY}' },
    };
    const out = expandServer(server, { HOST: 'mcp.example.com', KEY: 'abc', USER_NAME: 'ann' });
    expect(out).toEqual({
      type: 'http',
      url: 'https://mcp.example.com/mcp?team=core',
      headers: { 'X-Api-Key': 'k-abc', 'X-${KEY}': 'literal' },
      headersHelper: 'get-token --user ann',
      oauth: { clientId: '${KEY}', scopes: 'read ${KEY}' },
    });
    // The input is not modified.
    expect(server.url).toBe('https://${HOST}/mcp?team=${TEAM:-core}');
    expect(server.headers?.['X-Api-Key']).toBe('k-${KEY}');
  });

  it('uses the default for an unset or empty variable, the value otherwise', () => {
    const s: ServerConfig = { type: 'http', url: 'https://h/${A:-x}/${B:-y}/${C:-}' };
    expect(expandServer(s, { A: '', B: 'set' }).url).toBe('https://h/x/set/');
  });

  it('expands an empty but set variable without default to empty', () => {
    expect(expandServer({ type: 'http', url: 'https://h/${A}' }, { A: '' }).url).toBe('https://h/');
  });

  it('fails with CONFIG_INVALID naming the variable and the key when it is unset', () => {
    const err = errorOf(() =>
      expandServer({ type: 'http', url: 'https://h', headers: { Authorization: 'Bearer ${TOKEN}' } }, {}),
    );
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
    const e = err as Error & { hint?: string };
    expect(e.message).toContain('TOKEN');
    expect(e.message).toContain('headers.Authorization');
    expect(e.hint).toContain('${TOKEN:-');
    const urlErr = errorOf(() => expandServer({ type: 'http', url: 'https://${HOST}/' }, {})) as Error;
    expect(urlErr.message).toMatch(/HOST.*url/);
  });

  it('leaves $$, a lone $ and malformed placeholders alone', () => {
    const s: ServerConfig = { type: 'http', url: 'https://h/$$/$/a$b/${/${1X}/$HOME' };
    expect(expandServer(s, { HOME: '/root', b: 'B' }).url).toBe('https://h/$$/$/a$b/${/${1X}/$HOME');
  });

  it('does not expand placeholders that come out of a variable', () => {
    const s: ServerConfig = { type: 'http', url: 'https://h/${A}' };
    expect(expandServer(s, { A: '${B}', B: 'nope' }).url).toBe('https://h/${B}');
  });

  it('refuses header values that gain a line break through expansion', () => {
    const s: ServerConfig = { type: 'http', url: 'https://h', headers: { 'X-A': '${V}' } };
    const err = errorOf(() => expandServer(s, { V: 'a\r\nX-Injected: 1' }));
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
    expect((err as Error).message).not.toContain('Injected');
  });
});

describe('usesEnvironment', () => {
  it('is true exactly when url, a header value or headersHelper holds `${`', () => {
    expect(usesEnvironment({ type: 'http', url: 'https://h/$$/$HOME/a$b' })).toBe(false);
    expect(usesEnvironment({ type: 'http', url: 'https://h', headers: { 'X-A': 'b', '${X}': 'c' }, headersHelper: 'echo $HOME' })).toBe(false);
    expect(usesEnvironment({ type: 'http', url: 'https://${HOST}/' })).toBe(true);
    expect(usesEnvironment({ type: 'http', url: 'https://h', headers: { 'X-A': 'b', 'X-B': 'Bearer ${T}' } })).toBe(true);
    expect(usesEnvironment({ type: 'http', url: 'https://h', headersHelper: 'run ${ARG:-x}' })).toBe(true);
  });

  it('when false, expansion gives the same result in any environment', () => {
    const s: ServerConfig = { type: 'http', url: 'https://h/$$', headers: { 'X-A': '$A' }, headersHelper: 'echo $B' };
    expect(usesEnvironment(s)).toBe(false);
    expect(expandServer(s, {})).toEqual(expandServer(s, { A: '1', B: '2', HOME: '/x' }));
  });
});
