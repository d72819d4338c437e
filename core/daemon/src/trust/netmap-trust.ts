import { isRustynetError, type Clock, type Netmap, type SignedNetmap, type StateStore } from '@rustynet/plugin-api';
import { sha256Hex } from '../util/json.js';
import { applySignedNetmapDelta, isDeltaDerived, verifyDeltaDerived, type DeltaDerivedNetmap } from './delta-trust.js';
import { DeltaJournal, isJournalStore, type ChainLink } from './delta-journal.js';
import { ControlKeySet } from './key-set.js';
import { checkNetmapTimes, verifySignedNetmapBytes, type KeyResolver } from './verify.js';
import { NetmapWatermark } from './watermark.js';

/** State key of the last successfully applied signed netmap. */
export const LAST_GOOD_KEY = 'last-good-netmap';

/**
 * State key of the apply intent: the signed netmap about to reach the data plane, written before
 * the data plane is touched and deleted once it is committed (or rolled back).
 */
export const INTENT_KEY = 'netmap-intent';

/** What a restart finds of an apply that was under way when the daemon died. */
export type RecordedIntent =
  /** A verified netmap newer than the watermark: the data plane may have had it. */
  | { kind: 'newer'; trusted: TrustedNetmap }
  /** An intent that no longer verifies (e.g. expired): re-applying the older last good map could undo it. */
  | { kind: 'unverifiable'; reason: string };

/** A netmap that passed every trust check. */
export interface TrustedNetmap {
  netmap: Netmap;
  /**
   * The envelope as received (persisted as the last good map once applied), or, for a netmap
   * obtained from a signed delta, the netmap with that delta (see `DeltaDerivedNetmap`).
   */
  signed: SignedNetmap | DeltaDerivedNetmap;
  /** SHA-256 hex of the canonical netmap JSON. */
  digest: string;
  /**
   * The envelope's JSON text exactly as received, when known: persisted as the last good netmap
   * as is (no second serialisation of a large document).
   */
  text?: string;
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
  /** The trusted control-plane keys (pinned and learned from signed rotations). */
  readonly keys: ControlKeySet;
  /** Digest of the last good netmap this instance persisted or read back. */
  private persistedDigest: string | undefined;
  /** Digest of the netmap this instance wrote as the apply intent (while the file holds it). */
  private intentDigest: string | undefined;
  /** The delta journal (a store with journals only): deltas persisted as one appended line. */
  private readonly journal: DeltaJournal | undefined;
  /** Journal size before the unfinished apply's line that {@link recordedIntent} found. */
  private journalLineStart: number | undefined;

  /**
   * @param controlPlaneKeyB64 the pinned key, several pinned keys, or a key set.
   * @throws RustynetError `KEY_INVALID` when a control-plane key is malformed.
   */
  constructor(
    controlPlaneKeyB64: string | readonly string[] | ControlKeySet,
    private readonly store: StateStore,
    private readonly clock: Pick<Clock, 'now'> = { now: () => Date.now() },
  ) {
    this.keys =
      controlPlaneKeyB64 instanceof ControlKeySet
        ? controlPlaneKeyB64
        : new ControlKeySet(typeof controlPlaneKeyB64 === 'string' ? [controlPlaneKeyB64] : controlPlaneKeyB64, store);
    this.watermark = new NetmapWatermark(store);
    this.journal = isJournalStore(store) ? new DeltaJournal(store) : undefined;
  }

