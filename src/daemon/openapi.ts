/**
 * The OpenAPI 3.1 document of the API, derived from the schemas the routes were registered with
 * (collected by an `onRoute` hook), so it cannot drift from what fastify validates and serialises.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorCode } from '../errors.js';
import { ApiCode, STATUS_BY_CODE } from './problem.js';
import { schemaName, type JsonSchema } from './schemas.js';

declare module 'fastify' {
  /** Documentation keys of a route schema (fastify ignores them; the OpenAPI document uses them). */
  interface FastifySchema {
    summary?: string;
    description?: string;
    operationId?: string;
    tags?: string[];
  }
}

interface RouteSchema {
  summary?: string;
  description?: string;
  operationId?: string;
  tags?: string[];
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  response?: Record<string, JsonSchema>;
}

interface CollectedRoute {
  method: string;
  url: string;
  schema: RouteSchema;
}

/** Starts recording routes; call before any route is added. Returns the live list. */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.schema === undefined) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as RouteSchema });
    }
  });
  return routes;
}

/** Replaces named schema objects by `$ref`s and collects them as components. */
function refify(schema: unknown, components: Record<string, unknown>, top = false): unknown {
  if (Array.isArray(schema)) return schema.map((s) => refify(s, components));
  if (typeof schema !== 'object' || schema === null) return schema;
  const name = schemaName(schema);
  if (name !== undefined && !top) {
    if (!(name in components)) {
      components[name] = {}; // reserve first: a schema may (one day) refer to itself
      components[name] = refify(schema, components, true);
    }
    return { $ref: `#/components/schemas/${name}` };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = refify(v, components);
  return out;
}

function objectParameters(where: 'path' | 'query', schema: JsonSchema | undefined, components: Record<string, unknown>): unknown[] {
  const props = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: refify(rest, components),
    };
  });
}

function statusKey(code: string): string {
  return /^[1-5]xx$/.test(code) ? code.toUpperCase() : code;
}

function mappingTable(): string {
  const byStatus = new Map<number, string[]>();
  for (const [code, status] of Object.entries(STATUS_BY_CODE)) byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  const rows = [...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([status, codes]) => `| ${status} | ${codes.join(', ')} |`);
  return ['| HTTP status | `code` |', '|---|---|', ...rows, `| 500 | ${ErrorCode.StoreUnreadable}, ${ErrorCode.StoreWriteFailed}, ${ErrorCode.Internal} and any other |`].join('\n');
}

export function buildOpenApi(routes: readonly CollectedRoute[], version: string): Record<string, unknown> {
  const components: Record<string, unknown> = {};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema;
    const responses: Record<string, unknown> = {};
    for (const [code, schema] of Object.entries(s.response ?? {})) {
      const isProblem = schemaName(schema) === 'Problem';
      const description = typeof schema.description === 'string' && !isProblem ? schema.description : isProblem ? 'Problem details' : 'OK';
      responses[statusKey(code)] =
        schema.type === 'null'
          ? { description }
          : { description, content: { [isProblem ? 'application/problem+json' : 'application/json']: { schema: refify(schema, components) } } };
    }
    const op: Record<string, unknown> = {
      ...(s.operationId ? { operationId: s.operationId } : {}),
      ...(s.summary ? { summary: s.summary } : {}),
      ...(s.description ? { description: s.description } : {}),
      ...(s.tags ? { tags: s.tags } : {}),
      parameters: [...objectParameters('path', s.params, components), ...objectParameters('query', s.querystring, components)],
      ...(s.body
        ? { requestBody: { required: (s.body.required as string[] | undefined)?.length ? true : false, content: { 'application/json': { schema: refify(s.body, components) } } } }
        : {}),
      responses,
    };
    (paths[path] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'mcp-auth daemon API',
      version,
      description: [
        'Local API of the mcp-auth daemon, on 127.0.0.1 only.',
        '',
        'Every request needs `Authorization: Bearer <token>` with the token from the runtime file `daemon.json`, a `Host` of',
        '`127.0.0.1:<port>`, `localhost:<port>` or `[::1]:<port>`, and no `Origin`. Request bodies are `application/json` only (at most 64 KiB).',
        '',
        `Errors are \`application/problem+json\` with a stable \`code\` (the one the CLI prints). Guard codes: ${Object.values(ApiCode).join(', ')}.`,
        '',
        mappingTable(),
      ].join('\n'),
    },
    servers: [{ url: '/' }],
    security: [{ apiToken: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: { apiToken: { type: 'http', scheme: 'bearer', description: 'The `token` from the runtime file daemon.json' } },
    },
  };
}
