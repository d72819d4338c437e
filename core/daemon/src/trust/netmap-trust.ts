import type { KeyObject } from 'node:crypto';
import type { Clock, Netmap, SignedNetmap, StateStore } from '@rustynet/plugin-api';
import { publicKeyFromRawB64 } from '../services/key-store.js';
import { jsonDigest } from '../util/json.js';
import { verifySignedNetmap } from './verify.js';
import { NetmapWatermark } from './watermark.js';

/** State key of the last successfully applied signed netmap. */
export const LAST_GOOD_KEY = 'last-good-netmap';

/** A netmap that passed every trust check. */
export interface TrustedNetmap {
  netmap: Netmap;
  /** The envelope as received (persisted as the last good map once applied). */
  signed: SignedNetmap;
  /** SHA-256 hex of the canonical netmap JSON. */
  digest: string;
  /** `unchanged`: same version and digest as the watermark (nothing to do). */
  status: 'new' | 'unchanged';
}

/**
 * The trust pipeline: signature, schemas, semantics and expiry ({@link verifySignedNetmap}), then
 * the persisted replay watermark. Also keeps the last good signed netmap so a restarted daemon
 * can re-apply it (after re-verifying signature and expiry).
 */
export class NetmapTrust {
  readonly watermark: NetmapWatermark;
  private readonly key: KeyObject;

  /** @throws RustynetError `KEY_INVALID` when the control-plane key is malformed. */
  constructor(
    controlPlaneKeyB64: string,
    private readonly store: StateStore,
    private readonly clock: Pick<Clock, 'now'> = { now: () => Date.now() },
  ) {
    this.key = publicKeyFromRawB64(controlPlaneKeyB64);
    this.watermark = new NetmapWatermark(store);
  }

  /**
   * Verifies `input` and checks it against the watermark (does not move the watermark).
   * @throws RustynetError `NETMAP_INVALID`, `NETMAP_SIGNATURE_INVALID`, `NETMAP_EXPIRED`, `NETMAP_REPLAYED`.
   */
  async check(input: unknown): Promise<TrustedNetmap> {
    const netmap = verifySignedNetmap(input, this.key, { now: this.clock.now() });
    const digest = jsonDigest(netmap);
    const status = await this.watermark.check(netmap.version, digest);
    return { netmap, signed: input as SignedNetmap, digest, status };
  }

  /** Records a successfully applied netmap: raises the watermark and persists the envelope. */
  async commit(trusted: TrustedNetmap): Promise<void> {
    await this.watermark.commit(trusted.netmap.version, trusted.digest);
    await this.store.write(LAST_GOOD_KEY, trusted.signed);
  }

  /**
   * The last good netmap, re-verified (signature, schema, expiry) and matching the watermark;
   * `undefined` when there is none or it no longer verifies (e.g. expired: fail closed).
   */
  async lastGood(): Promise<TrustedNetmap | undefined> {
    const signed = await this.store.read<SignedNetmap>(LAST_GOOD_KEY);
    if (!signed) return undefined;
    const netmap = verifySignedNetmap(signed, this.key, { now: this.clock.now() });
    const digest = jsonDigest(netmap);
    const wm = await this.watermark.current();
    if (!wm || wm.version !== netmap.version || wm.digest !== digest) return undefined;
    return { netmap, signed, digest, status: 'unchanged' };
  }
}
