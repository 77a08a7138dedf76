/**
 * Scope selection (MCP authorization spec, "Scope Selection Strategy"; RFC 6749 §3.3 scope syntax).
 */

/** Splits a space-delimited scope string into its distinct values, in order. */
export function parseScope(scope: string | undefined | null): string[] {
  if (!scope) return [];
  return [...new Set(scope.split(/\s+/).filter(Boolean))];
}

export function formatScope(scopes: Iterable<string>): string {
  return [...new Set(scopes)].join(' ');
}

/** Every value of `wanted` is in `held`. */
export function holdsAll(held: string | undefined, wanted: string | undefined): boolean {
  const h = new Set(parseScope(held));
  return parseScope(wanted).every((s) => h.has(s));
}

export function unionScope(...scopes: Array<string | undefined>): string {
  return formatScope(scopes.flatMap((s) => parseScope(s)));
}

export interface ScopeInputs {
  /** `oauth.scopes` from the user's config: an explicit choice wins. */
  configured?: string;
  /** `scope` of the server's 401/403 challenge. */
  challenge?: string;
  /** PRM `scopes_supported`. */
  resourceScopes?: string[];
  /** AS metadata `scopes_supported`, consulted only for `offline_access`. */
  authorizationServerScopes?: string[];
  /** Scopes the credential already holds (step-up asks for their union with the new ones). */
  held?: string;
}

/**
 * The scope to request, or `undefined` to omit the parameter: the user's configured scopes, else
 * the challenge's, else every scope the resource supports, else none. Held scopes are added so a
 * step-up never loses what was granted. `offline_access` is added only when the authorization
 * server lists it, since asking for it elsewhere gets `invalid_scope` from strict servers.
 */
export function selectScope(inputs: ScopeInputs): string | undefined {
  const base =
    inputs.configured?.trim() ||
    inputs.challenge?.trim() ||
    (inputs.resourceScopes?.length ? formatScope(inputs.resourceScopes) : '');
  let wanted = parseScope(unionScope(inputs.held, base));
  const asOffersOffline = inputs.authorizationServerScopes?.includes('offline_access') === true;
  if (!asOffersOffline && !inputs.configured?.trim()) wanted = wanted.filter((s) => s !== 'offline_access');
  if (wanted.length === 0) return undefined;
  if (asOffersOffline && !wanted.includes('offline_access')) wanted.push('offline_access');
  return formatScope(wanted);
}
