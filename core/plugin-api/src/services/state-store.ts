/**
 * A small persistent key-value store of JSON documents, private to one plugin (or the core).
 * Writes are atomic (write to a temporary file, fsync, rename); files are mode 0600 inside a
 * 0700 directory.
 */
export interface StateStore {
  /** The directory backing this store; a plugin may keep its own files (keys, configs) here. */
  readonly dir: string;
  /** @returns the stored value, or `undefined` if the key was never written. */
  read<T = unknown>(key: string): Promise<T | undefined>;
  /** Replaces the value of `key` atomically. `key` matches `[A-Za-z0-9._-]+`. */
  write(key: string, value: unknown): Promise<void>;
  /** Removes the file `name` from the plugin's state directory; no error when it is absent. */
  delete(key: string): Promise<void>;
}
