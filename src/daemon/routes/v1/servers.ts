import type { FastifyInstance } from 'fastify';
import type { LogoutResponse, ServerStatusView } from '../../../api-types.js';
import { EmptyRequest, LogoutResponse as LogoutSchema, ServerList, problemResponses, serverNameParams } from '../../schemas.js';
import type { RouteContext } from './context.js';
import { optionalBody } from './optional-body.js';

export function serverRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/v1/servers',
    {
      schema: {
        operationId: 'listServers',
        summary: 'Every configured server with its login state (reads only; never refreshes)',
        tags: ['servers'],
        response: { 200: ServerList, ...problemResponses },
      },
    },
    async (): Promise<ServerStatusView[]> => ctx.broker.list(),
  );

  app.post<{ Params: { name: string } }>(
    '/v1/servers/:name/logout',
    {
      preValidation: optionalBody,
      schema: {
        operationId: 'logout',
        summary: 'Forget the server’s credential, revoking it at the authorization server where supported (RFC 7009)',
        tags: ['servers'],
        params: serverNameParams,
        body: EmptyRequest,
        response: { 200: LogoutSchema, ...problemResponses },
      },
    },
    async (request): Promise<LogoutResponse> => ctx.broker.logout(request.params.name),
  );
}
