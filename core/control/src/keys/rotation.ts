/**
 * Control-plane signing-key rotation, the engine side of `rustynet control rotate-signing-key`:
 * announce (generate the next key, netmaps signed by the current key carry it as
 * `signingKeys.next`), switch (sign with it; refused while active nodes have not fetched an
 * announcing map, unless forced), retire (announce the old key as retired: nodes drop it).
 * Nodes acknowledge by polling with `after` at or above a phase's first version; the
 * acknowledgements are stored, so every instance on the database sees them.
 * See docs/operations/key-rotation.md.
 */
import { RustynetError, type Logger } from '@rustynet/plugin-api';
import type { ControlKey } from '../control-key.js';
import type { Snapshot } from '../store/types.js';
import { NO_ROTATION, type AckPhase, type RotationStore, type SigningState } from './rotation-store.js';
import type { SigningKeyRing } from './signing-ring.js';

/** One node in {@link RotationStatus}. */
export interface RotationNodeStatus {
  id: string;
  name: string;
  /** When it fetched a map announcing the next key (ISO time), or null. */
  seenAnnouncement: string | null;
  /** When it fetched a map signed by the current key after the last switch (ISO time), or null. */
  onCurrentKey: string | null;
}

/** The rotation as `--status` shows it. */
export interface RotationStatus {
  /** `idle` (nothing in flight), `announced`, `switched` (old key still trusted), `retired` alone is idle. */
  phase: 'idle' | 'announced' | 'switched';
  version: number;
  /** The key maps are signed with now (this instance), and its id. */
  signingKey: string;
  signingKeyId: string;
  state: SigningState;
  /** Whether this instance holds the private key of `state.next` (null when none). */
  nextHeldHere: boolean | null;
  /** Active nodes (expired ones left out). */
  nodes: RotationNodeStatus[];
  /** Active node ids that have not seen the announcement (what `--switch` waits for). */
  pending: string[];
}

/** The rotation engine of one instance. */
export class SigningKeyRotation {
  private readonly acked = new Set<string>();
  private warnedMissing = '';

  constructor(
    readonly ring: SigningKeyRing,
    private readonly store: RotationStore,
    private readonly snapshot: () => Snapshot,
    private readonly refresh: () => Promise<Snapshot>,
    private readonly logger: Logger,
  ) {}

  /**
   * The key to sign `s` with: the stored current key when this instance holds it, else (before
   * the first rotation, or when the operator has not copied the key here yet) the primary key.
   */
  signerFor(s: Snapshot): ControlKey {
    const cur = s.signing?.current;
    return (cur ? this.ring.get(cur) : undefined) ?? this.ring.primary;
  }

  /** Before a snapshot is used: loads keys copied here since, and says loudly when one is missing. */
  async prepare(s: Snapshot): Promise<void> {
    const cur = s.signing?.current;
    if (!cur || this.ring.get(cur)) return;
    await this.ring.rescan();
    if (!this.ring.get(cur) && this.warnedMissing !== cur) {
      this.warnedMissing = cur;
      this.logger.error(
        { current: cur, dir: this.ring.dir },
        'this instance does not hold the current signing key: copy <keyId>.key from the instance that ran --announce into signing-keys/ (0600); signing with the primary key meanwhile',
      );
    }
  }

  /** Notes a node's poll `after` (the version it holds); stores a new acknowledgement once. */
  noteAck(nodeId: string, after: number): void {
    const st = this.snapshot().signing;
    if (!st) return;
    const mark = (publicKey: string, phase: AckPhase, from: number): void => {
      const k = `${publicKey}:${nodeId}:${phase}`;
      if (after < from || this.acked.has(k)) return;
      this.acked.add(k);
      this.store.ack(publicKey, nodeId, phase, after).catch((err: unknown) => {
        this.acked.delete(k);
        this.logger.warn({ node: nodeId, err: String(err) }, 'recording a signing-key acknowledgement failed');
      });
    };
    if (st.next) mark(st.next.publicKey, 'announced', st.next.announcedVersion);
    if (st.current !== null && st.switchedVersion !== null) mark(st.current, 'switched', st.switchedVersion);
  }

