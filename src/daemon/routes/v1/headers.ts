import type { FastifyInstance } from 'fastify';
import type { HeadersRequest, HeadersResponse } from '../../../api-types.js';
import { HeadersRequest as HeadersRequestSchema, HeadersResponse as HeadersSchema, problemResponses, serverNameParams } from '../../schemas.js';
import { QUIET_ROUTE } from '../../logger.js';
import { brokerFor, type RouteContext } from './context.js';
import { optionalBody } from './optional-body.js';

export function headersRoutes(app: FastifyInstance, ctx: RouteContext): void {
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
    async (request): Promise<HeadersResponse> => ({ headers: await ctx.broker.headers(request.params.name) }),
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
