/**
 * Flag parsing for the verbs: node's parseArgs, with its errors turned into usage errors.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError(e instanceof Error ? e.message.split('\n')[0]! : 'bad arguments', `Usage: ${usage}`);
  }
}

export function positional(positionals: string[], index: number, what: string, usage: string): string {
  const v = positionals[index];
  if (v === undefined || v === '') throw usageError(`missing ${what}`, `Usage: ${usage}`);
  return v;
}

export function noExtra(positionals: string[], count: number, usage: string): void {
  if (positionals.length > count) throw usageError(`unexpected argument "${positionals[count]}"`, `Usage: ${usage}`);
}

export function portFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw usageError(`--callback-port must be a port number (1-65535), got "${value}"`);
  return n;
}
