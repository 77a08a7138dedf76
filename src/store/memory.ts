import { withProcessMutex } from '../util/file-lock.js';
import { assertValidKey, type CredentialStore, type StoreLockOptions } from './types.js';

let instances = 0;

/**
 * A store that lives and dies with the process (`MCP_AUTH_STORE=memory`, tests). Its lock is
 * in-process only, which is all it needs: no other process can see its records.
 */
export class MemoryStore implements CredentialStore {
  readonly backend = 'memory' as const;
  readonly #records = new Map<string, string>();
  // Two MemoryStores are separate worlds; their locks must not contend with each other.
  readonly #lockNamespace = `memory-store:${++instances}:`;

  async get(key: string): Promise<string | undefined> {
    assertValidKey(key);
    return this.#records.get(key);
  }

  async set(key: string, value: string): Promise<void> {
    assertValidKey(key);
    this.#records.set(key, value);
  }

  async delete(key: string): Promise<boolean> {
    assertValidKey(key);
    return this.#records.delete(key);
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...this.#records.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async withLock<T>(key: string, fn: () => Promise<T>, opts: StoreLockOptions = {}): Promise<T> {
    assertValidKey(key);
    return withProcessMutex(this.#lockNamespace + key, fn, opts);
  }
}
