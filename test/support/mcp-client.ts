// An MCP SDK client used the way a real one would be: connect with the given headers, call one
// tool, close.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface McpTarget {
  /** The MCP server's URL. */
  url: string;
  /** Headers sent with every request (e.g. from `mcp-auth headers`). */
  headers: Record<string, string>;
  /** The client name announced in `initialize`. */
  clientName: string;
}

/** Connects a fresh SDK client to `target`, calls tool `name` with `args`, and always closes it. */
export async function callTool(target: McpTarget, name: string, args: Record<string, unknown> = {}) {
  const client = new Client({ name: target.clientName, version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(target.url), { requestInit: { headers: target.headers } }));
  try {
    return await client.callTool({ name, arguments: args });
  } finally {
    await client.close();
  }
}
