/**
 * Reading every table in one consistent snapshot (backup) and replacing them all in one
 * transaction (restore), on either engine.
 * - Backup: SQLite reads in one transaction (WAL: a reader sees one commit, writers go on);
 *   PostgreSQL reads in one READ ONLY REPEATABLE READ transaction (one snapshot for all tables).
 * - The signing-key rotation state (announced next key, previous/retired keys, acknowledgements)
 *   is backed up and restored with the rest: public keys only, like the database itself. The
 *   private keys stay in the data directory (`control-plane.key`, `signing-keys/`), which the
 *   operator backs up separately, as before (docs/operations/backup-restore.md).
 * - Restore: deletes and re-inserts every row in one transaction (SERIALIZABLE on PostgreSQL):
 *   a restore stopped halfway (killed, disk full, a bad row) rolls back and leaves the old
 *   database as it was. The version counter becomes the higher of the live one and the backed-up
 *   one and then takes a new version (see store/meta.ts), so no daemon takes the restored maps
 *   for a replay.
 */
import { sql } from 'kysely';
import { RustynetError } from '@rustynet/plugin-api';
import { MIGRATIONS } from '../db/migrations.js';
import { CHANGE_CHANNEL } from '../db/open-postgres.js';
import type { OpenDatabase } from '../db/open.js';
import { bumpVersion, type Db } from '../store/meta.js';
import { runTransaction } from '../store/transaction.js';
import type { BackupPayload, BackupRow } from './format.js';

type TableName = 'meta' | 'auth_keys' | 'nodes' | 'audit_log' | 'audit_head' | 'signing_keys' | 'signing_key_acks';

/** Every column of each table: `n` integer (bigint), `t` text. Tables in insert order. */
const COLUMNS: Record<TableName, Record<string, 'n' | 't'>> = {
  meta: { id: 'n', version: 'n', issued_at: 'n', ula_prefix: 't', next_host: 'n', acl: 't', canary_acl: 't', canary_tag: 't' },
  auth_keys: { id: 't', hash: 't', reusable: 'n', tags: 't', created_at: 'n', expires_at: 'n', used_at: 'n', uses: 'n' },
  nodes: {
    id: 't',
    name: 't',
    identity_key: 't',
    keys: 't',
    endpoints: 't',
    tags: 't',
    ipv4: 't',
    ipv6: 't',
    probe_port: 'n',
    created_at: 'n',
    updated_at: 'n',
    expired_at: 'n',
    auth_key_id: 't',
    key_issued_at: 'n',
  },
  audit_log: { seq: 'n', at: 't', type: 't', data: 't', prev: 't', hash: 't', public_key: 't', signature: 't' },
  audit_head: { id: 'n', seq: 'n', hash: 't', at: 't', public_key: 't', signature: 't' },
  // Signing-key rotation (keys/rotation-store.ts): public keys and acknowledgements only.
  signing_keys: { public_key: 't', role: 't', created_at: 'n', announced_version: 'n', switched_version: 'n' },
  signing_key_acks: { public_key: 't', node_id: 't', phase: 't', version: 'n', at: 'n' },
};
const TABLES: TableName[] = ['meta', 'auth_keys', 'nodes', 'audit_log', 'audit_head', 'signing_keys', 'signing_key_acks'];
/**
 * Tables a backup made before they were backed up lacks; restoring such a backup leaves their
 * live rows alone (as those older builds did) instead of emptying them.
 */
const KEPT_WHEN_ABSENT: ReadonlySet<TableName> = new Set(['signing_keys', 'signing_key_acks']);
/** Column rows are read (and so written) in order of. */
const ORDER: Record<TableName, string[]> = {
  meta: ['id'],
  auth_keys: ['id'],
  nodes: ['id'],
  audit_log: ['seq'],
  audit_head: ['id'],
  signing_keys: ['public_key'],
  signing_key_acks: ['public_key', 'node_id', 'phase'],
};

/** A table's rows in a payload (backups made before the audit log have no audit tables). */
function rowsOf(p: BackupPayload, t: TableName): BackupRow[] {
  return p.tables[t] ?? [];
}

