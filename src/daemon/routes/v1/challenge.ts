import type { FastifyInstance } from 'fastify';
import type { ChallengeRequest, ChallengeResponse } from '../../../api-types.js';
import { ChallengeRequest as ChallengeRequestSchema, ChallengeResponse as ChallengeSchema, problemResponses, serverNameParams } from '../../schemas.js';
import { brokerFor, type RouteContext } from './context.js';

export function challengeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Params: { name: string }; Body: ChallengeRequest }>(
    '/v1/servers/:name/challenge',
    {
      schema: {
        operationId: 'reportChallenge',
        summary: 'Report a 401/403 answer of the MCP server and get what to do next',
        description:
          'If the rejected token (by `tokenHash`) is no longer the current one, the current headers come back with no token request (`current`). A 401 `invalid_token` gets one refresh (`refreshed`), then a login. A 403 `insufficient_scope` steps up: `unchanged` when every challenged scope is already held, else a login is started (`login`).',
        tags: ['headers'],
        params: serverNameParams,
        body: ChallengeRequestSchema,
        response: { 200: ChallengeSchema, ...problemResponses },
      },
    },
    async (request): Promise<ChallengeResponse> => {
      const { status, wwwAuthenticate, tokenHash, env } = request.body;
      return brokerFor(ctx, env).challenge(request.params.name, {
        status,
        wwwAuthenticate,
        ...(tokenHash !== undefined ? { tokenHash } : {}),
      });
    },
  );
}
