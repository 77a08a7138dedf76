/** One challenge of a `WWW-Authenticate` header. Scheme as sent; parameter names lowercased. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
  token68?: string;
}

/** The fields of a Bearer challenge that an OAuth client acts on. */
export interface BearerChallenge {
  /** RFC 6750 §3.1, e.g. `invalid_token`, `insufficient_scope`. */
  error?: string;
  errorDescription?: string;
  /** RFC 6750 §3: space-separated scopes the resource asks for (step-up). */
  scope?: string;
  /** RFC 9728 §5.1: URL of the protected resource metadata. */
  resourceMetadata?: string;
  realm?: string;
}

// RFC 9110 §5.6.2 tchar.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
// RFC 9110 §11.2 token68, only accepted when nothing but OWS separates it from "," or the end.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/**
 * Parses a `WWW-Authenticate` field value into its challenges.
 *
 * RFC 9110 §11.6.1 (`#challenge`, `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`) with
 * §5.6.4 quoted strings. Several challenges may share one header; commas separate both challenges
 * and parameters, so a new challenge is recognised by a token that is not followed by `=`.
 *
 * Never throws: elements that cannot be parsed are skipped up to the next top-level comma, an
 * unterminated quoted string ends parsing, and the first occurrence of a repeated parameter wins.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const s = header;
  const n = s.length;
  const out: AuthChallenge[] = [];

  const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t';
  const skipWs = (i: number): number => {
    while (i < n && isWs(s[i])) i++;
    return i;
  };
  const skipWsAndCommas = (i: number): number => {
    while (i < n && (isWs(s[i]) || s[i] === ',')) i++;
    return i;
  };
  const readToken = (i: number): string => {
    let j = i;
    while (j < n && TCHAR.test(s[j] as string)) j++;
    return s.slice(i, j);
  };
  // Index of the next comma outside a quoted string, or n.
  const skipElement = (i: number): number => {
    let inQuote = false;
    for (; i < n; i++) {
      const c = s[i];
      if (inQuote) {
        if (c === '\\') i++;
        else if (c === '"') inQuote = false;
      } else if (c === '"') {
        inQuote = true;
      } else if (c === ',') {
        return i;
      }
    }
    return n;
  };
  const readQuoted = (i: number): { value: string; end: number } | undefined => {
    let value = '';
    for (let j = i + 1; j < n; j++) {
      const c = s[j] as string;
      if (c === '\\') {
        j++;
        if (j >= n) return undefined;
        value += s[j];
      } else if (c === '"') {
        return { value, end: j + 1 };
      } else {
        value += c;
      }
    }
    return undefined;
  };

  let i = 0;
  while (i < n) {
    i = skipWsAndCommas(i);
    if (i >= n) break;
    const scheme = readToken(i);
    if (scheme === '') {
      i = skipElement(i);
      continue;
    }
    i += scheme.length;
    const challenge: AuthChallenge = { scheme, params: {} };
    out.push(challenge);
    if (i < n && !isWs(s[i]) && s[i] !== ',') {
      i = skipElement(i);
      continue;
    }
    i = skipWs(i);

    const t68 = TOKEN68.exec(s.slice(i));
    if (t68) {
      const after = skipWs(i + t68[0].length);
      if (after >= n || s[after] === ',') {
        challenge.token68 = t68[0];
        i = after;
        continue;
      }
    }

    while (i < n) {
      const start = skipWsAndCommas(i);
      if (start >= n) {
        i = start;
        break;
      }
      const name = readToken(start);
      if (name === '') {
        i = skipElement(start);
        continue;
      }
      let j = skipWs(start + name.length);
      if (s[j] !== '=') {
        // A token without "=" opens the next challenge.
        i = start;
        break;
      }
      j = skipWs(j + 1);
      let value: string;
      if (s[j] === '"') {
        const quoted = readQuoted(j);
        if (!quoted) {
          i = n;
          break;
        }
        value = quoted.value;
        j = quoted.end;
      } else {
        value = readToken(j);
        if (value === '') {
          i = skipElement(j);
          continue;
        }
        j += value.length;
      }
      j = skipWs(j);
      if (j < n && s[j] !== ',') {
        i = skipElement(j);
        continue;
      }
      const key = name.toLowerCase();
      if (!Object.hasOwn(challenge.params, key)) {
        // defineProperty, not assignment: a hostile "__proto__" parameter must stay a plain key.
        Object.defineProperty(challenge.params, key, { value, enumerable: true, writable: true, configurable: true });
      }
      i = j;
    }
  }
  return out;
}

/**
 * The first `Bearer` challenge of a `WWW-Authenticate` header, with the parameters an MCP client
 * uses: RFC 6750 §3 (`realm`, `scope`, `error`, `error_description`) and RFC 9728 §5.1
 * (`resource_metadata`). The scheme is compared case-insensitively (RFC 9110 §11.1).
 *
 * @returns `undefined` when the header is absent or carries no Bearer challenge.
 */
export function bearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  if (header === null || header === undefined || header === '') return undefined;
  const found = parseWwwAuthenticate(header).find((c) => c.scheme.toLowerCase() === 'bearer');
  if (!found) return undefined;
  const p = found.params;
  const result: BearerChallenge = {};
  if (p.error !== undefined) result.error = p.error;
  if (p.error_description !== undefined) result.errorDescription = p.error_description;
  if (p.scope !== undefined) result.scope = p.scope;
  if (p.resource_metadata !== undefined) result.resourceMetadata = p.resource_metadata;
  if (p.realm !== undefined) result.realm = p.realm;
  return result;
}
