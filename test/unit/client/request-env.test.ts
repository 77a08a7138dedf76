// The daemon never adopts one caller's environment: a request lends exactly the variables its
// server's definition references, plus MCP_CLIENT_SECRET — never another server's, never the rest.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { referencedVariables, requestEnvFor, selectRequestEnv, serverDefinition } from '../../../src/client/request-env.js';

const config = {
  mcpServers: {
    demo: {
      type: 'http',
      url: 'https://${MCP_HOST}/mcp?tenant=${TENANT:-default}',
      headers: { 'X-Api-Key': '${API_KEY}', 'X-Static': 'plain', 'X-Twice': '${API_KEY}-${REGION:-eu}' },
      headersHelper: '/usr/local/bin/helper --profile ${PROFILE}',
    },
    other: { type: 'http', url: 'https://other.example.com/mcp', headers: { Authorization: 'Bearer ${OTHER_TOKEN}' } },
    plain: { type: 'http', url: 'https://plain.example.com/mcp' },
  },
};

const env: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/home/u',
  MCP_HOST: 'mcp.example.com',
  TENANT: '',
  API_KEY: 'k-123',
  PROFILE: 'work',
  OTHER_TOKEN: 'other-secret',
  MCP_CLIENT_SECRET: 's3cret',
  AWS_SECRET_ACCESS_KEY: 'never',
};

describe('referencedVariables', () => {
  it('finds ${VAR} and ${VAR:-default} in url, header values and headersHelper, once each', () => {
    expect(referencedVariables(config.mcpServers.demo)).toEqual(['MCP_HOST', 'TENANT', 'PROFILE', 'API_KEY', 'REGION']);
  });
  it('ignores other keys, $VAR without braces, $$ and malformed names', () => {
    expect(
      referencedVariables({ url: 'https://x/$HOME/$${A}', oauth: { clientId: '${CLIENT}' }, headers: { a: '${1BAD}', b: 42 } }),
    ).toEqual(['A']);
    expect(referencedVariables(undefined)).toEqual([]);
    expect(referencedVariables('${A}')).toEqual([]);
  });
});

describe('selectRequestEnv', () => {
  it("lends the set variables the server references (empty ones too) and MCP_CLIENT_SECRET, nothing else", () => {
    expect(selectRequestEnv(config, 'demo', env)).toEqual({
      MCP_HOST: 'mcp.example.com',
      TENANT: '',
      API_KEY: 'k-123',
      PROFILE: 'work',
      MCP_CLIENT_SECRET: 's3cret',
    });
  });
  it("never lends another server's variables", () => {
    expect(selectRequestEnv(config, 'other', env)).toEqual({ OTHER_TOKEN: 'other-secret', MCP_CLIENT_SECRET: 's3cret' });
    expect(selectRequestEnv(config, 'plain', env)).toEqual({ MCP_CLIENT_SECRET: 's3cret' });
  });
  it('lends only MCP_CLIENT_SECRET for an unknown server or a broken config, and nothing without it', () => {
    expect(selectRequestEnv(config, 'nope', env)).toEqual({ MCP_CLIENT_SECRET: 's3cret' });
    expect(selectRequestEnv(undefined, 'demo', env)).toEqual({ MCP_CLIENT_SECRET: 's3cret' });
    expect(selectRequestEnv(config, 'plain', { PATH: '/bin' })).toEqual({});
    expect(selectRequestEnv(config, 'plain', { MCP_CLIENT_SECRET: '' })).toEqual({});
  });
  it('does not find Object.prototype members as servers', () => {
    expect(serverDefinition(config, 'constructor')).toBeUndefined();
    expect(serverDefinition(config, '__proto__')).toBeUndefined();
  });
});

describe('requestEnvFor', () => {
  it('reads servers.json; a missing or unparsable file lends only MCP_CLIENT_SECRET', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-auth-reqenv-'));
    try {
      const configFile = join(dir, 'servers.json');
      expect(await requestEnvFor({ configFile }, 'demo', env)).toEqual({ MCP_CLIENT_SECRET: 's3cret' });
      await writeFile(configFile, JSON.stringify(config));
      expect(await requestEnvFor({ configFile }, 'other', env)).toEqual({ OTHER_TOKEN: 'other-secret', MCP_CLIENT_SECRET: 's3cret' });
      await writeFile(configFile, '{ nope');
      expect(await requestEnvFor({ configFile }, 'other', env)).toEqual({ MCP_CLIENT_SECRET: 's3cret' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