  /**
   * Verifies `input` and checks it against the watermark (does not move the watermark). The
   * digest is taken from the canonical bytes the signature was verified over (one RFC 8785
   * canonicalisation per netmap). A new netmap (above the watermark) that announces a signing-key
   * rotation (`signingKeys`) updates and persists the key set here, after every check passed.
   * @param text the JSON text `input` was parsed from, if any (see {@link TrustedNetmap.text}).
   * @throws RustynetError `NETMAP_INVALID`, `NETMAP_SIGNATURE_INVALID`, `NETMAP_EXPIRED`, `NETMAP_REPLAYED`,
   *   `KEY_INVALID` (a malformed persisted key set), `STATE_WRITE_FAILED` (persisting a learned key).
   */
  async check(input: unknown, text?: string): Promise<TrustedNetmap> {
    await this.keys.load();
    const { netmap, digest, signer } = this.verify(input);
    const status = await this.watermark.check(netmap.version, digest);
    if (status === 'new' && netmap.signingKeys !== undefined) await this.keys.learn(netmap, signer);
    return { netmap, signed: input as SignedNetmap | DeltaDerivedNetmap, digest, status, ...(text !== undefined && { text }) };
  }

  /**
   * Verifies a signed netmap delta and applies it to `base` (the applied netmap), then checks the
   * result against the watermark like {@link check} (see `applySignedNetmapDelta`), including a
   * signing-key rotation the resulting netmap announces.
   * @throws RustynetError as {@link check}, plus `NETMAP_DELTA_INAPPLICABLE`.
   */
  async checkDelta(input: unknown, base: TrustedNetmap | undefined): Promise<TrustedNetmap> {
    await this.keys.load();
    let signer = '';
    const r = applySignedNetmapDelta(
      input,
      this.resolver((k) => (signer = k)),
      base,
      this.clock.now(),
    );
    const status = await this.watermark.check(r.netmap.version, r.digest);
    if (status === 'new' && r.netmap.signingKeys !== undefined) await this.keys.learn(r.netmap, signer);
    // The text of the derived map (its canonical JSON from the digest), for the intent and the
    // last good map when they are written whole; built only then.
    const trusted = { netmap: r.netmap, signed: r.derived, digest: r.digest, status } as TrustedNetmap;
    Object.defineProperty(trusted, 'text', { enumerable: true, get: () => r.text });
    return trusted;
  }

  /** A key resolver over the trusted set (by the signature's `keyId`) that reports the signer. */
  private resolver(onSigner: (publicKey: string) => void): KeyResolver {
    return (keyId) => {
      const k = this.keys.keyFor(keyId);
      onSigner(k.publicKey);
      return k.key;
    };
  }

  /**
   * Signature (or signed delta digest) and content checks of a full or delta-derived envelope.
   * `'untimed'`: the expiry is checked only for consistency (the caller checks the clock).
   */
  private verify(input: unknown, now: number | 'untimed' = this.clock.now()): { netmap: Netmap; digest: string; signer: string } {
    let signer = '';
    const resolve = this.resolver((k) => (signer = k));
    if (isDeltaDerived(input)) return { ...verifyDeltaDerived(input, resolve, now), signer };
    const at = now === 'untimed' ? issuedAtOf(input) : now;
    const { netmap, canonical } = verifySignedNetmapBytes(input, resolve, { now: at });
    return { netmap, digest: sha256Hex(canonical), signer };
  }

  /**
   * Records a successfully applied netmap: raises the watermark (durably: written and fsynced
   * before this resolves; it is the replay protection) and persists the envelope as the last
   * good netmap. When the apply intent this instance wrote holds the same netmap, the intent file
   * becomes the last good one by a rename (and a directory fsync) instead of a second write of the
   * whole map; else the received text (when known) or the envelope is written. Skips the last-good
   * write when that version is already the one persisted (and the watermark write when it is
   * unchanged). A crash between the watermark and the rename is covered by {@link lastGood}.
   * @throws RustynetError `STATE_WRITE_FAILED` (e.g. a full disk), `NETMAP_REPLAYED`.
   */
  async commit(trusted: TrustedNetmap): Promise<void> {
    await this.watermark.commit(trusted.netmap.version, trusted.digest);
    // A delta's journal line (fsynced as the intent) is now part of the last good state.
    if (this.journal?.commit(trusted.digest)) {
      this.persistedDigest = trusted.digest;
      return;
    }
    if (this.persistedDigest === trusted.digest) return;
    if (this.intentDigest === trusted.digest && isRenamingStore(this.store)) {
      await this.store.rename(INTENT_KEY, LAST_GOOD_KEY);
      this.intentDigest = undefined;
    } else if (trusted.text !== undefined && isTextStore(this.store)) await this.store.writeText(LAST_GOOD_KEY, trusted.text);
    else await this.store.write(LAST_GOOD_KEY, trusted.signed);
    this.persistedDigest = trusted.digest;
    // The journal's lines are based on the old base: emptied (they would not verify on the new one).
    await this.journal?.reset(trusted.digest);
  }

