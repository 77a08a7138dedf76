import type { FastifyInstance } from 'fastify';
import { problemResponses } from '../../schemas.js';

export function openApiRoutes(app: FastifyInstance, document: () => Record<string, unknown>): void {
  app.get(
    '/v1/openapi.json',
    {
      schema: {
        operationId: 'openApi',
        summary: 'This document',
        tags: ['daemon'],
        response: { 200: { type: 'object', additionalProperties: true, description: 'OpenAPI 3.1 document' }, ...problemResponses },
      },
    },
    async () => document(),
  );
}
