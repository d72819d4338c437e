import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalidInput, RustynetError, type StateStore } from '@rustynet/plugin-api';

const KEY = /^[A-Za-z0-9._-]+$/;

/** Creates `dir` (and parents) and sets it to mode 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory (mode 0600), fsync,
 * rename over the target, fsync of the directory.
 */
export async function atomicWriteFile(path: string, data: string | Uint8Array): Promise<void> {
  const dir = join(path, '..');
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
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

  /** @throws RustynetError `INVALID_INPUT` for a bad key or a value with no JSON form. */
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
   * @throws RustynetError `INVALID_INPUT` for a bad key.
   */
  async writeText(key: string, json: string): Promise<void> {
    const path = this.path(key);
    await this.ensure();
    await atomicWriteFile(path, json);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}