  /** The rotation status (reads the stored acknowledgements). */
  async status(): Promise<RotationStatus> {
    const s = this.snapshot();
    const st = s.signing ?? NO_ROTATION;
    const signer = this.signerFor(s);
    const announced = st.next ? await this.store.acks(st.next.publicKey) : new Map<string, Partial<Record<AckPhase, number>>>();
    const switched =
      st.current !== null && st.switchedVersion !== null
        ? await this.store.acks(st.current)
        : new Map<string, Partial<Record<AckPhase, number>>>();
    const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());
    // A key file copied here since (or an instance restored from a backup): look before saying no.
    if (st.next && !this.ring.get(st.next.publicKey)) await this.ring.rescan();
    const nodes = s.nodes
      .filter((n) => n.expiredAt === null)
      .map((n) => ({
        id: n.id,
        name: n.name,
        seenAnnouncement: iso(announced.get(n.id)?.announced),
        onCurrentKey: iso(switched.get(n.id)?.switched),
      }));
    return {
      phase: st.next ? 'announced' : st.previous ? 'switched' : 'idle',
      version: s.version,
      signingKey: signer.publicKey,
      signingKeyId: signer.keyId,
      state: st,
      nextHeldHere: st.next ? this.ring.get(st.next.publicKey) !== undefined : null,
      nodes,
      pending: st.next ? nodes.filter((n) => n.seenAnnouncement === null).map((n) => n.id) : [],
    };
  }

  /**
   * Generates the next key in `<data>/signing-keys/` and announces it.
   * @throws RustynetError `KEY_ROTATION_PENDING` (a rotation in flight), `STORAGE_FAILED`.
   */
  async announce(): Promise<{ version: number; next: ControlKey }> {
    const st = (await this.refresh()).signing ?? NO_ROTATION;
    if (st.next) throw new RustynetError('KEY_ROTATION_PENDING', `key ${st.next.publicKey} is already announced; --switch to it first`);
    if (st.previous) throw new RustynetError('KEY_ROTATION_PENDING', `the previous key ${st.previous} is not retired yet; --retire first`);
    const next = await this.ring.generate();
    let version: number;
    try {
      version = await this.store.announce(next.publicKey, this.signerFor(this.snapshot()).publicKey);
    } catch (err) {
      // Not announced (a race with another instance, a storage failure): no key file is left behind.
      await this.ring.discard(next);
      throw err;
    }
    await this.refresh();
    this.logger.info({ version, next: next.keyId }, 'signing key announced');
    return { version, next };
  }

  /**
   * Switches to the announced key.
   * @throws RustynetError `KEY_ROTATION_PENDING` (nodes have not seen it: `details.pending`;
   *   nothing announced), `KEY_INVALID` (this instance does not hold the key).
   */
  async switchKey(force: boolean): Promise<{ version: number; publicKey: string; forcedPast: string[] }> {
    await this.refresh();
    const status = await this.status();
    const next = status.state.next;
    if (next) {
      await this.ring.rescan();
      if (!this.ring.get(next.publicKey)) {
        throw new RustynetError('KEY_INVALID', `this instance does not hold the announced key ${next.publicKey} (${this.ring.dir})`, {
          field: 'signing-keys',
        });
      }
      if (status.pending.length > 0 && !force) {
        throw new RustynetError(
          'KEY_ROTATION_PENDING',
          `${status.pending.length} node(s) have not seen the announced key: ${status.pending.join(', ')}; wait, or --force ` +
            '(those nodes then need the recovery in docs/operations/key-rotation.md)',
          { details: { pending: status.pending } },
        );
      }
    }
    // In the transaction: the announcement must still be the one checked above (another instance).
    const r = await this.store.switchTo((st) =>
      st.next?.publicKey === next?.publicKey
        ? Promise.resolve()
        : Promise.reject(new RustynetError('KEY_ROTATION_PENDING', 'the announcement changed meanwhile; check --status again')),
    );
    await this.refresh();
    this.logger.info({ version: r.version, forcedPast: status.pending }, 'switched signing key');
    return { ...r, forcedPast: status.pending };
  }

  /** Retires the previous key. @throws RustynetError `KEY_ROTATION_PENDING` (nothing to retire). */
  async retire(): Promise<{ version: number; publicKey: string }> {
    const r = await this.store.retire();
    await this.refresh();
    this.logger.info({ version: r.version }, 'retired the previous signing key');
    return r;
  }
}
