/**
 * Reading a secret: a masked prompt when a person is at the terminal, else `MCP_CLIENT_SECRET`
 * (Claude Code's convention), so secrets never need to be typed on the command line.
 */
import { ErrorCode, McpAuthError } from '../errors.js';
import type { CliIO } from './io.js';

export async function readClientSecret(io: CliIO): Promise<string> {
  const fromEnv = io.env.MCP_CLIENT_SECRET;
  if (fromEnv) return fromEnv;
  if (!io.interactive || typeof io.stdin.setRawMode !== 'function') {
    throw new McpAuthError(ErrorCode.Usage, '--client-secret needs a terminal to prompt on, or MCP_CLIENT_SECRET set', {
      hint: 'Run: MCP_CLIENT_SECRET=... mcp-auth add ...',
    });
  }
  io.stderr('Client secret: ');
  const stdin = io.stdin;
  stdin.setRawMode!(true);
  stdin.resume();
  let secret = '';
  try {
    secret = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            return resolve(buf);
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new McpAuthError(ErrorCode.LoginCancelled, 'cancelled', { hint: 'Nothing was changed.' }));
          }
          if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode!(false);
    stdin.pause();
    io.stderr('\n');
  }
  if (!secret) throw new McpAuthError(ErrorCode.Usage, 'the client secret is empty', { hint: 'Run the command again and type the secret.' });
  return secret;
}
