#!/usr/bin/env node
// Baseline client for the conformance runner: the MCP TypeScript SDK's own OAuth
// machinery (StreamableHTTPClientTransport + authProvider), no mcp-auth involved.
// `CONFORMANCE_CLIENT=sdk npm run conformance` runs it, to prove the runner and to tell,
// for a failing scenario, whether the reference implementation passes it.
//
// The authorization "browser" is inline: the authorization URL is fetched hop by hop
// (loopback only) until the redirect to our redirect_uri carries the code; nothing
// listens on the redirect_uri. Like client.mjs it never branches on the scenario name.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { isLoopbackHost } from './browser.mjs';

const REDIRECT_URL = 'http://127.0.0.1:33418/callback';
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';
const MAX_AUTHORIZATIONS = 3;

const log = (m) => process.stderr.write(`[sdk-client] ${m}\n`);

class Provider {
  constructor(ctx) {
    this.clientMetadataUrl = CLIENT_METADATA_URL;
    this._info = ctx.client_id ? { client_id: ctx.client_id, client_secret: ctx.client_secret } : undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.pendingCode = undefined;
    this.authorizations = 0;
  }
  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      client_name: 'mcp-auth sdk baseline',
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this._info;
  }
  saveClientInformation(info) {
    this._info = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(t) {
    this._tokens = t;
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
  async redirectToAuthorization(authorizationUrl) {
    if (++this.authorizations > MAX_AUTHORIZATIONS) {
      throw new Error(`refusing authorization attempt ${this.authorizations}`);
    }
    let url = new URL(authorizationUrl);
    for (let hop = 0; hop < 8; hop++) {
      if (!isLoopbackHost(url.hostname)) throw new Error(`refusing non-loopback host ${url.host}`);
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer().catch(() => undefined);
      const loc = res.headers.get('location');
      if (!(res.status >= 300 && res.status < 400 && loc)) throw new Error(`authorize answered ${res.status}`);
      const next = new URL(loc, url);
      if (next.origin + next.pathname === new URL(REDIRECT_URL).origin + new URL(REDIRECT_URL).pathname) {
        const code = next.searchParams.get('code');
        if (!code) throw new Error(`redirect without code: ${next.searchParams.get('error') ?? '?'}`);
        this.pendingCode = code;
        return;
      }
      url = next;
    }
    throw new Error('too many redirects');
  }
}

async function main() {
  const serverUrl = new URL(process.argv[2]);
  const ctx = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
  const provider = new Provider(ctx);
  for (let round = 0; round <= MAX_AUTHORIZATIONS; round++) {
    const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
    const client = new Client({ name: 'mcp-auth-sdk-baseline', version: '0.1.0' }, { capabilities: {} });
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      const tool = tools.find((t) => t.name === 'test-tool') ?? tools[0];
      if (tool) await client.callTool({ name: tool.name, arguments: {} });
      await client.close();
      log('done');
      return 0;
    } catch (err) {
      await client.close().catch(() => {});
      if (err instanceof UnauthorizedError && provider.pendingCode) {
        const code = provider.pendingCode;
        provider.pendingCode = undefined;
        await transport.finishAuth(code);
        log(`authorized (${provider.authorizations})`);
        continue;
      }
      throw err;
    }
  }
  throw new Error('gave up');
}

main().then(
  (c) => process.exit(c),
  (e) => {
    log(`FAILED: ${e?.stack || e}`);
    process.exit(1);
  },
);
