import { isIPv4, isIPv6 } from 'node:net';
import { ErrorCode, McpAuthError, redactUrl } from '../errors.js';

/**
 * Whether `hostname` names the loopback interface: `localhost`, an address in 127.0.0.0/8, or
 * `::1` (bare or in the bracketed `URL.hostname` form).
 *
 * RFC 8252 §7.3 (loopback redirection) and §8.3 (loopback names); OAuth 2.1 §1.5 / RFC 9700 §2.6
 * allow plain `http:` only for these hosts.
 *
 * Deliberately strict: `localhost.evil.com`, `localhost.`, `0.0.0.0` and names that merely resolve
 * to 127.0.0.1 (`127.0.0.1.nip.io`) are not loopback, because their resolution is not ours to trust.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.split('.')[0] === '127';
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (!isIPv6(bare)) return false;
  // Let the WHATWG parser canonicalise spellings such as 0:0:0:0:0:0:0:1 instead of hand-rolling it.
  try {
    return new URL(`http://[${bare}]/`).hostname === '[::1]';
  } catch {
    return false;
  }
}

/**
 * Parses `url` and requires it to be safe to send OAuth traffic to: `https:`, or `http:` only to a
 * loopback host, and no userinfo.
 *
 * OAuth 2.1 §1.5 (communication security), RFC 8414 §2 / RFC 9728 §2 (metadata endpoints are
 * https), RFC 3986 §3.2.1 (userinfo is deprecated; it smuggles credentials and spoofs hosts).
 *
 * @param what Names the URL for the user, e.g. `"token endpoint"`.
 * @throws McpAuthError `INSECURE_URL`
 */
export function assertSecureUrl(url: string | URL, what: string): URL {
  // Callers name the URL either bare ("token endpoint") or with an article ("the MCP server URL").
  const named = /^the\s/i.test(what) ? what.slice(4) : what;
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch (cause) {
    throw new McpAuthError(ErrorCode.InsecureUrl, `The ${named} is not a valid URL.`, {
      hint: 'Check the server configuration or the metadata it publishes.',
      cause,
    });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new McpAuthError(
      ErrorCode.InsecureUrl,
      `The ${named} ${redactUrl(parsed)} carries a user name or password in the URL.`,
      { hint: 'Remove the credentials from the URL; configure them as a client secret instead.' },
    );
  }
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)) return parsed;
  throw new McpAuthError(
    ErrorCode.InsecureUrl,
    `The ${named} ${redactUrl(parsed)} does not use https.`,
    { hint: 'Use an https:// URL (plain http is allowed only for 127.0.0.1, [::1] or localhost).' },
  );
}
