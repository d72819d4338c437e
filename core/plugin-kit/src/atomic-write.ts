/**
 * Atomic file writes (on write-file-atomic): the file holds either its old content or the whole
 * new content, never a part, even if the process dies or the disk fills mid-write.
 */
import writeFileAtomicLib from 'write-file-atomic';

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * File mode of the new file, e.g. `0o600` for secrets (the default) or `0o644` for files
   * other processes read. Applied before the content is visible under `path`.
   */
  mode?: number;
  /** Flush the data to disk before the rename (`fsync`). Default true. */
  fsync?: boolean;
  /** Text encoding when `data` is a string. Default `utf8`. */
  encoding?: BufferEncoding;
}

/**
 * Writes `data` to a temporary file next to `path`, sets its mode, fsyncs it, and renames it over
 * `path`. The directory must exist. The temporary file is removed on failure.
 * @throws the file system's error (`ENOENT` for a missing directory, `ENOSPC`, `EACCES`, ...);
 *   `path` then still holds its previous content (or does not exist).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomicLib(path, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    mode: options.mode ?? 0o600,
    fsync: options.fsync ?? true,
    encoding: options.encoding ?? 'utf8',
  });
}
