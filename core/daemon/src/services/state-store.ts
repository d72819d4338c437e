import { chmod, mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidInput, RustynetError, type StateStore } from '@rustynet/plugin-api';
import { writeFileAtomic } from '@rustynet/plugin-kit';

const KEY = /^[A-Za-z0-9._-]+$/;

/** Creates `dir` (and parents) and sets it to mode 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * Writes `data` to `path` atomically with plugin-kit's {@link writeFileAtomic} (a temporary file
 * in the same directory, mode 0600, fsync, rename over the target), then fsyncs the directory so
 * the rename itself survives a power loss.
 * @throws RustynetError `STATE_WRITE_FAILED` (`details.errno`, e.g. `ENOSPC`, `EROFS`, `EIO`);
 *   `path` then still holds its previous content (or does not exist).
 */
export async function atomicWriteFile(path: string, data: string | Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(path, data, { mode: 0o600, fsync: true });
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? 'unknown';
    throw new RustynetError('STATE_WRITE_FAILED', `cannot write state ${path}: ${errno}: ${String(err)}`, {
      details: { path, errno },
      cause: err,
    });
  }
  await syncDir(dirname(path));
}

/** fsyncs directory `dir` (some filesystems refuse fsync on directories: ignored). */
async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    /* some filesystems refuse fsync on directories */
  } finally {
    await dh.close();
  }
}

/**
 * {@link StateStore} of JSON files `<dir>/<key>.json`: atomic writes (tmp + fsync + rename),
 * files 0600, directory 0700 (created on first use).
 */
export class FileStateStore implements StateStore {
  private ready: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  private ensure(): Promise<void> {
    this.ready ??= ensurePrivateDir(this.dir).catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private path(key: string): string {
    if (!KEY.test(key) || key === '.' || key === '..')
      throw invalidInput('key', `state key ${JSON.stringify(key)} must match [A-Za-z0-9._-]+`);
    return join(this.dir, `${key}.json`);
  }

  /** @throws RustynetError `INVALID_INPUT` (bad key), `INTERNAL` (unreadable or corrupt file). */
  async read<T = unknown>(key: string): Promise<T | undefined> {
    const path = this.path(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RustynetError('INTERNAL', `cannot read state ${path}: ${String(err)}`, { cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new RustynetError('INTERNAL', `state file ${path} is not valid JSON`, { cause: err });
    }
  }

  /**
   * @throws RustynetError `INVALID_INPUT` for a bad key or a value with no JSON form,
   *   `STATE_WRITE_FAILED` when the write fails (the old value stays).
   */
  async write(key: string, value: unknown): Promise<void> {
    const path = this.path(key);
    const text = JSON.stringify(value);
    if (text === undefined) throw invalidInput('value', 'value has no JSON representation');
    await this.ensure();
    await atomicWriteFile(path, text);
  }

  /**
   * Writes a JSON document given as text (e.g. exactly as received), without parsing and
   * re-serialising it; atomic like {@link write}. The caller vouches that `json` is JSON.
   * @throws RustynetError `INVALID_INPUT` for a bad key, `STATE_WRITE_FAILED` when the write fails.
   */
  async writeText(key: string, json: string): Promise<void> {
    const path = this.path(key);
    await this.ensure();
    await atomicWriteFile(path, json);
  }

  /**
   * Moves the document of key `from` to key `to` (replacing it) with one atomic rename, then
   * fsyncs the directory: afterwards `to` durably holds what `from` held (written durably before)
   * and `from` is gone. A crash leaves either the old `to` and `from`, or the moved document.
   * @throws RustynetError `INVALID_INPUT` for a bad key, `STATE_WRITE_FAILED` when the rename
   *   fails (`details.errno`; both keys keep their documents).
   */
  async rename(from: string, to: string): Promise<void> {
    const src = this.path(from);
    const dst = this.path(to);
    try {
      await rename(src, dst);
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code ?? 'unknown';
      throw new RustynetError('STATE_WRITE_FAILED', `cannot move state ${src} to ${dst}: ${errno}: ${String(err)}`, {
        details: { path: dst, errno },
        cause: err,
      });
    }
    await syncDir(this.dir);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  private journalPath(key: string): string {
    return this.path(key).replace(/\.json$/, '.jsonl');
  }

  /**
   * Appends `line` (one JSON document and its `\n`) to the journal `<dir>/<key>.jsonl` (created
   * 0600) and fsyncs it (and the directory when the file is new) before resolving.
   * @returns the journal's size in bytes afterwards.
   * @throws RustynetError `INVALID_INPUT` for a bad key, `STATE_WRITE_FAILED` (`details.errno`,
   *   e.g. `ENOSPC`): part of the line may then be in the file (see {@link truncateJournal}).
   */
  async appendJournal(key: string, line: string): Promise<number> {
    const path = this.journalPath(key);
    await this.ensure();
    let fh: FileHandle | undefined;
    let size: number;
    try {
      fh = await open(path, 'a', 0o600);
      const before = (await fh.stat()).size;
      const bytes = Buffer.from(line, 'utf8');
      await fh.write(bytes, 0, bytes.length);
      await fh.sync();
      size = before + bytes.length;
      if (before === 0) await syncDir(this.dir);
    } catch (err) {
      throw stateWriteFailed(path, 'append to', err);
    } finally {
      await fh?.close().catch(() => undefined);
    }
    return size;
  }

  /** The journal's text, or `undefined` when there is none. @throws RustynetError `INTERNAL` (unreadable). */
  async readJournal(key: string): Promise<string | undefined> {
    const path = this.journalPath(key);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RustynetError('INTERNAL', `cannot read state ${path}: ${String(err)}`, { cause: err });
    }
  }

  /**
   * Cuts the journal back to its first `size` bytes and fsyncs it (a no-op without a journal).
   * @throws RustynetError `STATE_WRITE_FAILED` (`details.errno`).
   */
  async truncateJournal(key: string, size: number): Promise<void> {
    const path = this.journalPath(key);
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r+');
      await fh.truncate(size);
      await fh.sync();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw stateWriteFailed(path, 'truncate', err);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  /** Deletes the journal (durably: directory fsync; none: no-op). @throws RustynetError `STATE_WRITE_FAILED`. */
  async deleteJournal(key: string): Promise<void> {
    const path = this.journalPath(key);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw stateWriteFailed(path, 'delete', err);
    }
    await syncDir(this.dir);
  }
}

function stateWriteFailed(path: string, what: string, err: unknown): RustynetError {
  const errno = (err as NodeJS.ErrnoException).code ?? 'unknown';
  return new RustynetError('STATE_WRITE_FAILED', `cannot ${what} state ${path}: ${errno}: ${String(err)}`, {
    details: { path, errno },
    cause: err,
  });
}
