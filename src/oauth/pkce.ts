import { calculatePKCECodeChallenge, generateRandomCodeVerifier, generateRandomState } from 'oauth4webapi';

/** A PKCE verifier and its S256 challenge. */
export interface Pkce {
  verifier: string;
  challenge: string;
  method: 'S256';
}

/**
 * A fresh PKCE pair. RFC 7636 §4.1 (verifier: 43 characters of base64url from 32 random octets)
 * and §4.2 (`S256` challenge); the MCP authorization spec and OAuth 2.1 §4.1.1 require S256, so
 * `plain` is never offered.
 */
export async function createPkce(): Promise<Pkce> {
  const verifier = generateRandomCodeVerifier();
  const challenge = await calculatePKCECodeChallenge(verifier);
  return { verifier, challenge, method: 'S256' };
}

/**
 * A fresh, unguessable `state` value binding the authorization response to this login
 * (RFC 6749 §10.12, RFC 9700 §4.7.1).
 */
export function randomState(): string {
  return generateRandomState();
}
