/**
 * The credential store contract shared by the keychain, file and memory backends.
 */
import { ErrorCode, McpAuthError } from '../errors.js';

export type StoreBackend = 'keychain' | 'file' | 'memory';

/** Options of {@link CredentialStore.withLock}. */
export interface StoreLockOptions {
  /** How long to wait for the lock before failing with `LOCK_TIMEOUT`, in ms (default 5000). */
  timeoutMs?: number;
}

/** Opaque string records by key. A keychain backend may split large values; callers never see that. */
export interface CredentialStore {
  readonly backend: StoreBackend;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /** Returns whether a record existed. */
  delete(key: string): Promise<boolean>;
  /** Keys starting with `prefix` (all keys when omitted), sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** Exclusive across processes for this key: covers read → refresh → save. */
  withLock<T>(key: string, fn: () => Promise<T>, opts?: StoreLockOptions): Promise<T>;
  /**
   * Optional: the records as of now, for a caller that reads several — one consistency check
   * instead of one per `get`, and a consistent pair even if a write lands in between.
   */
  snapshot?(): Promise<Pick<CredentialStore, 'get'>>;
  /**
   * Optional: the records without waiting when the store can tell at once that its last read is
   * still current, else `undefined` (the caller then takes the slower path).
   */
  peekSnapshot?(): ReadonlyMap<string, string> | undefined;
}

const KEY_PATTERN = /^[A-Za-z0-9:._-]{1,200}$/;

/**
 * Throws `INTERNAL` unless `key` matches `[A-Za-z0-9:._-]{1,200}`. Keys come from
 * `store/key.ts`, never from users, so a bad one is a bug; the restricted alphabet keeps keys safe
 * as file names and keychain account names.
 */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new McpAuthError(ErrorCode.Internal, 'Invalid credential store key', {
      hint: 'This is a bug in mcp-auth; please report it',
    });
  }
}