/** A row as JSON values (PostgreSQL returns bigint as text: make it a number). */
function plainRow(table: TableName, row: Record<string, unknown>): BackupRow {
  const out: BackupRow = {};
  for (const [col, kind] of Object.entries(COLUMNS[table])) {
    const v = row[col];
    out[col] = v === null || v === undefined ? null : kind === 'n' ? Number(v) : typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}

/**
 * Reads all tables in one consistent snapshot.
 * @throws RustynetError `STORAGE_FAILED`.
 */
export async function readSnapshot(database: OpenDatabase, now = Date.now()): Promise<BackupPayload> {
  return runTransaction(
    database.db,
    database.engine,
    async (trx) => {
      const tables: Record<TableName, BackupRow[]> = {
        meta: [],
        auth_keys: [],
        nodes: [],
        audit_log: [],
        audit_head: [],
        signing_keys: [],
        signing_key_acks: [],
      };
      for (const t of TABLES) {
        let q = trx.selectFrom(t).selectAll();
        for (const col of ORDER[t]) q = q.orderBy(col as never);
        const rows = (await q.execute()) as Array<Record<string, unknown>>;
        tables[t] = rows.map((r) => plainRow(t, r));
      }
      return {
        createdAt: new Date(now).toISOString(),
        engine: database.engine,
        migrations: Object.keys(MIGRATIONS).sort(),
        version: Number(tables.meta[0]?.['version'] ?? 0),
        tables,
      };
    },
    { readOnlySnapshot: true },
  );
}

function bad(message: string, field: string): RustynetError {
  return new RustynetError('BACKUP_INVALID', `backup refused, nothing restored: ${message}`, { field });
}

/** Checks every row's columns and types against this build's schema. @throws RustynetError `BACKUP_INVALID`. */
function checkRows(p: BackupPayload): void {
  const known = new Set(Object.keys(MIGRATIONS));
  const unknown = p.migrations.filter((m) => !known.has(m));
  if (unknown.length > 0) throw bad(`it was made by a newer control plane (migrations ${unknown.join(', ')})`, 'payload.migrations');
  for (const t of TABLES) {
    rowsOf(p, t).forEach((row, i) => {
      const where = `payload.tables.${t}[${i}]`;
      if (row === null || typeof row !== 'object') throw bad(`${where} is not an object`, where);
      for (const col of Object.keys(row)) if (!(col in COLUMNS[t])) throw bad(`${where} has an unknown column ${col}`, `${where}.${col}`);
      for (const [col, kind] of Object.entries(COLUMNS[t])) {
        const v = row[col] ?? null;
        const ok = v === null || (kind === 'n' ? Number.isSafeInteger(v) : typeof v === 'string');
        if (!ok) throw bad(`${where}.${col} must be ${kind === 'n' ? 'an integer' : 'text'} or null`, `${where}.${col}`);
      }
    });
  }
  if (p.tables.meta[0]?.['id'] !== 1) throw bad('the meta row must have id 1', 'payload.tables.meta[0].id');
}

/** What a restore did. */
export interface RestoreResult {
  /** The version issued by the restore (above the live and the backed-up counter). */
  version: number;
  /** The live version before the restore, and the backup's. */
  previousVersion: number;
  backupVersion: number;
  nodes: number;
  authKeys: number;
}

async function insertAll(trx: Db, table: TableName, rows: BackupRow[]): Promise<void> {
  // At most 500 rows per statement: well under PostgreSQL's 65535 bind parameters.
  for (let i = 0; i < rows.length; i += 500) {
    // The rows were checked column by column against the schema above.
    await trx
      .insertInto(table)
      .values(rows.slice(i, i + 500))
      .execute();
  }
}

/**
 * Replaces every table with the backup's rows in one transaction, then issues a new version
 * above both the live counter and the backup's.
 * @throws RustynetError `BACKUP_INVALID` (rows do not fit the schema), `STORAGE_FAILED`
 *   (including a constraint the rows break): in every case nothing changed.
 */
export async function restoreSnapshot(database: OpenDatabase, p: BackupPayload, now = Date.now()): Promise<RestoreResult> {
  checkRows(p);
  try {
    return await replaceAll(database, p, now);
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    // SQLITE_CONSTRAINT_* or PostgreSQL class 23 (integrity constraint violation).
    if (typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || /^23[0-9A-Z]{3}$/.test(code))) {
      throw bad(`its rows break a database constraint (${code}: ${(err as Error).message}); the old state is kept`, 'payload.tables');
    }
    throw err;
  }
}

function replaceAll(database: OpenDatabase, p: BackupPayload, now: number): Promise<RestoreResult> {
  const run = async (trx: Db): Promise<RestoreResult> => {
    const live = await trx.selectFrom('meta').select('version').where('id', '=', 1).executeTakeFirst();
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- pg returns bigint as text
    const previousVersion = Number(live?.version ?? 0);
    const backupVersion = p.tables.meta[0]?.['version'] as number;
    for (const t of [...TABLES].reverse()) if (!KEPT_WHEN_ABSENT.has(t) || p.tables[t] !== undefined) await trx.deleteFrom(t).execute();
    const meta = { ...p.tables.meta[0], version: Math.max(previousVersion, backupVersion) };
    await insertAll(trx, 'meta', [meta]);
    await insertAll(trx, 'auth_keys', p.tables.auth_keys);
    await insertAll(trx, 'nodes', p.tables.nodes);
    await insertAll(trx, 'audit_log', rowsOf(p, 'audit_log'));
    await insertAll(trx, 'audit_head', rowsOf(p, 'audit_head'));
    await insertAll(trx, 'signing_keys', rowsOf(p, 'signing_keys'));
    await insertAll(trx, 'signing_key_acks', rowsOf(p, 'signing_key_acks'));
    const version = await bumpVersion(trx, now);
    if (database.engine === 'postgres') await sql`select pg_notify(${CHANGE_CHANNEL}, ${String(version)})`.execute(trx);
    return { version, previousVersion, backupVersion, nodes: p.tables.nodes.length, authKeys: p.tables.auth_keys.length };
  };
  return runTransaction(database.db, database.engine, run, { retryUniqueViolation: false });
}
