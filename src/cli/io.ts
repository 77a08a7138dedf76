/**
 * What a verb may touch: its streams and environment. Tests pass their own.
 */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  env: NodeJS.ProcessEnv;
  /** Whether a person is at the keyboard (masked prompts and pasted callbacks need one). */
  interactive: boolean;
}

export function processIO(): CliIO {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stdin: process.stdin,
    env: process.env,
    interactive: process.stdin.isTTY === true,
  };
}
