/**
 * Signed netmaps, one per ACL variant per version, built and signed on first demand and shared
 * by every node of the variant (a wake-up of 200 polls signs at most twice). Signing reuses the
 * daemon's `signNetmap` (Ed25519 over RFC 8785 JSON), and every map is checked against the
 * plugin-api netmap schema before it is served.
 */
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { RustynetError, netmapSchema, type SignedNetmap } from '@rustynet/plugin-api';
import { signNetmap } from '@rustynet/daemon';
import type { Snapshot } from '../store/types.js';
import { buildNetmap, type AclVariant, type NetmapSettings } from './build.js';

// ajv-formats is CommonJS with `exports.default`: under NodeNext the default import is the module.
const addFormats = addFormatsModule.default;
const ajv = new Ajv({ allErrors: false, strict: false });
addFormats(ajv);
const validateNetmap = ajv.compile(netmapSchema);

/** A signed netmap and its JSON bytes, ready to send. */
export interface SignedEntry {
  signed: SignedNetmap;
  body: Buffer;
}

/** Caches signed netmaps of the current version. */
export class NetmapCache {
  private version = -1;
  private readonly entries = new Map<AclVariant, SignedEntry>();

  constructor(private readonly privateKeyPem: string, private readonly settings: NetmapSettings) {}

  /**
   * The signed netmap of `variant` at `s.version`.
   * @throws RustynetError `INTERNAL` when the built map fails the netmap schema (a bug).
   */
  get(s: Snapshot, variant: AclVariant): SignedEntry {
    if (s.version !== this.version) {
      this.entries.clear();
      this.version = s.version;
    }
    const hit = this.entries.get(variant);
    if (hit) return hit;
    const netmap = buildNetmap(s, this.settings, variant);
    if (!validateNetmap(netmap)) {
      const e = validateNetmap.errors?.[0];
      throw new RustynetError('INTERNAL', `built netmap fails its schema at ${e?.instancePath ?? ''}: ${e?.message ?? ''}`);
    }
    const signed = signNetmap(netmap, this.privateKeyPem);
    const entry = { signed, body: Buffer.from(JSON.stringify(signed)) };
    this.entries.set(variant, entry);
    return entry;
  }
}
