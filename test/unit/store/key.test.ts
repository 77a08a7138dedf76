import { describe, expect, it } from 'vitest';
import { clientSecretKey, credentialKey, registrationKey, serverStateKey } from '../../../src/store/key.js';
import { assertValidKey } from '../../../src/store/types.js';

const base = { resource: 'https://mcp.example.com/mcp', issuer: 'https://auth.example.com', clientId: 'abc' };

describe('credentialKey', () => {
  it('is a stable, valid store key', () => {
    const k = credentialKey(base);
    expect(k).toMatch(/^cred:[0-9a-f]{32}$/);
    expect(credentialKey({ ...base })).toBe(k);
    expect(() => assertValidKey(k)).not.toThrow();
  });

  it('defaults the account to "default"', () => {
    expect(credentialKey({ ...base, account: 'default' })).toBe(credentialKey(base));
    expect(credentialKey({ ...base, account: 'work' })).not.toBe(credentialKey(base));
  });

  it('differs for each of resource, issuer and client id', () => {
    const keys = new Set([
      credentialKey(base),
      credentialKey({ ...base, resource: 'https://mcp.example.com/other' }),
      credentialKey({ ...base, issuer: 'https://auth2.example.com' }),
      credentialKey({ ...base, clientId: 'abd' }),
    ]);
    expect(keys.size).toBe(4);
  });

  it('cannot be confused by moving characters between fields', () => {
    const a = credentialKey({ resource: 'r', issuer: 'i|x', clientId: 'c' });
    const b = credentialKey({ resource: 'r', issuer: 'i', clientId: 'x|c' });
    const c = credentialKey({ resource: 'r","i', issuer: '', clientId: 'c' });
    const d = credentialKey({ resource: 'r', issuer: 'i', clientId: 'c' });
    expect(new Set([a, b, c, d]).size).toBe(4);
  });
});

describe('other keys', () => {
  it('have their own prefixes and are valid store keys', () => {
    const keys = [
      registrationKey({ issuer: 'https://auth.example.com' }),
      clientSecretKey('github'),
      serverStateKey('github'),
    ];
    expect(keys[0]).toMatch(/^reg:[0-9a-f]{32}$/);
    expect(keys[1]).toMatch(/^secret:[0-9a-f]{32}$/);
    expect(keys[2]).toMatch(/^state:[0-9a-f]{32}$/);
    for (const k of keys) expect(() => assertValidKey(k)).not.toThrow();
  });

  it('registrationKey is per issuer, optionally narrowed by server name', () => {
    const issuer = 'https://auth.example.com';
    expect(registrationKey({ issuer })).toBe(registrationKey({ issuer }));
    expect(registrationKey({ issuer })).not.toBe(registrationKey({ issuer: 'https://other.example.com' }));
    expect(registrationKey({ issuer, serverName: 'a' })).not.toBe(registrationKey({ issuer }));
    expect(registrationKey({ issuer, serverName: 'a' })).not.toBe(registrationKey({ issuer, serverName: 'b' }));
  });

  it('clientSecretKey and serverStateKey differ per server name', () => {
    expect(clientSecretKey('a')).not.toBe(clientSecretKey('b'));
    expect(serverStateKey('a')).not.toBe(serverStateKey('b'));
    expect(serverStateKey('a').slice(6)).toBe(clientSecretKey('a').slice(7));
  });
});
