import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPkce, randomState } from '../../../src/oauth/pkce.js';

describe('createPkce', () => {
  it('creates an RFC 7636 verifier and its S256 challenge', async () => {
    const pkce = await createPkce();
    expect(pkce.method).toBe('S256');
    // §4.1: 43–128 unreserved characters.
    expect(pkce.verifier).toMatch(/^[A-Za-z0-9\-._~]{43,128}$/);
    // §4.2: BASE64URL(SHA256(ASCII(verifier))), no padding.
    expect(pkce.challenge).toBe(createHash('sha256').update(pkce.verifier).digest('base64url'));
    expect(pkce.challenge).not.toContain('=');
  });

  it('never repeats', async () => {
    const a = await createPkce();
    const b = await createPkce();
    expect(a.verifier).not.toBe(b.verifier);
    expect(a.challenge).not.toBe(b.challenge);
  });
});

describe('randomState', () => {
  it('is long, URL-safe and fresh each time', () => {
    const states = new Set(Array.from({ length: 50 }, () => randomState()));
    expect(states.size).toBe(50);
    for (const s of states) expect(s).toMatch(/^[A-Za-z0-9_-]{32,}$/);
  });
});
