import { FileNetmapSource, type NetmapFetch, type NetmapSource } from './source.js';

/**
 * The file flow with deltas (`netmap.file` + `netmap.deltaFile`): a signed delta written to the
 * delta file is returned when that file changed since it was last read; otherwise the full
 * netmap file is read as by {@link FileNetmapSource}. `fetchFull` reads the full file (the
 * daemon's fallback after a delta it could not apply). The writer updates the full file too, so
 * the fallback finds the same version. Limits as {@link FileNetmapSource}, per file.
 */
export class FileDeltaNetmapSource implements NetmapSource {
  private readonly full: FileNetmapSource;
  private readonly delta: FileNetmapSource;

  /**
   * @param onDeltaError called when the delta file cannot be read as JSON (too large, not JSON,
   *   a duplicate member): the full file is read instead.
   */
  constructor(
    path: string,
    deltaPath: string,
    maxBytes?: number,
    private readonly onDeltaError?: (err: unknown) => void,
  ) {
    this.full = new FileNetmapSource(path, maxBytes);
    this.delta = new FileNetmapSource(deltaPath, maxBytes);
  }

  get description(): string {
    return `${this.full.description} (deltas: ${this.delta.path})`;
  }

  /** A new delta when the delta file changed, else the full file (`force`: even if unchanged). */
  async fetch(force = false): Promise<NetmapFetch> {
    try {
      const d = await this.delta.fetch(false);
      if (d.changed) return d;
    } catch (err) {
      this.onDeltaError?.(err);
      return this.full.fetch(true);
    }
    return this.full.fetch(force);
  }

  fetchFull(): Promise<NetmapFetch> {
    return this.full.fetch(true);
  }

  invalidate(): void {
    this.full.invalidate();
    this.delta.invalidate();
  }
}
