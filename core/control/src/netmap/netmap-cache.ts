/**
 * Signed netmaps, one per ACL variant per version, built and signed on first demand and shared
 * by every node of the variant (a wake-up of 200 polls signs at most twice). Signing reuses the
 * daemon's `signNetmap` (Ed25519 over RFC 8785 JSON), and every map passes the daemon's own
 * content checks (schema and semantics, see validate.ts) before it is signed.
 */
import { RustynetError, type SignedNetmap } from '@rustynet/plugin-api';
import { signNetmap } from '@rustynet/daemon';
import type { Snapshot } from '../store/types.js';
import { buildNetmap, type AclVariant, type NetmapSettings } from './build.js';
import { validateBuiltNetmap } from './validate.js';

/** A signed netmap and its JSON bytes, ready to send. */
export interface SignedEntry {
  signed: SignedNetmap;
  body: Buffer;
}

/** Caches signed netmaps of the current version. */
export class NetmapCache {
  private version = -1;
  private readonly entries = new Map<AclVariant, SignedEntry>();

  constructor(
    /** The signing key (PKCS#8 PEM), or a function picking it for a snapshot (key rotation). */
    private readonly privateKeyPem: string | ((s: Snapshot) => string),
    readonly settings: NetmapSettings,
  ) {}

  /**
   * The signed netmap of `variant` at `s.version`.
   * @throws RustynetError `INTERNAL` when the built map fails the daemon's checks (a bug: what
   *   goes in is validated when it is stored).
   */
  get(s: Snapshot, variant: AclVariant): SignedEntry {
    if (s.version !== this.version) {
      this.entries.clear();
      this.version = s.version;
    }
    const hit = this.entries.get(variant);
    if (hit) return hit;
    const netmap = buildNetmap(s, this.settings, variant);
    try {
      validateBuiltNetmap(netmap);
    } catch (err) {
      throw new RustynetError(
        'INTERNAL',
        `built netmap v${netmap.version} fails the daemon's checks: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const signed = signNetmap(netmap, typeof this.privateKeyPem === 'string' ? this.privateKeyPem : this.privateKeyPem(s));
    const entry = { signed, body: Buffer.from(JSON.stringify(signed)) };
    this.entries.set(variant, entry);
    return entry;
  }
}
