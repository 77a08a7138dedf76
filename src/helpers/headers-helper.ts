/**
 * Runs `headersHelper` commands with Claude Code's contract: a shell command whose stdout is one
 * JSON object of header names to string values, with the server's name and URL in the environment.
 */
import { spawn } from 'node:child_process';
import { ErrorCode, McpAuthError } from '../errors.js';

export interface HeadersHelperOptions {
  serverName: string;
  serverUrl: string;
  /** Base environment (default `process.env`); the two `CLAUDE_CODE_MCP_SERVER_*` vars are added. */
  env?: NodeJS.ProcessEnv;
  /** Default 10000, Claude Code's own limit for a helper. */
  timeoutMs?: number;
  /** Cap on stdout; default 64 KiB. */
  maxOutputBytes?: number;
  cwd?: string;
}

/** RFC 9110 token: the characters allowed in a header field name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
const STDERR_KEEP_BYTES = 4096;
const STDERR_LINE_CHARS = 200;

function firstStderrLine(chunks: Buffer[]): string {
  const text = Buffer.concat(chunks).toString('utf8');
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
  // Control characters would let a helper rewrite the user's terminal through our error message.
  // eslint-disable-next-line no-control-regex
  const clean = line.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > STDERR_LINE_CHARS ? `${clean.slice(0, STDERR_LINE_CHARS)}…` : clean;
}

/**
 * Runs `command` through `/bin/sh -c` in its own process group and returns the headers it prints.
 * On a timeout or oversized output the whole group is killed, so helpers that spawn children do
 * not linger.
 *
 * @throws McpAuthError `HELPER_FAILED` on a non-zero exit, a signal, a timeout, output over
 *   `maxOutputBytes`, or output that is not a JSON object of valid header names to single-line
 *   string values. The message never contains stdout (it may hold secrets); it may contain the
 *   first line of stderr, cut to 200 characters.
 */
export async function runHeadersHelper(command: string, opts: HeadersHelperOptions): Promise<Record<string, string>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxOutputBytes = opts.maxOutputBytes ?? 64 * 1024;
  const label = `headersHelper of server ${JSON.stringify(opts.serverName)}`;
  const fail = (what: string, stderr?: Buffer[], cause?: unknown): McpAuthError => {
    const line = stderr === undefined ? '' : firstStderrLine(stderr);
    return new McpAuthError(ErrorCode.HelperFailed, `${label} ${what}${line === '' ? '' : `: ${line}`}`, {
      hint: `Run the headersHelper command of ${JSON.stringify(opts.serverName)} by hand to see what it prints`,
      cause,
    });
  };

  const stdout = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: opts.cwd,
      env: {
        ...(opts.env ?? process.env),
        CLAUDE_CODE_MCP_SERVER_NAME: opts.serverName,
        CLAUDE_CODE_MCP_SERVER_URL: opts.serverUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let settled = false;

    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const finish = (error: McpAuthError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) {
        resolve(Buffer.concat(out));
        return;
      }
      killGroup();
      // Do not wait for 'close': a grandchild that escaped the group could hold the pipes open.
      child.stdout.destroy();
      child.stderr.destroy();
      reject(error);
    };

    const timer = setTimeout(() => finish(fail(`timed out after ${timeoutMs} ms`, err)), timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOutputBytes) {
        finish(fail(`printed more than ${maxOutputBytes} bytes`));
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < STDERR_KEEP_BYTES) {
        err.push(chunk);
        errBytes += chunk.length;
      }
    });
    child.on('error', (e) => finish(fail('could not be started', undefined, e)));
    child.on('close', (code, signal) => {
      if (signal !== null) finish(fail(`was killed by ${signal}`, err));
      else if (code !== 0) finish(fail(`exited with code ${code ?? 'unknown'}`, err));
      else finish(undefined);
    });
  });

  return parseHelperOutput(stdout, fail);
}

function parseHelperOutput(stdout: Buffer, fail: (what: string) => McpAuthError): Record<string, string> {
  const text = stdout.toString('utf8').trim();
  if (text === '') throw fail('printed nothing (expected a JSON object of headers)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw fail('did not print valid JSON (expected one JSON object of headers)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw fail('did not print a JSON object of headers');
  }
  const headers: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (!HEADER_NAME.test(name)) throw fail('printed an invalid header name');
    if (typeof value !== 'string') throw fail(`printed a non-string value for header ${name}`);
    if (LINE_BREAK_OR_NUL.test(value)) throw fail(`printed a value with a line break for header ${name}`);
    headers.push([name, value]);
  }
  return Object.fromEntries(headers);
}

/**
 * Merges header layers (e.g. static headers, then helper output, then the Authorization header).
 * Later layers win; names are compared case-insensitively and the winning layer's spelling is kept.
 */
export function mergeHeaders(...layers: Array<Record<string, string> | undefined>): Record<string, string> {
  const merged = new Map<string, [string, string]>();
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [name, value] of Object.entries(layer)) {
      const lower = name.toLowerCase();
      merged.delete(lower);
      merged.set(lower, [name, value]);
    }
  }
  return Object.fromEntries(merged.values());
}
