/**
 * All reads and writes of the control plane's state. Every change runs in one transaction that
 * also bumps the netmap version, so the database never holds a change without its version, nor
 * half a change (a failed write rolls back: nothing stored).
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { RustynetError, type Endpoint } from '@rustynet/plugin-api';
import { hostAddresses } from '../addresses.js';
import type { AclDocument } from '../acl/document.js';
import type { DatabaseEngine } from '../db/open.js';
import { CHANGE_CHANNEL } from '../db/open-postgres.js';
import { readSigningState } from '../keys/rotation-store.js';
import type { ControlDatabase } from '../db/schema.js';
import { authFailed, toRustynetError, unknownNode } from '../errors.js';
import { aclFromColumn, authKeyFromRow, nodeFromRow } from './codec.js';
import { bumpVersion, takeHostIndex, type Db } from './meta.js';
import { pickNodeName, validateNodeName } from './names.js';
import { runTransaction } from './transaction.js';
import { assertKeysUnused } from '../nodes/key-clash.js';
import type { AuthKeyInfo, ControlNode, Snapshot } from './types.js';

/** Prefix of every pre-auth key text. */
export const AUTH_KEY_PREFIX = 'rnk_';

/** Hex SHA-256 of a pre-auth key (what is stored). */
export function hashAuthKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Options of {@link ControlStore.createAuthKey}. */
export interface CreateAuthKeyOptions {
  reusable: boolean;
  /** Lifetime in ms; absent: never expires. */
  expiresInMs?: number;
  tags: string[];
}

/** What a node sends to enrol (already authenticated by its signed challenge). */
export interface EnrolInput {
  authKey: string;
  identityKey: string;
  name: string;
  keys: Record<string, string>;
  endpoints: Endpoint[];
  probePort?: number;
}

/** Outcome of an enrolment. */
export interface EnrolResult {
  node: ControlNode;
  /** True for a new node, false when the identity was enrolled before (same id, addresses). */
  created: boolean;
  version: number;
}

/** A change a node reports about itself. */
export interface NodeSelfUpdate {
  endpoints?: Endpoint[];
  keys?: Record<string, string>;
  probePort?: number | null;
}

/** The store. Construct with an open Kysely; methods throw RustynetErrors only. */
export class ControlStore {
  /** @param engine how `db` stores (default `sqlite`): PostgreSQL gets SERIALIZABLE retries and change announcements. */
  constructor(
    private readonly db: Kysely<ControlDatabase>,
    readonly engine: DatabaseEngine = 'sqlite',
  ) {}