  /**
   * Records the intent to apply `trusted` before the data plane is touched (crash consistency:
   * a restart then knows the data plane may hold a newer map than the last good one). Written
   * durably (fsync of file and directory). Nothing is written for a map equal to the watermark.
   * @throws RustynetError `STATE_WRITE_FAILED` (e.g. a full disk): the caller must not apply.
   */
  async recordIntent(trusted: TrustedNetmap): Promise<void> {
    if (trusted.status === 'unchanged') return;
    this.intentDigest = undefined;
    const signed = trusted.signed;
    if (this.journal && isDeltaDerived(signed)) {
      if (this.journal.holds(trusted.digest)) return this.journal.append(signed.delta, trusted.digest, this.journalLineStart);
      if (this.journal.canAppend(signed.delta)) return this.journal.append(signed.delta, trusted.digest);
    }
    if (trusted.text !== undefined && isTextStore(this.store)) await this.store.writeText(INTENT_KEY, trusted.text);
    else await this.store.write(INTENT_KEY, trusted.signed);
    this.intentDigest = trusted.digest;
  }

  /**
   * Deletes the apply intent (after a commit or a rollback; an uncommitted journal line is cut
   * off). Never throws: a failure is returned.
   */
  async clearIntent(): Promise<unknown> {
    this.intentDigest = undefined;
    const journalErr = await this.journal?.rollback();
    try {
      await this.store.delete(INTENT_KEY);
      return journalErr;
    } catch (err) {
      return err;
    }
  }

