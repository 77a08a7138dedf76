/**
 * When to refresh. Expiry is judged by the wall clock at every use (a laptop that slept for a
 * night wakes up with an expired token, whatever a timer thought).
 */
import type { CredentialRecord } from './records.js';

/** At most five minutes, and at most a quarter of the token's lifetime, before it expires. */
export function refreshMargin(lifetimeMs: number): number {
  return Math.min(5 * 60_000, Math.max(0, lifetimeMs) * 0.25);
}

/** True when the token should be refreshed before use. A token with no known expiry never is. */
export function needsRefresh(cred: Pick<CredentialRecord, 'expiresAt' | 'obtainedAt'>, now: number, aheadMs = 0): boolean {
  if (cred.expiresAt === undefined) return false;
  const lifetime = cred.expiresAt - cred.obtainedAt;
  // Looking ahead is bounded by the lifetime too: with short-lived tokens a fixed look-ahead
  // would refresh on every pass and rotate the refresh token for nothing.
  const ahead = Math.min(aheadMs, Math.max(0, lifetime) * 0.25);
  return now + ahead >= cred.expiresAt - refreshMargin(lifetime);
}

export function isExpired(cred: Pick<CredentialRecord, 'expiresAt'>, now: number): boolean {
  return cred.expiresAt !== undefined && now >= cred.expiresAt;
}
