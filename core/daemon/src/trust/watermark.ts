import { RustynetError, type StateStore } from '@rustynet/plugin-api';

/** The persisted watermark: the highest applied netmap version and its digest. */
export interface Watermark {
  version: number;
  /** SHA-256 hex of the RFC 8785 canonical JSON of the netmap. */
  digest: string;
}

/** State key of the watermark in the core state store. */
export const WATERMARK_KEY = 'netmap-watermark';

/**
 * Replay protection: the highest netmap version applied, persisted in a {@link StateStore} so it
 * survives restarts.
 * - `version < watermark` -> `NETMAP_REPLAYED` (rollback);
 * - `version == watermark`, same digest -> `'unchanged'` (a no-op, not an error);
 * - `version == watermark`, other digest -> `NETMAP_REPLAYED` (equivocation);
 * - `version > watermark` -> `'new'`.
 */
export class NetmapWatermark {
  private cached: Watermark | null | undefined;

  constructor(private readonly store: StateStore) {}

  /** The current watermark, or `null` before the first commit. */
  async current(): Promise<Watermark | null> {
    if (this.cached === undefined) this.cached = (await this.store.read<Watermark>(WATERMARK_KEY)) ?? null;
    return this.cached;
  }

  /**
   * Classifies a verified netmap against the watermark.
   * @throws RustynetError `NETMAP_REPLAYED` (details `{version, watermark}`).
   */
  async check(version: number, digest: string): Promise<'new' | 'unchanged'> {
    const wm = await this.current();
    if (!wm || version > wm.version) return 'new';
    if (version < wm.version) {
      throw new RustynetError('NETMAP_REPLAYED', `netmap version ${version} is older than the applied version ${wm.version}`, {
        field: 'version',
        details: { version, watermark: wm.version },
      });
    }
    if (digest === wm.digest) return 'unchanged';
    throw new RustynetError('NETMAP_REPLAYED', `netmap version ${version} was already applied with different content (equivocation)`, {
      field: 'version',
      details: { version, watermark: wm.version, digest, appliedDigest: wm.digest },
    });
  }

  /** Raises the watermark (never lowers it). @throws RustynetError `NETMAP_REPLAYED` if it would. */
  async commit(version: number, digest: string): Promise<void> {
    const wm = await this.current();
    if (wm && (version < wm.version || (version === wm.version && digest !== wm.digest))) {
      throw new RustynetError('NETMAP_REPLAYED', `refusing to move the watermark from ${wm.version} to ${version}`, { field: 'version' });
    }
    if (wm && wm.version === version && wm.digest === digest) return;
    const next = { version, digest };
    await this.store.write(WATERMARK_KEY, next);
    this.cached = next;
  }
}
