import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
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
}
