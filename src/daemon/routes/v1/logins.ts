import type { FastifyInstance } from 'fastify';
import type { CallbackRequest, LoginRequest, LoginResponse, LoginViewResponse, PendingLoginView } from '../../../api-types.js';
import { ErrorCode, McpAuthError } from '../../../errors.js';
import {
  CallbackRequest as CallbackSchema,
  LoginRequest as LoginRequestSchema,
  LoginResponse as LoginSchema,
  LoginViewResponse as LoginViewSchema,
  NoContent,
  WaitQuery,
  loginIdParams,
  problemResponses,
  serverNameParams,
} from '../../schemas.js';
import { brokerFor, type RouteContext } from './context.js';
import { optionalBody } from './optional-body.js';

function loginNotFound(): McpAuthError {
  return new McpAuthError(ErrorCode.LoginNotFound, 'no such login (it may have finished a while ago)', {
    hint: 'Start a new one: mcp-auth login <name>',
  });
}

/** Resolves when `signal` aborts (never rejects). */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

export function loginRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const closed = aborted(ctx.closing);

  app.post<{ Params: { name: string }; Body: LoginRequest }>(
    '/v1/servers/:name/login',
    {
      preValidation: optionalBody,
      schema: {
        operationId: 'startLogin',
        summary: 'Start a login, or join the one already pending for this server',
        description:
          'Does nothing (`unchanged`) when a usable credential exists, unless `force`. A pending login belongs to the daemon: the caller opens `login.url` in the user’s browser and waits with GET /v1/logins/{id}?wait=N; a caller that gives up DELETEs it.',
        tags: ['logins'],
        params: serverNameParams,
        body: LoginRequestSchema,
        response: { 200: LoginSchema, ...problemResponses },
      },
    },
    async (request): Promise<LoginResponse> => {
      const { force, challenge, env } = request.body;
      return brokerFor(ctx, env).startLogin(request.params.name, {
        ...(force !== undefined ? { force } : {}),
        ...(challenge !== undefined ? { challenge } : {}),
      });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { wait?: number } }>(
    '/v1/logins/:id',
    {
      schema: {
        operationId: 'getLogin',
        summary: 'A pending login; with `wait`, long-polls until it is no longer pending (at most 60 s)',
        tags: ['logins'],
        params: loginIdParams,
        querystring: WaitQuery,
        response: { 200: LoginViewSchema, ...problemResponses },
      },
    },
    async (request): Promise<LoginViewResponse> => {
      const { id } = request.params;
      const waitMs = (request.query.wait ?? 0) * 1000;
      let view: PendingLoginView | undefined;
      if (waitMs > 0) {
        // A long-poll must not hold up shutdown: when the app closes, answer with the current view.
        const outcome = await Promise.race([ctx.broker.waitLogin(id, waitMs), closed.then(() => 'closing' as const)]);
        view = outcome === 'closing' ? ctx.broker.getLogin(id) : outcome;
      } else {
        view = ctx.broker.getLogin(id);
      }
      if (view === undefined) throw loginNotFound();
      return { login: view };
    },
  );

  app.post<{ Params: { id: string }; Body: CallbackRequest }>(
    '/v1/logins/:id/callback',
    {
      schema: {
        operationId: 'submitCallback',
        summary: 'Relay a callback URL the user pasted (when the browser could not reach the loopback listener)',
        tags: ['logins'],
        params: loginIdParams,
        body: CallbackSchema,
        response: { 200: LoginViewSchema, ...problemResponses },
      },
    },
    async (request): Promise<LoginViewResponse> => ({ login: await ctx.broker.submitCallback(request.params.id, request.body.url) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/logins/:id',
    {
      schema: {
        operationId: 'leaveLogin',
        summary: 'Stop waiting for a login; it is cancelled only when no other caller joined it',
        tags: ['logins'],
        params: loginIdParams,
        response: { 204: NoContent, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (ctx.broker.getLogin(id) === undefined) throw loginNotFound();
      ctx.broker.leaveLogin(id);
      return reply.code(204).send();
    },
  );
}
