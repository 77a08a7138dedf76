/**
 * Change detection for files that are read far more often than written (servers.json,
 * credentials.json on the daemon's headers path): a parsed copy is reused only while a `stat` of
 * the file still shows the same signature, so a write by any process is seen by the next read.
 *
 * The signature is device, inode, size, mode, and mtime and ctime (milliseconds with a fraction:
 * a double keeps them to a fraction of a microsecond, and the racy rule below makes anything finer
 * than whole seconds unnecessary anyway; plain numbers spare each check the fourteen BigInts of
 * a `bigint` stat). Every writer of
 * these files replaces them by rename (a new inode while the old one still exists), and an edit in
 * place changes mtime/ctime. What a signature cannot tell apart is two versions written within one
 * tick of the filesystem's clock (Linux timestamps are taken from a coarse clock; some filesystems
 * keep whole or even two seconds) that also share size and inode. So, as git does with its
 * "racily clean" index entries, a copy read while the file was still young is never trusted: it is
 * re-read until a read happens at least {@link RACY_MS} after the file's last change.
 */
import { statSync, type Stats } from 'node:fs';

/** A file changed less than this long before a read may change again unseen; wider than any filesystem's timestamp granularity (FAT: 2 s). */
export const RACY_MS = 2_500;

export interface FileSignature {
  dev: number;
  ino: number;
  size: number;
  mode: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function signatureOf(st: Stats): FileSignature {
  return { dev: st.dev, ino: st.ino, size: st.size, mode: st.mode, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

export function sameSignature(a: FileSignature, b: FileSignature): boolean {
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size && a.dev === b.dev && a.mode === b.mode;
}

/**
 * The file's signature now, or `undefined` when it does not exist. Synchronous on purpose: a stat
 * of a file whose inode is cached costs a microsecond or two, less than a trip through the thread
 * pool. Other errors (permissions, not a directory, …) are thrown for the caller's slow path to
 * report.
 */
export function currentSignature(path: string): FileSignature | undefined {
  // Only a missing file is `undefined`; ENOTDIR, EACCES and the rest throw.
  const st: Stats | undefined = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? undefined : signatureOf(st);
}

/**
 * Whether a copy read at `readStartedAt` (ms since the epoch, taken before the read) of a file with
 * signature `sig` may be reused while the signature stays the same: only when the file had not
 * changed for {@link RACY_MS} by then.
 */
export function trustworthy(sig: FileSignature, readStartedAt: number): boolean {
  return Math.max(sig.mtimeMs, sig.ctimeMs) < readStartedAt - RACY_MS;
}

/** A parsed copy of a file and the signature it was read under. */
export interface Cached<T> {
  sig: FileSignature;
  value: T;
}

/**
 * Returns the cached value when the file's current signature is the one it was read under;
 * otherwise `undefined` (the caller reads the file). `sig` is the current signature, from
 * {@link currentSignature}.
 */
export function reuse<T>(cached: Cached<T> | undefined, sig: FileSignature | undefined): T | undefined {
  return cached !== undefined && sig !== undefined && sameSignature(cached.sig, sig) ? cached.value : undefined;
}

/**
 * Shares reads of one file among concurrent callers without ever handing a caller a read that
 * started before it asked: while a read is in flight, newcomers share the next one, which starts
 * when the current one ends. A burst of N requests that all miss the cache (right after a write)
 * then costs two or three reads instead of N, and each still sees every write that completed
 * before it asked.
 */
export class SharedRead<T> {
  readonly #read: () => Promise<T>;
  #running: Promise<T> | undefined;
  #next: Promise<T> | undefined;

  constructor(read: () => Promise<T>) {
    this.#read = read;
  }

  get(): Promise<T> {
    const running = this.#running;
    if (running === undefined) return this.#start();
    const after = (): Promise<T> => {
      this.#next = undefined;
      return this.#start();
    };
    return (this.#next ??= running.then(after, after));
  }

  #start(): Promise<T> {
    const p = this.#read();
    this.#running = p;
    const clear = (): void => {
      if (this.#running === p) this.#running = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}
