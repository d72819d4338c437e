/**
 * Runs a unit of work in one database transaction, the same way on both engines.
 *
 * SQLite: one connection, so transactions run one after another.
 *
 * PostgreSQL (several control-plane instances may share it):
 * - A write takes the transaction-level advisory lock {@link WRITE_LOCK_KEY} as its first
 *   statement (PostgreSQL manual, 9.27.10 "Advisory Lock Functions", `pg_advisory_xact_lock`),
 *   so writes of all instances run one after another, in READ COMMITTED: every statement after
 *   the lock sees every earlier writer's commit. Two instances can therefore never both consume
 *   a one-time key, take the same host index or issue the same version. (Every write bumps the
 *   one `meta` row anyway, so writes could never run in parallel; the lock makes them queue
 *   instead of failing. SERIALIZABLE alone gave about 2 retries per enrolment in the 50-way race.)
 * - A read runs READ ONLY in REPEATABLE READ: one snapshot for all its tables, no lock.
 * - Last guards: the unique constraints (names, identity keys, addresses, key hashes), and a
 *   retry from the start with jittered back-off on SQLSTATE 40001 (serialization_failure),
 *   40P01 (deadlock_detected) and 23505 (unique_violation). The unit of work must therefore be
 *   safe to run again: it reads everything it decides on inside the transaction.
 */
import { sql, type ControlledTransaction, type Kysely } from 'kysely';
import { RustynetError } from '@rustynet/plugin-api';
import { appendPendingAudit, auditCommitted } from '../audit/audit-context.js';
import type { ControlDatabase } from '../db/schema.js';
import type { DatabaseEngine } from '../db/open.js';
import { toRustynetError } from '../errors.js';
import type { Db } from './meta.js';

/** SQLSTATEs after which a PostgreSQL transaction is retried. */
export const RETRY_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01', '23505']);
/** Attempts before a conflicting transaction gives up with `STORAGE_CONFLICT`. */
export const MAX_ATTEMPTS = 12;

/** Key of the advisory lock every PostgreSQL write takes (ASCII "rustynet" as a bigint). */
export const WRITE_LOCK_KEY = 0x72757374796e6574n;

/** Transaction options. */
export interface TxOptions {
  /** PostgreSQL: a read-only REPEATABLE READ snapshot, no lock (reads, backups). Default: a write. */
  readOnlySnapshot?: boolean;
  /** Retry on 23505 unique_violation (default true; false where a clash cannot go away, e.g. a restore). */
  retryUniqueViolation?: boolean;
}

/** Counters of this process's transactions (for tests and logs). */
export const transactionStats = { retries: 0, conflictsGivenUp: 0 };

function sqlState(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs `fn` in a transaction and commits; rolls back and maps the error on failure. A
 * controlled transaction, so the original error survives: when SQLite already rolled back by
 * itself (SQLITE_FULL), the failing ROLLBACK must not replace the real cause.
 * @throws RustynetError from `fn`, `STORAGE_FAILED`, `STORAGE_CONFLICT` (PostgreSQL: still
 *   conflicting after {@link MAX_ATTEMPTS} attempts; nothing was stored).
 */
export async function runTransaction<T>(
  db: Kysely<ControlDatabase>,
  engine: DatabaseEngine,
  fn: (trx: Db) => Promise<T>,
  opts: TxOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let trx: ControlledTransaction<ControlDatabase>;
    try {
      let builder = db.startTransaction();
      if (engine === 'postgres') {
        builder = opts.readOnlySnapshot
          ? builder.setIsolationLevel('repeatable read').setAccessMode('read only')
          : builder.setIsolationLevel('read committed');
      }
      trx = await builder.execute();
      if (engine === 'postgres' && !opts.readOnlySnapshot) {
        await sql`select pg_advisory_xact_lock(${String(WRITE_LOCK_KEY)}::bigint)`.execute(trx).catch(async (err: unknown) => {
          await trx
            .rollback()
            .execute()
            .catch(() => undefined);
          throw err;
        });
      }
    } catch (err) {
      throw toRustynetError(err);
    }
    try {
      const result = await fn(trx);
      if (!opts.readOnlySnapshot) await appendPendingAudit(trx, result);
      await trx.commit().execute();
      auditCommitted();
      return result;
    } catch (err) {
      await trx
        .rollback()
        .execute()
        .catch(() => undefined);
      const state = sqlState(err);
      const retry = state !== undefined && RETRY_SQLSTATES.has(state) && (state !== '23505' || opts.retryUniqueViolation !== false);
      if (engine !== 'postgres' || !retry) throw toRustynetError(err);
      if (attempt >= MAX_ATTEMPTS) {
        transactionStats.conflictsGivenUp++;
        throw new RustynetError(
          'STORAGE_CONFLICT',
          `the database kept refusing the change as conflicting (SQLSTATE ${state}); nothing was stored, try again`,
          {
            cause: err,
            details: { sqlState: state, attempts: attempt },
          },
        );
      }
      transactionStats.retries++;
      await sleep(Math.floor(Math.random() * Math.min(200, 5 * 2 ** attempt)));
    }
  }
}
