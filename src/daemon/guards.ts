/**
 * The API's front door. Every request passes these checks, in this order, before routing results
 * or bodies matter:
 *
 * 1. `Host` must name this daemon on loopback (`127.0.0.1:<port>`, `localhost:<port>`,
 *    `[::1]:<port>`). A web page that rebinds its own DNS name to 127.0.0.1 still sends its name
 *    here, so this is the defence against DNS rebinding, and it runs before anything else.
 * 2. No `Origin` (nor the `Sec-Fetch-*` headers only browsers send): no web page may call the API,
 *    whatever its origin. There are no CORS headers, ever.
 * 3. `Authorization: Bearer <API token>`, from the header only (a token in a URL ends up in logs
 *    and histories), compared in constant time (`timingSafeEqual` over equal-length buffers; the
 *    token's length is fixed and not secret, so a value of another length is refused outright).
 *
 * Bodies are restricted to `application/json` by the content-type parsers set up in
 * {@link restrictBodiesToJson}.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiCode, problem, sendProblem } from './problem.js';

export interface GuardOptions {
  /** The API token from the runtime file. */
  token: string;
  /** The port the daemon listens on (known only after `listen`, hence a function). */
  port: () => number;
}

/** Upper bound on an Authorization header worth parsing; anything longer is wrong anyway. */
const MAX_AUTHORIZATION_LENGTH = 1024;

/**
 * A constant-time check of a presented bearer value against the API token. The token's length is
 * fixed (32 random bytes, base64url) and not secret, so a value of another byte length is refused
 * without comparing; one of the right length is copied into a buffer allocated once and compared
 * with `timingSafeEqual`, whose time depends on the length only.
 */
export function tokenMatcher(token: string): (given: string) => boolean {
  const expected = Buffer.from(token, 'utf8');
  const scratch = Buffer.alloc(expected.length);
  return (given) => {
    if (Buffer.byteLength(given, 'utf8') !== expected.length) return false;
    scratch.write(given, 0, 'utf8');
    return timingSafeEqual(scratch, expected);
  };
}

/** The three `Host` values a loopback client can legitimately send for `port`. */
export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/**
 * Parses `Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1). Returns undefined for
 * any other shape.
 */
function bearerValue(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  const m = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return m?.[1];
}

/** Registers the guards as the first `onRequest` hook of `app` (and so of every route and the 404 handler). */
export function installGuards(app: FastifyInstance, opts: GuardOptions): void {
  if (opts.token.length < 32) throw new Error('the API token must be at least 32 characters');
  const tokenMatches = tokenMatcher(opts.token);
  let hostsFor = -1;
  let hosts = new Set<string>();

  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done) => {
    // Responses can carry bearer tokens: nothing may cache them.
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');

    // 1. Host allowlist (DNS rebinding).
    const port = opts.port();
    if (port !== hostsFor) {
      hosts = allowedHosts(port);
      hostsFor = port;
    }
    const host = request.headers.host?.toLowerCase();
    if (host === undefined || !hosts.has(host)) {
      sendProblem(
        reply,
        problem(421, ApiCode.HostNotAllowed, 'this API answers only to 127.0.0.1, localhost or [::1] on its own port'),
      );
      return;
    }

    // 2. Browsers: any Origin, or the fetch-metadata headers browsers add to every request.
    const h = request.headers;
    if (h.origin !== undefined || h['sec-fetch-site'] !== undefined || h['sec-fetch-mode'] !== undefined) {
      sendProblem(reply, problem(403, ApiCode.OriginRefused, 'requests from web pages are refused'));
      return;
    }

    // 3. API token, header only, constant-time comparison.
    const given = bearerValue(h.authorization);
    if (given === undefined || !tokenMatches(given)) {
      reply.header('www-authenticate', given === undefined ? 'Bearer realm="mcp-auth"' : 'Bearer realm="mcp-auth", error="invalid_token"');
      sendProblem(
        reply,
        problem(401, ApiCode.Unauthorized, 'missing or invalid API token', 'Send "Authorization: Bearer <token>" with the token from the daemon runtime file (daemon.json)'),
      );
      return;
    }
    done();
  });
}

/**
 * Removes fastify's default parsers (JSON and text/plain) and accepts `application/json` only:
 * anything else is 415. `text/plain` and form bodies are what a web page can POST without a CORS
 * preflight, so refusing them closes that path even if every other guard failed.
 */
export function restrictBodiesToJson(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, app.getDefaultJsonParser('error', 'error'));
}
