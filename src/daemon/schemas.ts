/**
 * JSON schemas of the API, mirroring src/api-types.ts. Response schemas are what keeps secrets in:
 * fastify serialises only the properties declared here, so a refresh token, client secret or code
 * verifier that strays into a returned object is dropped, never sent. Hence no
 * `additionalProperties` on any response object except the header map itself.
 *
 * Schemas created with `named()` become `#/components/schemas/<Name>` in the OpenAPI document.
 */

export type JsonSchema = Record<string, unknown>;

const names = new WeakMap<object, string>();

function named<T extends JsonSchema>(name: string, schema: T): T {
  names.set(schema, name);
  return schema;
}

/** The component name a schema object was registered under, if any. */
export function schemaName(schema: object): string | undefined {
  return names.get(schema);
}

/** Server names as config/schema.ts allows them. */
export const serverNameParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'The server name from servers.json' },
  },
} as const;

export const loginIdParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$', description: 'A pending login id' } },
} as const;

const errorInfo = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
} as const;

export const RequestEnv = named('RequestEnv', {
  type: 'object',
  description:
    'Environment values lent for this one request: `${VAR}` expansion in the server entry and `MCP_CLIENT_SECRET`. Used for the named server only, never kept.',
  maxProperties: 256,
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' },
  additionalProperties: { type: 'string', maxLength: 8192 },
});

export const HeaderMap = named('HeaderMap', {
  type: 'object',
  description: 'HTTP header name to value.',
  additionalProperties: { type: 'string' },
});

export const ServerStatusView = named('ServerStatusView', {
  type: 'object',
  required: ['name', 'url', 'type', 'state', 'store'],
  properties: {
    name: { type: 'string' },
    url: { type: 'string' },
    type: { type: 'string', enum: ['http', 'sse'] },
    state: { type: 'string', enum: ['ok', 'refreshing', 'expired', 'login_required', 'not_oauth', 'error'] },
    issuer: { type: 'string' },
    clientId: { type: 'string' },
    scope: { type: 'string' },
    expiresAt: { type: 'number', description: 'ms since the epoch' },
    hasRefreshToken: { type: 'boolean' },
    account: { type: 'string' },
    store: { type: 'string' },
    error: errorInfo,
  },
});

export const ServersResponse = named('ServersResponse', {
  type: 'object',
  required: ['servers'],
  properties: { servers: { type: 'array', items: ServerStatusView } },
});

export const PendingLoginView = named('PendingLoginView', {
  type: 'object',
  required: ['id', 'server', 'kind', 'status', 'expiresAt'],
  properties: {
    id: { type: 'string' },
    server: { type: 'string' },
    kind: { type: 'string', enum: ['browser', 'device'] },
    status: { type: 'string', enum: ['pending', 'succeeded', 'failed', 'cancelled'] },
    url: { type: 'string', description: 'Open this in the user’s browser.' },
    userCode: { type: 'string' },
    expiresAt: { type: 'number', description: 'ms since the epoch' },
    redirectUri: { type: 'string', description: 'The redirect URI a pasted callback URL must match.' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } },
    },
    scope: { type: 'string' },
  },
});

export const LoginViewResponse = named('LoginViewResponse', {
  type: 'object',
  required: ['login'],
  properties: { login: PendingLoginView },
});

export const HeadersRequest = named('HeadersRequest', {
  type: 'object',
  additionalProperties: false,
  properties: { env: RequestEnv },
});

export const HeadersResponse = named('HeadersResponse', {
  type: 'object',
  required: ['headers'],
  properties: { headers: HeaderMap },
});

export const ChallengeRequest = named('ChallengeRequest', {
  type: 'object',
  required: ['status', 'wwwAuthenticate'],
  additionalProperties: false,
  properties: {
    status: { type: 'integer', enum: [401, 403] },
    wwwAuthenticate: { type: 'string', minLength: 1, maxLength: 8192, description: 'The WWW-Authenticate value the MCP server answered with.' },
    tokenHash: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'sha256 hex of the access token the server rejected.' },
    env: RequestEnv,
  },
});

export const ChallengeResponse = named('ChallengeResponse', {
  type: 'object',
  required: ['action'],
  properties: {
    action: { type: 'string', enum: ['current', 'refreshed', 'unchanged', 'login'] },
    headers: HeaderMap,
    login: PendingLoginView,
  },
});

export const LoginRequest = named('LoginRequest', {
  type: 'object',
  additionalProperties: false,
  properties: {
    force: { type: 'boolean' },
    challenge: { type: 'string', minLength: 1, maxLength: 8192, description: 'A WWW-Authenticate value (step-up).' },
    env: RequestEnv,
  },
});

export const LoginResponse = named('LoginResponse', {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['unchanged', 'refreshed', 'pending'] },
    reason: { type: 'string' },
    login: PendingLoginView,
  },
});

export const WaitQuery = named('WaitQuery', {
  type: 'object',
  additionalProperties: false,
  properties: {
    wait: { type: 'integer', minimum: 0, maximum: 60, default: 0, description: 'Long-poll: seconds to wait for the login to leave `pending`.' },
  },
});

export const CallbackRequest = named('CallbackRequest', {
  type: 'object',
  required: ['url'],
  additionalProperties: false,
  properties: { url: { type: 'string', minLength: 1, maxLength: 8192, description: 'The full callback URL the user pasted.' } },
});

export const LogoutRequest = named('LogoutRequest', {
  type: 'object',
  additionalProperties: false,
  properties: { env: RequestEnv },
});

export const LogoutResponse = named('LogoutResponse', {
  type: 'object',
  required: ['loggedOut', 'revoked'],
  properties: { loggedOut: { type: 'boolean' }, revoked: { type: 'boolean' } },
});

export const HealthResponse = named('HealthResponse', {
  type: 'object',
  required: ['ok', 'pid', 'version', 'store', 'uptimeMs'],
  properties: {
    ok: { type: 'boolean', const: true },
    pid: { type: 'integer' },
    version: { type: 'string' },
    store: { type: 'string' },
    uptimeMs: { type: 'number' },
  },
});

export const Problem = named('Problem', {
  type: 'object',
  description: 'RFC 9457 problem details (`application/problem+json`) with the stable mcp-auth error code and hint.',
  required: ['type', 'title', 'status', 'code', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    hint: { type: 'string' },
  },
});

/** Error responses every route can give (the guards run before each of them). */
export const problemResponses = { '4xx': Problem, '5xx': Problem } as const;

export const NoContent = { type: 'null', description: 'No content' } as const;
