import { describe, expect, it } from 'vitest';
import { formatScope, holdsAll, parseScope, selectScope, unionScope } from '../../../src/oauth/scopes.js';

describe('scope strings (RFC 6749 §3.3)', () => {
  it('parses space-delimited scopes, dropping empties and duplicates, keeping order', () => {
    expect(parseScope('  b a\tb  c ')).toEqual(['b', 'a', 'c']);
    expect(parseScope('')).toEqual([]);
    expect(parseScope(undefined)).toEqual([]);
    expect(parseScope(null)).toEqual([]);
  });

  it('formats without duplicates', () => {
    expect(formatScope(['a', 'b', 'a'])).toBe('a b');
    expect(formatScope([])).toBe('');
  });

  it('holdsAll compares as sets', () => {
    expect(holdsAll('a b c', 'c a')).toBe(true);
    expect(holdsAll('a b', 'a b c')).toBe(false);
    expect(holdsAll(undefined, 'a')).toBe(false);
    expect(holdsAll('a', undefined)).toBe(true);
    // Prefixes are not the same scope.
    expect(holdsAll('files:read', 'files')).toBe(false);
  });

  it('unionScope keeps the first occurrence order', () => {
    expect(unionScope('a b', undefined, 'b c', '')).toBe('a b c');
  });
});

describe('selectScope (MCP "Scope Selection Strategy")', () => {
  it('the user configuration wins over the challenge and the PRM', () => {
    expect(selectScope({ configured: 'x y', challenge: 'a', resourceScopes: ['p'] })).toBe('x y');
  });

  it('the challenge scope wins over PRM scopes_supported', () => {
    expect(selectScope({ challenge: 'mcp:read', resourceScopes: ['mcp:read', 'mcp:write'] })).toBe('mcp:read');
  });

  it('all PRM scopes_supported when there is no challenge scope', () => {
    expect(selectScope({ resourceScopes: ['mcp:read', 'mcp:write'] })).toBe('mcp:read mcp:write');
  });

  it('omits scope when nothing names one', () => {
    expect(selectScope({})).toBeUndefined();
    expect(selectScope({ resourceScopes: [], challenge: '  ', configured: '' })).toBeUndefined();
    // AS scopes_supported is not a source of scopes to ask for.
    expect(selectScope({ authorizationServerScopes: ['openid', 'profile', 'admin'] })).toBeUndefined();
  });

  it('never asks for offline_access unless the AS lists it', () => {
    expect(selectScope({ challenge: 'a offline_access', authorizationServerScopes: ['a'] })).toBe('a');
    expect(selectScope({ resourceScopes: ['offline_access'] })).toBeUndefined();
  });

  it('adds offline_access when the AS lists it and something else is asked for', () => {
    expect(selectScope({ challenge: 'a', authorizationServerScopes: ['a', 'offline_access'] })).toBe('a offline_access');
    expect(selectScope({ challenge: 'offline_access a', authorizationServerScopes: ['offline_access'] })).toBe('offline_access a');
  });

  it('does not invent a scope parameter just for offline_access', () => {
    expect(selectScope({ authorizationServerScopes: ['offline_access'] })).toBeUndefined();
  });

  it('an explicit user configuration may ask for offline_access anyway', () => {
    expect(selectScope({ configured: 'a offline_access', authorizationServerScopes: ['a'] })).toBe('a offline_access');
  });

  it('step-up: the union of held and challenged scopes, held first', () => {
    expect(selectScope({ held: 'mcp:read', challenge: 'mcp:write' })).toBe('mcp:read mcp:write');
    expect(selectScope({ held: 'mcp:read mcp:write', challenge: 'mcp:write' })).toBe('mcp:read mcp:write');
  });

  it('step-up keeps held scopes even when the user configured others', () => {
    expect(selectScope({ held: 'a', configured: 'b' })).toBe('a b');
  });
});
