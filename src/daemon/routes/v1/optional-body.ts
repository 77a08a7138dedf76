import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * For POST routes whose body is optional: a request without one is validated as `{}`. (A body
 * that is present must still be `application/json` and match the schema.)
 */
export function optionalBody(request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  if (request.body === undefined || request.body === null) request.body = {};
  done();
}
