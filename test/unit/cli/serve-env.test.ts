// `mcp-auth serve` started by hand keeps its own environment (its `${VAR}` fallbacks, what a
// headersHelper sees) but never uses MCP_CLIENT_SECRET or the per-call switches of the shell that
// started it: callers lend their secret with each request. (The real process: daemon-env.test.ts.)
import { describe, expect, it } from 'vitest';

import { serveEnv } from '../../../src/cli/verbs/serve.js';

describe('serveEnv', () => {
  it('drops MCP_CLIENT_SECRET and the per-call switches, keeps everything else', () => {
    const env = { PATH: '/bin', HOME: '/h', TEAM: 'blue', MCP_AUTH_HOME: '/m', MCP_CLIENT_SECRET: 's', MCP_AUTH_NO_DAEMON: '1', CLAUDE_CODE_MCP_SERVER_NAME: 'x' };
    expect(serveEnv(env)).toEqual({ PATH: '/bin', HOME: '/h', TEAM: 'blue', MCP_AUTH_HOME: '/m' });
    // A copy: the process environment itself is not changed.
    expect(env.MCP_CLIENT_SECRET).toBe('s');
  });
});
