/**
 * Signed netmap deltas for polls: the control plane keeps the last few netmaps it served per ACL
 * variant and, when a poller that asks for deltas (`delta=1`) holds one of them (`after`), sends
 * the signed delta from that map to the current one instead of the whole map. Anything else (a
 * version it no longer holds, a change no delta expresses, a delta larger than the map) gets
 * the full map. Deltas are computed and signed once per (variant, base, version) and shared.
 */
import type { Netmap, SignedNetmapDelta } from '@rustynet/plugin-api';
import { computeNetmapDelta, netmapDigest, signNetmapDelta } from '@rustynet/daemon';
import type { AclVariant } from './build.js';
import type { SignedEntry } from './netmap-cache.js';

/** A signed delta and its JSON bytes, ready to send. */
export interface DeltaEntry {
  delta: SignedNetmapDelta;
  body: Buffer;
}

/**
 * A delta is sent unless it is larger than the full map by more than this (its digests and
 * signature): a change of most of the map is sent whole.
 */
export const DELTA_OVERHEAD_BYTES = 512;

/** Netmaps served per variant that deltas may start from; default 16 versions. */
export const DEFAULT_DELTA_HISTORY = 16;

interface Served {
  netmap: Netmap;
  digest: string;
}

/** Recent netmaps and the deltas between them. */
export class NetmapDeltas {
  private readonly history = new Map<AclVariant, Served[]>();
  private readonly deltas = new Map<string, DeltaEntry | null>();
  private deltaVersion = -1;

  /**
   * @param signingKeyPem the PKCS#8 PEM of the key that signs full maps now, read at each new
   *   delta, so deltas follow a signing-key rotation.
   */
  constructor(
    private readonly signingKeyPem: () => string,
    private readonly depth = DEFAULT_DELTA_HISTORY,
  ) {}

  /** Records `full` as served, then the delta from version `after` to it, if one is worth sending. */
  forPoll(variant: AclVariant, after: number, full: SignedEntry): DeltaEntry | undefined {
    const current = this.record(variant, full);
    if (after <= 0 || after >= current.netmap.version) return undefined;
    const base = this.history.get(variant)?.find((s) => s.netmap.version === after);
    if (!base) return undefined;
    if (this.deltaVersion !== current.netmap.version) {
      this.deltas.clear();
      this.deltaVersion = current.netmap.version;
    }
    const key = `${variant}:${after}`;
    let entry = this.deltas.get(key);
    if (entry === undefined) {
      const delta = computeNetmapDelta(base.netmap, current.netmap, { base: base.digest, next: current.digest });
      const signed = delta && signNetmapDelta(delta, this.signingKeyPem());
      const body = signed && Buffer.from(JSON.stringify(signed));
      entry = signed && body && body.length <= full.body.length + DELTA_OVERHEAD_BYTES ? { delta: signed, body } : null;
      this.deltas.set(key, entry);
    }
    return entry ?? undefined;
  }

  private record(variant: AclVariant, full: SignedEntry): Served {
    let list = this.history.get(variant);
    if (!list) this.history.set(variant, (list = []));
    const last = list[list.length - 1];
    if (last && last.netmap === full.signed.netmap) return last;
    const served = { netmap: full.signed.netmap, digest: netmapDigest(full.signed.netmap) };
    // A rebuilt map of the same version (e.g. a restart of the cache) replaces the old one.
    const i = list.findIndex((s) => s.netmap.version === served.netmap.version);
    if (i >= 0) list.splice(i, 1);
    list.push(served);
    if (list.length > this.depth) list.splice(0, list.length - this.depth);
    return served;
  }
}
