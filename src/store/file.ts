import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, McpAuthError } from '../errors.js';
import { errnoCode, writeFileAtomic } from '../util/atomic-file.js';
import { currentSignature, reuse, SharedRead, signatureOf, trustworthy, type Cached, type FileSignature } from '../util/file-signature.js';
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
const NO_ENTRIES: ReadonlyMap<string, string> = new Map();

/**
 * Records in one JSON file `{"version":1,"entries":{…}}` of mode 0600, for machines without a
 * usable keychain. Every mutation holds a file-wide lock around read → modify → atomic replace, so
 * concurrent processes never lose each other's writes; reads take no lock because the replace is
 * an atomic rename.
 *
 * Reads reuse the last parsed copy while a `stat` shows the file unchanged (see
 * util/file-signature.ts), so the daemon's headers path does not re-read and re-parse the whole
 * file per request; a write by any process or instance is seen by the next read. Mutations always
 * re-read the file from disk under the lock.
 */
export class FileStore implements CredentialStore {
  readonly backend = 'file' as const;
  readonly file: string;
  readonly locksDir: string;
  /** The parsed file as last read, while it can be trusted (never handed out for modification). */
  #cache: Cached<ReadonlyMap<string, string>> | undefined;
  /** Cache misses at the same time share reads (never one that started before they asked). */
  readonly #reads = new SharedRead(async (): Promise<ReadonlyMap<string, string>> => {
    const startedAt = Date.now();
    const { entries, sig } = await this.#load();
    this.#cache = sig !== undefined && trustworthy(sig, startedAt) ? { sig, value: entries } : undefined;
    return entries;
  });

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

  /**
   * The records as of now, for a caller that reads several (the daemon's headers path reads a
   * server's state and then its credential): one check of the file instead of one per `get`, and
   * a consistent pair even if a write lands in between.
   */
  async snapshot(): Promise<Pick<CredentialStore, 'get'>> {
    const entries = await this.#read();
    return {
      get: async (key: string) => {
        assertValidKey(key);
        return entries.get(key);
      },
    };
  }

  /**
   * {@link snapshot} without waiting, for a caller with a slower path to fall back on: the records
   * when a `stat` made now shows the file unchanged since it was last read (no records when there
   * is no file), else `undefined` (changed, never read, or cannot be checked: use `snapshot`).
   * Never reads the file. Keys are not validated here: look up only keys built by store/key.ts.
   */
  peekSnapshot(): ReadonlyMap<string, string> | undefined {
    let sig: FileSignature | undefined;
    try {
      sig = currentSignature(this.file);
    } catch {
      return undefined;
    }
    if (sig === undefined) return NO_ENTRIES;
    return reuse(this.#cache, sig);
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
      const { entries } = await this.#load();
      if (!change(entries)) return;
      const body = JSON.stringify({ version: FORMAT_VERSION, entries: Object.fromEntries(entries) }, null, 2) + '\n';
      try {
        await writeFileAtomic(this.file, body, 0o600);
        this.#cache = undefined;
      } catch (err) {
        throw new McpAuthError(
          ErrorCode.StoreWriteFailed,
          `Cannot write credential store ${this.file} (${errnoCode(err) ?? 'unknown error'})`,
          { hint: `Check free space and permissions of ${dirname(this.file)}`, cause: err },
        );
      }
    });
  }

  /** The current records: the cached copy while the file's signature is unchanged, else read from disk. */
  async #read(): Promise<ReadonlyMap<string, string>> {
    let sig: FileSignature | undefined;
    try {
      sig = currentSignature(this.file);
      if (sig === undefined) return NO_ENTRIES; // no file: no records (and nothing is created)
    } catch {
      sig = undefined; // the read below reports it
    }
    return reuse(this.#cache, sig) ?? this.#reads.get();
  }

  /** Reads and parses the file from disk, with the signature of exactly what was read. */
  async #load(): Promise<{ entries: Map<string, string>; sig?: FileSignature }> {
    let text: string;
    let sig: FileSignature | undefined;
    try {
      const fh = await open(this.file, 'r');
      try {
        const st = await fh.stat();
        // Readable by group or others: someone (a backup restore, a manual copy) loosened it.
        // Tighten it now rather than refuse to work; the data is ours either way. (The chmod changes
        // the signature, so what is read now is not cached: the next read takes the new one.)
        if ((Number(st.mode) & 0o077) !== 0) await fh.chmod(0o600).catch(() => undefined);
        else sig = signatureOf(st);
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { entries: new Map() };
      throw this.#unreadable(`cannot be read (${errnoCode(err) ?? 'unknown error'})`, err);
    }
    return { entries: this.#parse(text), ...(sig ? { sig } : {}) };
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