  /**
   * The apply intent a dead predecessor left, if it is newer than the watermark: either the
   * verified netmap, or `unverifiable` (then the last good map must not be re-applied: it may be
   * older than what the data plane had). `undefined` when there is none, or it is not newer.
   */
  async recordedIntent(): Promise<RecordedIntent | undefined> {
    let signed: SignedNetmap | DeltaDerivedNetmap | undefined;
    try {
      signed = await this.store.read<SignedNetmap | DeltaDerivedNetmap>(INTENT_KEY);
    } catch (err) {
      return { kind: 'unverifiable', reason: String(err) };
    }
    // An intent file that is not newer (left by a failed delete) does not hide a journal line.
    if (!signed) return this.journalIntent();
    try {
      const trusted = await this.check(signed);
      if (trusted.status !== 'new') return await this.journalIntent();
      return { kind: 'newer', trusted };
    } catch (err) {
      if (isRustynetError(err, 'NETMAP_REPLAYED')) return await this.journalIntent();
      return { kind: 'unverifiable', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * The last good netmap, re-verified (signature, schema, expiry) and matching the watermark;
   * `undefined` when there is none or it no longer verifies (e.g. expired: fail closed). When the
   * last good map does not match the watermark but the apply intent does (a crash between the
   * watermark write and the intent's rename in {@link commit}), the intent's netmap is the last
   * good one (the next commit writes it as such).
   */
  async lastGood(): Promise<TrustedNetmap | undefined> {
    await this.keys.load();
    const wm = await this.watermark.current();
    if (!wm) return undefined;
    const persisted = await this.persistedChain();
    const link = persisted?.chain.find((l) => l.netmap.version === wm.version && l.digest === wm.digest);
    if (link) {
      checkNetmapTimes(link.netmap, this.clock.now());
      this.persistedDigest = link.digest;
      return { netmap: link.netmap, signed: link.value, digest: link.digest, status: 'unchanged' };
    }
    try {
      const intent = await this.store.read<SignedNetmap | DeltaDerivedNetmap>(INTENT_KEY);
      if (!intent) return undefined;
      const { netmap, digest } = this.verify(intent);
      if (wm.version !== netmap.version || wm.digest !== digest) return undefined;
      return { netmap, signed: intent, digest, status: 'unchanged' };
    } catch {
      return undefined;
    }
  }

  /**
   * The persisted last good state as a verified chain: the last good map, then one link per
   * journal line that verifies on the link before it (see `DeltaJournal.replay`). Expiry is not
   * checked here: the caller checks the link it takes. `undefined` without a last good map.
   * @throws RustynetError when the last good map does not verify (signature, schema, semantics).
   */
  private async persistedChain(): Promise<{ chain: ChainLink<SignedNetmap | DeltaDerivedNetmap>[]; problem?: string } | undefined> {
    const signed = await this.store.read<SignedNetmap | DeltaDerivedNetmap>(LAST_GOOD_KEY);
    if (!signed) return undefined;
    const { netmap, digest } = this.verify(signed, 'untimed');
    const base: ChainLink<SignedNetmap | DeltaDerivedNetmap> = { netmap, digest, value: signed, end: 0 };
    if (!this.journal) return { chain: [base] };
    const resolve = this.resolver(() => undefined);
    return this.journal.replay(base, (line, prev) => {
      const r = applySignedNetmapDelta(line, resolve, prev, 'untimed');
      return { netmap: r.netmap, digest: r.digest, value: r.derived };
    });
  }

  /**
   * An unfinished apply in the delta journal: its last verified line when that is above the
   * watermark (`newer`; `unverifiable` when it has expired since), or `unverifiable` when a line
   * after the watermark's does not verify (the data plane may have had it).
   */
  private async journalIntent(): Promise<RecordedIntent | undefined> {
    if (!this.journal) return undefined;
    const wm = await this.watermark.current();
    // Nothing above the watermark: nothing to find (and no base to verify at every start).
    if (!(await this.journal.mayEndAbove(wm?.version))) return undefined;
    await this.keys.load();
    let persisted;
    try {
      persisted = await this.persistedChain();
    } catch {
      return undefined; // no verifiable base: no journal line can verify either
    }
    if (!persisted) return undefined;
    const { chain, problem } = persisted;
    const i = chain.length - 1;
    const tip = chain[i];
    if (i > 0 && (!wm || tip.netmap.version > wm.version)) {
      try {
        checkNetmapTimes(tip.netmap, this.clock.now());
      } catch (err) {
        return { kind: 'unverifiable', reason: err instanceof Error ? err.message : String(err) };
      }
      this.journalLineStart = chain[i - 1].end;
      return { kind: 'newer', trusted: { netmap: tip.netmap, signed: tip.value, digest: tip.digest, status: 'new' } };
    }
    if (problem !== undefined && wm && tip.netmap.version >= wm.version) return { kind: 'unverifiable', reason: problem };
    return undefined;
  }
}

/** `netmap.issuedAt` of an unverified envelope as ms since the epoch (NaN when absent). */
function issuedAtOf(input: unknown): number {
  const netmap = input !== null && typeof input === 'object' && 'netmap' in input ? input.netmap : undefined;
  const at = netmap !== null && typeof netmap === 'object' && 'issuedAt' in netmap ? netmap.issuedAt : undefined;
  return typeof at === 'string' ? Date.parse(at) : Number.NaN;
}

/** A state store that can persist a JSON document given as text (e.g. `FileStateStore`). */
interface TextStateStore extends StateStore {
  writeText(key: string, json: string): Promise<void>;
}

function isTextStore(store: StateStore): store is TextStateStore {
  return typeof (store as Partial<TextStateStore>).writeText === 'function';
}

/** A state store that can move a document to another key atomically and durably (`FileStateStore`). */
interface RenamingStateStore extends StateStore {
  rename(from: string, to: string): Promise<void>;
}

function isRenamingStore(store: StateStore): store is RenamingStateStore {
  return typeof (store as Partial<RenamingStateStore>).rename === 'function';
}
