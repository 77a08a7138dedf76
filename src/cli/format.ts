/**
 * Human-readable bits shared by the reading verbs.
 */
import type { ServerStatusView } from '../api-types.js';

/** What the descriptions need: the broker's `ServerStatus` and the API's `ServerStatusView` both fit. */
type StatusLike = Pick<ServerStatusView, 'name' | 'expiresAt' | 'hasRefreshToken' | 'error'> & { state: ServerStatusView['state'] };

export function describeExpiry(expiresAt: number | undefined, now: number): string {
  if (expiresAt === undefined) return 'no expiry';
  const s = Math.round((expiresAt - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 120) return `expires in ${s}s`;
  if (s < 7200) return `expires in ${Math.round(s / 60)}m`;
  return `expires in ${Math.round(s / 3600)}h`;
}

export function describeState(st: StatusLike, now: number): string {
  switch (st.state) {
    case 'ok':
      return `logged in, ${describeExpiry(st.expiresAt, now)}${st.hasRefreshToken ? ', refreshable' : ''}`;
    case 'refreshing':
      return 'refreshing the token now';
    case 'refreshing':
      return `refreshing${st.expiresAt !== undefined ? ` (current token ${describeExpiry(st.expiresAt, now)})` : ''}`;
    case 'expired':
      return 'expired: run mcp-auth login ' + st.name;
    case 'login_required':
      return 'login required: run mcp-auth login ' + st.name;
    case 'not_oauth':
      return 'no OAuth (static headers / headersHelper)';
    case 'error':
      return `error: ${st.error?.message ?? 'unknown'}`;
  }
}

const SENSITIVE_HEADER = /auth|token|key|secret|cookie|session|password/i;

/** Header values that may be credentials are shown masked unless they only reference a variable. */
export function maskHeaders(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    out[k] = SENSITIVE_HEADER.test(k) && !/^[^$]*\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}\s*$/.test(v) ? '<redacted>' : v;
  }
  return out;
}
