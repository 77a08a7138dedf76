import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, McpAuthError } from '../errors.js';
import { errnoCode, writeFileAtomic } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';
import { assertValidKey, type CredentialStore, type StoreLockOptions } from './types.js';

/** Where a {@link FileStore} keeps its data. */
export interface FileStoreOptions {
  /** The JSON file holding every record (`credentials.json`). */
  file: string;
  /** Directory of the per-key lock files. */
  locksDir: string;
}

const FORMAT_VERSION = 1;

/**
 * Records in one JSON file `{"version":1,"entries":{…}}` of mode 0600, for machines without a
 * usable keychain. Every mutation holds a file-wide lock around read → modify → atomic replace, so
 * concurrent processes never lose each other's writes; reads take no lock because the replace is
 * an atomic rename.
 */
export class FileStore implements CredentialStore {
  readonly backend = 'file' as const;
  readonly file: string;
  readonly locksDir: string;

  constructor(opts: FileStoreOptions) {
    this.file = opts.file;
    this.locksDir = opts.locksDir;
  }

  async get(key: string): Promise<string | undefined> {
    assertValidKey(key);
    return (await this.#read()).get(key);
  }

  async set(key: string, value: string): Promise<void> {
    assertValidKey(key);
    await this.#mutate((entries) => {
      entries.set(key, value);
      return true;
    });
  }

  async delete(key: string): Promise<boolean> {
    assertValidKey(key);
    let existed = false;
    await this.#mutate((entries) => {
      existed = entries.delete(key);
      return existed;
    });
    return existed;
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...(await this.#read()).keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async withLock<T>(key: string, fn: () => Promise<T>, opts: StoreLockOptions = {}): Promise<T> {
    assertValidKey(key);
    return withFileLock(join(this.locksDir, `${key}.lock`), fn, opts);
  }

  /** `change` returns whether it changed anything, so no-op deletes do not rewrite the file. */
  async #mutate(change: (entries: Map<string, string>) => boolean): Promise<void> {
    await withFileLock(`${this.file}.lock`, async () => {
      const entries = await this.#read();
      if (!change(entries)) return;
      const body = JSON.stringify({ version: FORMAT_VERSION, entries: Object.fromEntries(entries) }, null, 2) + '\n';
      try {
        await writeFileAtomic(this.file, body, 0o600);
      } catch (err) {
        throw new McpAuthError(
          ErrorCode.StoreWriteFailed,
          `Cannot write credential store ${this.file} (${errnoCode(err) ?? 'unknown error'})`,
          { hint: `Check free space and permissions of ${dirname(this.file)}`, cause: err },
        );
      }
    });
  }

  async #read(): Promise<Map<string, string>> {
    let text: string;
    try {
      const fh = await open(this.file, 'r');
      try {
        const { mode } = await fh.stat();
        // Readable by group or others: someone (a backup restore, a manual copy) loosened it.
        // Tighten it now rather than refuse to work; the data is ours either way.
        if ((mode & 0o077) !== 0) await fh.chmod(0o600).catch(() => undefined);
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return new Map();
      throw this.#unreadable(`cannot be read (${errnoCode(err) ?? 'unknown error'})`, err);
    }
    return this.#parse(text);
  }

  #parse(text: string): Map<string, string> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      // The SyntaxError is not kept as cause: V8 quotes a slice of the input, i.e. of the secrets.
      throw this.#unreadable('is not valid JSON');
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw this.#unreadable('is not a JSON object');
    const { version, entries } = raw as Record<string, unknown>;
    if (typeof version === 'number' && version > FORMAT_VERSION) {
      throw new McpAuthError(
        ErrorCode.StoreUnreadable,
        `Credential store ${this.file} has format version ${version}, newer than this mcp-auth supports`,
        { hint: 'Upgrade mcp-auth' },
      );
    }
    if (version !== FORMAT_VERSION) throw this.#unreadable('has no supported "version"');
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
      throw this.#unreadable('has no "entries" object');
    }
    const out = new Map<string, string>();
    for (const [k, v] of Object.entries(entries)) {
      if (typeof v !== 'string') throw this.#unreadable('has a non-string entry');
      out.set(k, v);
    }
    return out;
  }

  #unreadable(what: string, cause?: unknown): McpAuthError {
    // Never "treat as empty": that would look like a logged-out state and the next write would
    // destroy whatever the file still holds.
    return new McpAuthError(ErrorCode.StoreUnreadable, `Credential store ${this.file} ${what}`, {
      hint: `Check or restore ${this.file} from a backup; mcp-auth will not overwrite it`,
      cause,
    });
  }
}
