/**
 * The daemon's HTTP API as a fastify instance that never listens: `serve.ts` listens, tests use
 * `inject()`.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DaemonBroker } from './broker-port.js';
import { installGuards, restrictBodiesToJson } from './guards.js';
import { lazyChildLogger, RequestLogController } from './logger.js';
import { buildOpenApi, collectRoutes } from './openapi.js';
import { ApiCode, problem, sendProblem, toProblem } from './problem.js';
import { challengeRoutes } from './routes/v1/challenge.js';
import type { RouteContext } from './routes/v1/context.js';
import { headersRoutes } from './routes/v1/headers.js';
import { healthRoutes } from './routes/v1/health.js';
import { loginRoutes } from './routes/v1/logins.js';
import { openApiRoutes } from './routes/v1/openapi.js';
import { serverRoutes } from './routes/v1/servers.js';

/** Requests are small JSON objects; 64 KiB is plenty and bounds what an attacker can make us parse. */
export const BODY_LIMIT = 64 * 1024;

export interface BuildAppOptions {
  broker: DaemonBroker;
  /** The API token (≥ 32 characters). */
  token: string;
  /** The listening port, for the `Host` allowlist. */
  port: () => number;
  /** A pino logger (see logger.ts for the redacting one), or false for none. */
  logger?: Logger | false;
  version: string;
  /** ms since the epoch. */
  startedAt: number;
}

export function buildApp(opts: BuildAppOptions): FastifyInstance {
  const base = {
    bodyLimit: BODY_LIMIT,
    // HEAD twins of GET routes would be undocumented surface.
    exposeHeadRoutes: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // Time to receive a whole request (not to answer it: long-polls last up to 60 s).
    requestTimeout: 30_000,
    routerOptions: { maxParamLength: 128 },
    // Reject unknown fields instead of silently dropping them (a misspelt `env` would otherwise
    // vanish). Type coercion stays on: the query string (`wait`) arrives as text.
    ajv: { customOptions: { removeAdditional: false } },
    // One log line per request instead of two, successes at debug (see logger.ts).
    logController: new RequestLogController(),
  } as const;
  const app: FastifyInstance = (
    opts.logger
      ? Fastify({ ...base, loggerInstance: opts.logger, childLoggerFactory: lazyChildLogger })
      : Fastify({ ...base, logger: false })
  ) as unknown as FastifyInstance;

  const closing = new AbortController();
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  // A keep-alive connection that goes idle after close() began would hold the shutdown until its
  // keep-alive timeout: answers given while closing end their connection.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing.signal.aborted) reply.header('connection', 'close');
    done(null, payload);
  });

  // Guards first: they must see every request, including ones that match no route.
  installGuards(app, { token: opts.token, port: opts.port });
  restrictBodiesToJson(app, BODY_LIMIT);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const p = toProblem(err);
    if (p.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: p.code }, 'request refused');
    if (p.status === 503) reply.header('retry-after', '1');
    return sendProblem(reply, p);
  });
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, problem(404, ApiCode.NotFound, 'no such route')));

  const routes = collectRoutes(app);
  const ctx: RouteContext = { broker: opts.broker, version: opts.version, startedAt: opts.startedAt, closing: closing.signal };
  healthRoutes(app, ctx);
  serverRoutes(app, ctx);
  headersRoutes(app, ctx);
  challengeRoutes(app, ctx);
  loginRoutes(app, ctx);
  let document: Record<string, unknown> | undefined;
  openApiRoutes(app, () => (document ??= buildOpenApi(routes, opts.version)));
  return app;
}
