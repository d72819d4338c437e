/**
 * The stored state of a control-plane signing-key rotation, shared by every instance on the
 * database: table `signing_keys` (one row per public key and its role) and `signing_key_acks`
 * (which node has fetched a map of the announcement, or one signed by the new key). Only public
 * keys are stored; private keys stay in each instance's data directory (see signing-ring.ts).
 */
import { sql, type Kysely } from 'kysely';
import { RustynetError } from '@rustynet/plugin-api';
import type { ControlDatabase } from '../db/schema.js';
import type { DatabaseEngine } from '../db/open.js';
import { CHANGE_CHANNEL } from '../db/open-postgres.js';
import { bumpVersion, type Db } from '../store/meta.js';
import { runTransaction } from '../store/transaction.js';

/** Role of a signing key. */
export type SigningKeyRole = 'current' | 'next' | 'previous' | 'retired';

/** The rotation state at one version (part of the snapshot). All keys raw Ed25519, base64. */
export interface SigningState {
  /** The key netmaps are signed with; null before the first rotation (each instance's own key). */
  current: string | null;
  /** The announced next key and the first version announcing it. */
  next: { publicKey: string; announcedVersion: number } | null;
  /** The key signed with before the switch, still trusted by nodes until `retire`. */
  previous: string | null;
  /** First version signed by `current` after the last switch (null before any switch). */
  switchedVersion: number | null;
  /** The key retired last (announced as `signingKeys.retired`). */
  retired: string | null;
}

/** What a node has acknowledged (a poll with `after` at or above the version). */
export type AckPhase = 'announced' | 'switched';

/** The empty state: no rotation ever. */
export const NO_ROTATION: SigningState = { current: null, next: null, previous: null, switchedVersion: null, retired: null };

/** Reads the rotation state inside a snapshot transaction. */
export async function readSigningState(trx: Db): Promise<SigningState> {
  const rows = await trx.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
  const s: SigningState = { ...NO_ROTATION };
  for (const r of rows) {
    if (r.role === 'current') {
      s.current = r.public_key;
      s.switchedVersion = r.switched_version === null ? null : num(r.switched_version);
    } else if (r.role === 'next') s.next = { publicKey: r.public_key, announcedVersion: num(r.announced_version) };
    else if (r.role === 'previous') s.previous = r.public_key;
    else if (r.role === 'retired') s.retired = r.public_key;
  }
  return s;
}

function pending(message: string, details?: Record<string, unknown>): RustynetError {
  return new RustynetError('KEY_ROTATION_PENDING', message, { ...(details && { details }) });
}

/** Rotation writes; each bumps the version in the same transaction (netmaps change). */
export class RotationStore {
  constructor(
    private readonly db: Kysely<ControlDatabase>,
    private readonly engine: DatabaseEngine,
  ) {}

  private async bump(trx: Db, now: number): Promise<number> {
    const version = await bumpVersion(trx, now);
    if (this.engine === 'postgres') await sql`select pg_notify(${CHANGE_CHANNEL}, ${String(version)})`.execute(trx);
    return version;
  }

  /**
   * Announces `next`. `signingKey` is the key this instance signs with now: it becomes the stored
   * `current` when none is stored yet (the first rotation).
   * @throws RustynetError `KEY_ROTATION_PENDING` when a key is already announced or the previous
   *   key is not retired yet.
   */
  announce(next: string, signingKey: string, now = Date.now()): Promise<number> {
    return runTransaction(this.db, this.engine, async (trx) => {
      const s = await readSigningState(trx);
      if (s.next) throw pending(`key ${s.next.publicKey} is already announced; --switch to it first`);
      if (s.previous) throw pending(`the previous key ${s.previous} is not retired yet; --retire first`);
      const current = s.current ?? signingKey;
      if (next === current) throw pending('the next key equals the current key');
      if (s.current === null) {
        await trx
          .insertInto('signing_keys')
          .values(row(current, 'current', now))
          .execute();
      }
      const version = await this.bump(trx, now);
      await trx.deleteFrom('signing_keys').where('public_key', '=', next).execute();
      await trx
        .insertInto('signing_keys')
        .values({ ...row(next, 'next', now), announced_version: version })
        .execute();
      return version;
    });
  }

  /**
   * Makes the announced key current (the old current becomes `previous`: still trusted by nodes).
   * `check` runs inside the transaction with the state, and may refuse (nodes not seen).
   * @throws RustynetError `KEY_ROTATION_PENDING` (nothing announced, or from `check`).
   */
  switchTo(check: (s: SigningState) => Promise<void>, now = Date.now()): Promise<{ version: number; publicKey: string }> {
    return runTransaction(this.db, this.engine, async (trx) => {
      const s = await readSigningState(trx);
      if (!s.next || s.current === null) throw pending('no key is announced: run --announce first');
      await check(s);
      const version = await this.bump(trx, now);
      await trx.updateTable('signing_keys').set({ role: 'previous' }).where('public_key', '=', s.current).execute();
      await trx
        .updateTable('signing_keys')
        .set({ role: 'current', switched_version: version })
        .where('public_key', '=', s.next.publicKey)
        .execute();
      return { version, publicKey: s.next.publicKey };
    });
  }

  /**
   * Retires the previous key: netmaps announce it as `signingKeys.retired`, nodes stop trusting it.
   * @throws RustynetError `KEY_ROTATION_PENDING` when there is no previous key.
   */
  retire(now = Date.now()): Promise<{ version: number; publicKey: string }> {
    return runTransaction(this.db, this.engine, async (trx) => {
      const s = await readSigningState(trx);
      if (!s.previous) throw pending('no previous key to retire: --switch first');
      await trx.deleteFrom('signing_keys').where('role', '=', 'retired').execute();
      await trx.updateTable('signing_keys').set({ role: 'retired' }).where('public_key', '=', s.previous).execute();
      const version = await this.bump(trx, now);
      return { version, publicKey: s.previous };
    });
  }

  /** Records that `nodeId` fetched a map at or above the phase's version (idempotent; no new version). */
  ack(publicKey: string, nodeId: string, phase: AckPhase, version: number, now = Date.now()): Promise<void> {
    return runTransaction(this.db, this.engine, async (trx) => {
      await trx
        .insertInto('signing_key_acks')
        .values({ public_key: publicKey, node_id: nodeId, phase, version, at: now })
        .onConflict((oc) => oc.columns(['public_key', 'node_id', 'phase']).doNothing())
        .execute();
    });
  }

  /** The acknowledgements of `publicKey`: node id -> phase -> when (ms). */
  async acks(publicKey: string): Promise<Map<string, Partial<Record<AckPhase, number>>>> {
    const rows = await runTransaction(
      this.db,
      this.engine,
      (trx) => trx.selectFrom('signing_key_acks').selectAll().where('public_key', '=', publicKey).execute(),
      { readOnlySnapshot: true },
    );
    const m = new Map<string, Partial<Record<AckPhase, number>>>();
    for (const r of rows) m.set(r.node_id, { ...m.get(r.node_id), [r.phase]: num(r.at) });
    return m;
  }
}

/** A bigint column as a number (PostgreSQL's driver returns int8 as a string). */
function num(x: unknown): number {
  return Number(x);
}

function row(public_key: string, role: SigningKeyRole, now: number) {
  return { public_key, role, created_at: now, announced_version: null, switched_version: null };
}
