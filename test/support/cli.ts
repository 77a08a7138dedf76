// Runs the real `mcp-auth` binary (dist/, built by the global setup) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { expect } from 'vitest';

export const BIN = fileURLToPath(new URL('../../bin/mcp-auth.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  result: Promise<CliResult>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, input?: string): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, result };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliResult> {
  return startCli(args, env, input).result;
}

/** An environment with nothing of the developer's: its own home, the test browser stand-in. */
export function cliEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    MCP_AUTH_HOME: home,
    ...extra,
  };
}

/** `mcp-auth headers <name>`, which must exit 0; returns the headers it printed. */
export async function cliHeaders(env: NodeJS.ProcessEnv, name = 'demo'): Promise<Record<string, string>> {
  const r = await runCli(['headers', name], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, string>;
}
