import type { FastifyInstance, FastifyReply } from 'fastify';
import type { HeadersView } from '../../../broker/broker.js';
import type { HeadersRequest, HeadersResponse } from '../../../api-types.js';
import { HeadersRequest as HeadersRequestSchema, HeadersResponse as HeadersSchema, problemResponses, serverNameParams } from '../../schemas.js';
import { QUIET_ROUTE } from '../../logger.js';
import { brokerFor, type RouteContext } from './context.js';
import { optionalBody } from './optional-body.js';

/** What fastify sends serialised JSON as. */
const JSON_TYPE = 'application/json; charset=utf-8';

export function headersRoutes(app: FastifyInstance, ctx: RouteContext): void {
  /**
   * The 200 body for a header map the broker hands out again and again (its shared, frozen answer
   * from cachedHeaders, one per stored credential): serialised once, by this route's own response
   * serializer (`reply.serialize`, the schema's), and then sent as is.
   */
  const bodies = new WeakMap<object, string>();

  /**
   * Answers `name` from `view` when the broker holds the answer, else through the full path.
   * `view` must have been taken after the request was received.
   */
  const answer = (name: string, reply: FastifyReply, view: HeadersView | undefined): void => {
    let cached: Readonly<Record<string, string>> | undefined;
    try {
      cached = view === undefined ? undefined : ctx.broker.cachedHeaders!(name, view);
    } catch {
      cached = undefined;
    }
    if (cached === undefined) {
      ctx.broker.headers(name).then(
        (headers) => reply.send({ headers } satisfies HeadersResponse),
        (err: unknown) => reply.send(err),
      );
      return;
    }
    try {
      let body = bodies.get(cached);
      if (body === undefined) {
        body = reply.serialize({ headers: cached } satisfies HeadersResponse) as string;
        bodies.set(cached, body);
      }
      reply.type(JSON_TYPE).send(body);
    } catch (err) {
      if (!reply.sent) reply.send(err);
    }
  };
  const peek = (): HeadersView | undefined => {
    try {
      return ctx.broker.peekView!();
    } catch {
      return undefined;
    }
  };

  /** Requests received since the current turn's first one, answered together after the turn's input. */
  let batch: Array<{ name: string; reply: FastifyReply }> | undefined;
  const flush = (): void => {
    const items = batch!;
    batch = undefined;
    if (items.length === 0) return;
    const view = peek();
    for (const { name, reply } of items) answer(name, reply, view);
  };

  app.get<{ Params: { name: string } }>(
    '/v1/servers/:name/headers',
    {
      config: QUIET_ROUTE,
      schema: {
        operationId: 'getHeaders',
        summary: 'Ready-to-use request headers for the server (bearer token refreshed if due, static headers, headersHelper output)',
        tags: ['headers'],
        params: serverNameParams,
        response: { 200: HeadersSchema, ...problemResponses },
      },
    },
    // Not async. The first request of an event-loop turn is answered at once, from a check of
    // servers.json and the store (a `stat` each) made now; the requests received after it in the
    // same turn (under load, many sockets are read in one turn) join a batch answered after the
    // turn's input has been read (setImmediate), from one check made then. Either way the check
    // comes after the request was received, so a write that completed before a request was sent
    // is seen by it. Whatever the broker does not hold takes the full path (`headers`).
    (request, reply): void | Promise<HeadersResponse> => {
      const name = request.params.name;
      if (ctx.broker.peekView === undefined || ctx.broker.cachedHeaders === undefined) {
        return ctx.broker.headers(name).then((headers) => ({ headers }));
      }
      if (batch !== undefined) {
        batch.push({ name, reply });
        return;
      }
      batch = [];
      setImmediate(flush);
      answer(name, reply, peek());
    },
  );

  app.post<{ Params: { name: string }; Body: HeadersRequest }>(
    '/v1/servers/:name/headers',
    {
      config: QUIET_ROUTE,
      preValidation: optionalBody,
      schema: {
        operationId: 'getHeadersWithEnv',
        summary: 'Like GET, with environment values lent for this request (`${VAR}` expansion, MCP_CLIENT_SECRET)',
        tags: ['headers'],
        params: serverNameParams,
        body: HeadersRequestSchema,
        response: { 200: HeadersSchema, ...problemResponses },
      },
    },
    async (request): Promise<HeadersResponse> => ({
      headers: await brokerFor(ctx, request.body.env).headers(request.params.name),
    }),
  );
}
