import { ErrorCode, McpAuthError } from '../errors.js';
import { assertSecureUrl } from '../util/loopback.js';

export interface SafeFetchOptions {
  /** The underlying fetch; defaults to the global one, looked up at call time. */
  fetch?: typeof fetch;
  /** Budget for the whole exchange, headers and body. Default 15 000 ms. */
  timeoutMs?: number;
  /** Largest body accepted, after content decoding. Default 1 MiB. */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

// Fetch §2.2.3: constructing a Response with a body for these statuses throws.
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Builds the one fetch that mcp-auth sends OAuth and discovery traffic through; pass it to
 * oauth4webapi as `[customFetch]`.
 *
 * - OAuth 2.1 §1.5: only `https:` (or `http:` to loopback) and no userinfo (`INSECURE_URL`).
 * - RFC 9700 §4.11 / OAuth 2.1 §7.12: redirects are never followed (`redirect: 'manual'`); a 3xx is
 *   handed back as is so the caller decides, and a token request can never be replayed elsewhere.
 * - A timeout covering headers and body (`TIMEOUT`), a cap on the body size (`RESPONSE_TOO_LARGE`),
 *   and transport failures as `NETWORK_ERROR` naming the host.
 *
 * The body is buffered and returned in a new `Response` with the original status, status text
 * and headers, so oauth4webapi's `process*Response` functions consume it unchanged.
 */
export function createSafeFetch(opts: SafeFetchOptions = {}): typeof fetch {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;

  const safeFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const isRequest = typeof input === 'object' && !(input instanceof URL);
    const target = assertSecureUrl(isRequest ? input.url : input, 'requested URL');
    const host = target.host;

    const timeout = new AbortController();
    const timer = setTimeout(() => {
      timeout.abort(new DOMException(`Timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    const callerSignals: AbortSignal[] = [];
    if (init?.signal) callerSignals.push(init.signal);
    if (isRequest) callerSignals.push(input.signal);
    const signal = AbortSignal.any([timeout.signal, ...callerSignals]);

    const classify = (err: unknown): unknown => {
      if (err instanceof McpAuthError) return err;
      if (timeout.signal.aborted) {
        return new McpAuthError(ErrorCode.Timeout, `The request to ${host} timed out after ${timeoutMs} ms.`, {
          hint: 'Check that the server is reachable and try again.',
          cause: err,
        });
      }
      // The caller cancelled on purpose: give back its own abort reason, not a network error.
      if (callerSignals.some((s) => s.aborted)) return err;
      return new McpAuthError(ErrorCode.Network, `Could not reach ${host}.`, {
        hint: 'Check the network connection, proxy settings and the server URL.',
        cause: err,
      });
    };

    try {
      const doFetch = opts.fetch ?? globalThis.fetch;
      let response: Response;
      try {
        response = await doFetch(input, { ...init, redirect: 'manual', signal });
      } catch (err) {
        throw classify(err);
      }

      // An opaque redirect (status 0, browsers only) cannot be rebuilt; it has no body to cap anyway.
      if (response.status < 200 || response.status > 599) return response;

      if (NULL_BODY_STATUSES.has(response.status) || response.body === null) {
        await response.body?.cancel().catch(() => undefined);
        return rebuild(response, null);
      }

      const declared = response.headers.get('content-length');
      if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared.trim()) > maxBytes) {
        await response.body.cancel().catch(() => undefined);
        throw tooLarge(host, maxBytes);
      }

      let body: Uint8Array;
      try {
        body = await readCapped(response.body, maxBytes, host);
      } catch (err) {
        throw classify(err);
      }
      return rebuild(response, body);
    } finally {
      clearTimeout(timer);
    }
  };

  return safeFetch as typeof fetch;
}

function tooLarge(host: string, maxBytes: number): McpAuthError {
  return new McpAuthError(
    ErrorCode.ResponseTooLarge,
    `The response from ${host} is larger than ${maxBytes} bytes.`,
    { hint: 'Check that the URL points at an OAuth or MCP endpoint, not at a download.' },
  );
}

async function readCapped(stream: ReadableStream<Uint8Array>, maxBytes: number, host: string): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(host, maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function rebuild(original: Response, body: Uint8Array | null): Response {
  const copy = new Response(body, {
    status: original.status,
    statusText: original.statusText,
    headers: new Headers(original.headers),
  });
  // A constructed Response has an empty url; keep the real one for callers that report it.
  Object.defineProperty(copy, 'url', { value: original.url, enumerable: true });
  return copy;
}
