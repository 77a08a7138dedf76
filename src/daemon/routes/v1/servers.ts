import type { FastifyInstance } from 'fastify';
import type { LogoutRequest, LogoutResponse, ServersResponse } from '../../../api-types.js';
import {
  LogoutRequest as LogoutRequestSchema,
  LogoutResponse as LogoutSchema,
  ServersResponse as ServersSchema,
  problemResponses,
  serverNameParams,
} from '../../schemas.js';
import { brokerFor, type RouteContext } from './context.js';
import { optionalBody } from './optional-body.js';

export function serverRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/v1/servers',
    {
      schema: {
        operationId: 'listServers',
        summary: 'Every configured server with its login state (reads only; never refreshes)',
        tags: ['servers'],
        response: { 200: ServersSchema, ...problemResponses },
      },
    },
    async (): Promise<ServersResponse> => ({ servers: await ctx.broker.list() }),
  );

  app.post<{ Params: { name: string }; Body: LogoutRequest }>(
    '/v1/servers/:name/logout',
    {
      preValidation: optionalBody,
      schema: {
        operationId: 'logout',
        summary: 'Forget the server’s credential, revoking it at the authorization server where supported (RFC 7009)',
        description:
          'The body is optional; `env` lends the caller’s values for this request (`MCP_CLIENT_SECRET`, which a confidential client revokes with, and `${VAR}` values).',
        tags: ['servers'],
        params: serverNameParams,
        body: LogoutRequestSchema,
        response: { 200: LogoutSchema, ...problemResponses },
      },
    },
    async (request): Promise<LogoutResponse> => brokerFor(ctx, request.body.env).logout(request.params.name),
  );
}
