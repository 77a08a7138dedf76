/**
 * Derivation of credential store keys. Keys are hashes so that URLs, issuers and server names
 * (which may be long or contain any character) map onto the store's restricted key alphabet, and
 * so that key listings reveal nothing about which servers are used.
 */
import { createHash } from 'node:crypto';

function digest(parts: ReadonlyArray<string | null>): string {
  // A JSON array is unambiguous where plain concatenation is not ("a|b" + "c" vs "a" + "b|c").
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/**
 * Key of one OAuth credential (tokens): per protected resource, authorization server, client and
 * account. Scopes are deliberately not part of it, so a step-up (more scopes) replaces the same
 * credential instead of creating a second one.
 */
export function credentialKey(p: { resource: string; issuer: string; clientId: string; account?: string }): string {
  return `cred:${digest([p.resource, p.issuer, p.clientId, p.account ?? 'default'])}`;
}

/**
 * Key of a client registration (RFC 7591 dynamic registration result), kept per authorization
 * server, optionally narrowed to one server entry.
 */
export function registrationKey(p: { issuer: string; serverName?: string }): string {
  return `reg:${digest([p.issuer, p.serverName ?? null])}`;
}

/** Key of a user-supplied client secret of a pre-registered client, per server entry. */
export function clientSecretKey(serverName: string): string {
  return `secret:${digest([serverName])}`;
}

/**
 * Key of a server's non-secret state: which credential it currently points at, step-up counters.
 */
export function serverStateKey(serverName: string): string {
  return `state:${digest([serverName])}`;
}
