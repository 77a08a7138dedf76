import type { FastifyInstance } from 'fastify';
import type { HealthResponse } from '../../../api-types.js';
import { HealthResponse as HealthSchema, problemResponses } from '../../schemas.js';
import { QUIET_ROUTE } from '../../logger.js';
import type { RouteContext } from './context.js';

export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/v1/health',
    {
      config: QUIET_ROUTE,
      schema: {
        operationId: 'health',
        summary: 'Liveness, pid, version and credential store of the daemon',
        tags: ['daemon'],
        response: { 200: HealthSchema, ...problemResponses },
      },
    },
    async (): Promise<HealthResponse> => ({
      ok: true,
      pid: process.pid,
      version: ctx.version,
      store: ctx.broker.deps.store.backend,
      uptimeMs: Math.max(0, Date.now() - ctx.startedAt),
    }),
  );
}