  /** Runs `fn` in one write transaction (PostgreSQL: under the write lock, see transaction.ts). */
  private tx<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return runTransaction(this.db, this.engine, fn);
  }

  /** Runs `fn` in one read-only snapshot (PostgreSQL: REPEATABLE READ, no lock). */
  private read<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return runTransaction(this.db, this.engine, fn, { readOnlySnapshot: true });
  }

  /** Bumps the version inside `trx`; on PostgreSQL also announces it to the other instances (delivered at commit). */
  private async bump(trx: Db, now: number): Promise<number> {
    const version = await bumpVersion(trx, now);
    if (this.engine === 'postgres') await sql`select pg_notify(${CHANGE_CHANNEL}, ${String(version)})`.execute(trx);
    return version;
  }

  /** Reads everything netmaps are built from. */
  async snapshot(): Promise<Snapshot> {
    return this.read(async (trx) => {
      const meta = await trx.selectFrom('meta').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
      const rows = await trx.selectFrom('nodes').selectAll().orderBy('id').execute();
      const canaryAcl = aclFromColumn(meta.canary_acl);
      return {
        version: Number(meta.version),
        issuedAt: Number(meta.issued_at),
        ulaPrefix: meta.ula_prefix,
        nodes: rows.map(nodeFromRow),
        acl: aclFromColumn(meta.acl),
        canary: meta.canary_tag !== null && canaryAcl !== null ? { tag: meta.canary_tag, acl: canaryAcl } : null,
        signing: await readSigningState(trx),
      };
    });
  }

  /** Issues a new version with nothing else changed (start-up, re-signing). */
  async newVersion(now = Date.now()): Promise<number> {
    return this.tx((trx) => this.bump(trx, now));
  }

  /** The version stored now (cheap: one row). Other instances sharing the database may have moved it. */
  async storedVersion(): Promise<number> {
    try {
      const row = await this.db.selectFrom('meta').select('version').where('id', '=', 1).executeTakeFirstOrThrow();
      return Number(row.version);
    } catch (err) {
      throw toRustynetError(err);
    }
  }

  /**
   * Creates a pre-auth key; returns its text (shown once, never stored) and its info.
   * @throws RustynetError `STORAGE_FAILED`.
   */
  async createAuthKey(opts: CreateAuthKeyOptions, now = Date.now()): Promise<{ key: string; info: AuthKeyInfo }> {
    const id = randomBytes(6).toString('hex');
    const key = `${AUTH_KEY_PREFIX}${id}_${randomBytes(24).toString('base64url')}`;
    const row = {
      id,
      hash: hashAuthKey(key),
      reusable: opts.reusable ? 1 : 0,
      tags: JSON.stringify(opts.tags),
      created_at: now,
      expires_at: opts.expiresInMs === undefined ? null : now + opts.expiresInMs,
      used_at: null,
    };
    // The unit of work returns the row (no key text) so the audit record can name the key.
    await this.tx(async (trx) => {
      await trx.insertInto('auth_keys').values(row).execute();
      return row;
    });
    return { key, info: authKeyFromRow({ ...row, uses: 0 }) };
  }

  /** Lists pre-auth keys (never their text). */
  async listAuthKeys(): Promise<AuthKeyInfo[]> {
    return this.read(async (trx) => (await trx.selectFrom('auth_keys').selectAll().orderBy('created_at').execute()).map(authKeyFromRow));
  }

  /**
   * Revokes (deletes) a pre-auth key: later enrolments with it get `auth-key-unknown`. Nodes
   * already enrolled with it stay. @throws RustynetError `INVALID_INPUT` (field `id`) when unknown.
   */
  async revokeAuthKey(id: string): Promise<AuthKeyInfo> {
    return this.tx(async (trx) => {
      const row = await trx.selectFrom('auth_keys').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new RustynetError('INVALID_INPUT', `no pre-auth key ${JSON.stringify(id)}`, { field: 'id' });
      await trx.deleteFrom('auth_keys').where('id', '=', id).execute();
      return authKeyFromRow(row);
    });
  }

  /**
   * Enrols a node, atomically: checks and (one-time keys) consumes the pre-auth key, creates
   * the node or refreshes the one with the same identity key (keeping its id, name and
   * addresses), and bumps the version.
   * @throws RustynetError `AUTH_FAILED` (`auth-key-unknown|-expired|-used`), `INVALID_INPUT`
   *   (name), `STORAGE_FAILED`. On any error nothing is stored.
   */
  async enrol(input: EnrolInput, now = Date.now()): Promise<EnrolResult> {
    validateNodeName(input.name, 'name');
    return this.tx(async (trx) => {
      const key = await trx.selectFrom('auth_keys').selectAll().where('hash', '=', hashAuthKey(input.authKey)).executeTakeFirst();
      if (!key) throw authFailed('auth-key-unknown', 'unknown pre-auth key');
      if (key.expires_at !== null && Number(key.expires_at) <= now)
        throw authFailed('auth-key-expired', `pre-auth key ${key.id} has expired`);
      const consume = trx
        .updateTable('auth_keys')
        .set((eb) => ({ used_at: now, uses: eb('uses', '+', 1) }))
        .where('id', '=', key.id);
      const res = await (key.reusable === 1 ? consume : consume.where('used_at', 'is', null)).executeTakeFirst();
      if (res.numUpdatedRows !== 1n) throw authFailed('auth-key-used', `one-time pre-auth key ${key.id} was already used`);
      const keyTags = JSON.parse(key.tags) as string[];
      const existing = await trx.selectFrom('nodes').selectAll().where('identity_key', '=', input.identityKey).executeTakeFirst();
      const common = {
        keys: JSON.stringify(input.keys),
        endpoints: JSON.stringify(input.endpoints),
        probe_port: input.probePort ?? null,
        updated_at: now,
        expired_at: null,
        auth_key_id: key.id,
        key_issued_at: now,
      };
      let created = false;
      if (existing) {
        const tags = [...new Set([...(JSON.parse(existing.tags) as string[]), ...keyTags])].sort();
        await trx
          .updateTable('nodes')
          .set({ ...common, tags: JSON.stringify(tags) })
          .where('id', '=', existing.id)
          .execute();
      } else {
        const taken = await trx.selectFrom('nodes').select(['id', 'name']).execute();
        const name = pickNodeName(input.name, new Set(taken.flatMap((t) => [t.id, t.name])));
        const { index, ulaPrefix } = await takeHostIndex(trx);
        const addr = hostAddresses(ulaPrefix, index);
        await trx
          .insertInto('nodes')
          .values({
            ...common,
            id: name,
            name,
            identity_key: input.identityKey,
            tags: JSON.stringify([...new Set(keyTags)].sort()),
            ipv4: addr.ipv4,
            ipv6: addr.ipv6,
            created_at: now,
          })
          .execute();
        created = true;
      }
      const version = await this.bump(trx, now);
      const row = await trx.selectFrom('nodes').selectAll().where('identity_key', '=', input.identityKey).executeTakeFirstOrThrow();
      return { node: nodeFromRow(row), created, version };
    });
  }

  /** Finds a node by id, name or identity key. */
  private async find(trx: Db, ref: string): Promise<ControlNode> {
    const row = await trx
      .selectFrom('nodes')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref), eb('identity_key', '=', ref)]))
      .orderBy('id')
      .executeTakeFirst();
    if (!row) throw unknownNode(ref);
    return nodeFromRow(row);
  }

  /** The node with this identity key. @throws RustynetError `UNKNOWN_PEER`. */
  async nodeByIdentity(identityKey: string): Promise<ControlNode> {
    return this.read(async (trx) => {
      const row = await trx.selectFrom('nodes').selectAll().where('identity_key', '=', identityKey).executeTakeFirst();
      if (!row) throw unknownNode(identityKey, 'x-rustynet-node');
      return nodeFromRow(row);
    });
  }

  /** Lists nodes by id. */
  async listNodes(): Promise<ControlNode[]> {
    return (await this.snapshot()).nodes;
  }

  /**
   * Applies a node's report about itself (endpoints, backend keys, probe port); bumps the
   * version only when something changed. @throws RustynetError `UNKNOWN_PEER`, `STORAGE_FAILED`.
   */
  async selfUpdate(identityKey: string, upd: NodeSelfUpdate, now = Date.now()): Promise<{ node: ControlNode; version: number | null }> {
    return this.tx(async (trx) => {
      const node = await this.find(trx, identityKey);
      const set: { endpoints?: string; keys?: string; probe_port?: number | null } = {};
      if (upd.endpoints && JSON.stringify(upd.endpoints) !== JSON.stringify(node.endpoints)) set.endpoints = JSON.stringify(upd.endpoints);
      if (upd.keys && JSON.stringify(upd.keys) !== JSON.stringify(node.keys)) set.keys = JSON.stringify(upd.keys);
      if (upd.probePort !== undefined && (upd.probePort ?? undefined) !== node.probePort) set.probe_port = upd.probePort;
      if (Object.keys(set).length === 0) return { node, version: null };
      await trx
        .updateTable('nodes')
        .set({ ...set, updated_at: now })
        .where('id', '=', node.id)
        .execute();
      const version = await this.bump(trx, now);
      return { node: await this.find(trx, node.id), version };
    });
  }

  /** Renames a node (its id stays). @throws RustynetError `INVALID_INPUT` (bad or taken name), `UNKNOWN_PEER`. */
  async rename(ref: string, name: string, now = Date.now()): Promise<{ node: ControlNode; version: number }> {
    validateNodeName(name, 'name');
    return this.tx(async (trx) => {
      const node = await this.find(trx, ref);
      const clash = await trx
        .selectFrom('nodes')
        .select('id')
        .where('id', '!=', node.id)
        .where((eb) => eb.or([eb('id', '=', name), eb('name', '=', name)]))
        .executeTakeFirst();
      if (clash) throw new RustynetError('INVALID_INPUT', `name ${name} is taken by node ${clash.id}`, { field: 'name' });
      await trx.updateTable('nodes').set({ name, updated_at: now }).where('id', '=', node.id).execute();
      const version = await this.bump(trx, now);
      return { node: { ...node, name, updatedAt: now }, version };
    });
  }

  /** Replaces a node's tags. @throws RustynetError `UNKNOWN_PEER`. */
  async setTags(ref: string, tags: string[], now = Date.now()): Promise<{ node: ControlNode; version: number }> {
    const sorted = [...new Set(tags)].sort();
    return this.tx(async (trx) => {
      const node = await this.find(trx, ref);
      await trx
        .updateTable('nodes')
        .set({ tags: JSON.stringify(sorted), updated_at: now })
        .where('id', '=', node.id)
        .execute();
      const version = await this.bump(trx, now);
      return { node: { ...node, tags: sorted, updatedAt: now }, version };
    });
  }

  /** Deletes a node (revocation). @throws RustynetError `UNKNOWN_PEER`. */
  async remove(ref: string, now = Date.now()): Promise<{ node: ControlNode; version: number }> {
    return this.tx(async (trx) => {
      const node = await this.find(trx, ref);
      await trx.deleteFrom('nodes').where('id', '=', node.id).execute();
      const version = await this.bump(trx, now);
      return { node, version };
    });
  }

  /** Marks a node expired: out of every netmap until it re-enrols with a pre-auth key. @throws `UNKNOWN_PEER`. */
  async expire(ref: string, now = Date.now()): Promise<{ node: ControlNode; version: number }> {
    return this.tx(async (trx) => {
      const node = await this.find(trx, ref);
      await trx.updateTable('nodes').set({ expired_at: now, updated_at: now }).where('id', '=', node.id).execute();
      const version = await this.bump(trx, now);
      return { node: { ...node, expiredAt: now, updatedAt: now }, version };
    });
  }

  /**
   * Replaces a node's identity key and backend keys (a key rotation the caller has verified:
   * signed by the old identity, proven by the new one) and restarts its key lifetime. The id,
   * name, addresses and tags stay. See nodes/rotate.ts.
   * @throws RustynetError `UNKNOWN_PEER` (old identity unknown), `INVALID_INPUT` (`newIdentityKey`
   *   or `keys.<protocol>` already used by another node), `STORAGE_FAILED`. Nothing stored on error.
   */
  async rotateKeys(
    oldIdentityKey: string,
    newIdentityKey: string,
    keys: Record<string, string>,
    now = Date.now(),
  ): Promise<{ node: ControlNode; version: number }> {
    return this.tx(async (trx) => {
      const rows = await trx.selectFrom('nodes').selectAll().execute();
      const node = rows.find((r) => r.identity_key === oldIdentityKey);
      if (!node) throw unknownNode(oldIdentityKey, 'x-rustynet-node');
      assertKeysUnused(rows.filter((r) => r.id !== node.id).map(nodeFromRow), newIdentityKey, keys);
      await trx
        .updateTable('nodes')
        .set({ identity_key: newIdentityKey, keys: JSON.stringify(keys), key_issued_at: now, updated_at: now })
        .where('id', '=', node.id)
        .execute();
      const version = await this.bump(trx, now);
      return { node: await this.find(trx, node.id), version };
    });
  }

  /**
   * Sets the ACL: the stable one (clearing any canary), or a canary for nodes tagged
   * `canaryTag`. The caller validates and tests the document first.
   */
  async setAcl(doc: AclDocument, canaryTag: string | null, now = Date.now()): Promise<number> {
    return this.tx(async (trx) => {
      const text = JSON.stringify(doc);
      const set = canaryTag === null ? { acl: text, canary_acl: null, canary_tag: null } : { canary_acl: text, canary_tag: canaryTag };
      await trx.updateTable('meta').set(set).where('id', '=', 1).execute();
      return this.bump(trx, now);
    });
  }

  /**
   * Ends a canary: `promote` makes the canary ACL the stable one, `rollback` drops it.
   * @throws RustynetError `INVALID_INPUT` when no canary is under way.
   */
  async endCanary(action: 'promote' | 'rollback', now = Date.now()): Promise<number> {
    return this.tx(async (trx) => {
      const meta = await trx.selectFrom('meta').select(['canary_acl', 'canary_tag']).where('id', '=', 1).executeTakeFirstOrThrow();
      if (meta.canary_acl === null) throw new RustynetError('INVALID_INPUT', `no canary ACL to ${action}`, { field: 'canary' });
      const set =
        action === 'promote' ? { acl: meta.canary_acl, canary_acl: null, canary_tag: null } : { canary_acl: null, canary_tag: null };
      await trx.updateTable('meta').set(set).where('id', '=', 1).execute();
      return this.bump(trx, now);
    });
  }
}
