import { expect } from 'vitest';
import { McpAuthError } from '../../src/errors.js';

/**
 * Awaits a promise that must reject with an McpAuthError carrying a hint,
 * and returns that error so the caller can check its code and message.
 */
export async function failure(p: Promise<unknown>, message?: string): Promise<McpAuthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, message).toBeInstanceOf(McpAuthError);
  expect((e as McpAuthError).hint).toBeTruthy();
  return e as McpAuthError;
}
