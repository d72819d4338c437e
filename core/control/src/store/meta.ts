/**
 * The `meta` row: the persisted netmap version counter and the ACLs. {@link bumpVersion} runs
 * inside the transaction of every change, so a change and its version commit together.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ControlDatabase } from '../db/schema.js';

/** A database handle or an open transaction. */
export type Db = Kysely<ControlDatabase> | Transaction<ControlDatabase>;

/**
 * Issues the next version, `max(version + 1, now)`, stamping `issued_at` = `now`, and returns
 * it. Run it inside the change's transaction.
 *
 * Versions follow the clock (Unix ms) and step by one when changes come faster than that. Why:
 * after a restore of an older backup (or on a fresh database), the next version is still above
 * every version issued before (the daemons' watermarks), as long as the clock did not go back
 * and the old control plane had not run ahead of its clock (over 1000 versions per second for a
 * long time). The restore also keeps the higher of the live and the backed-up counter. See
 * docs/operations/backup-restore.md.
 */
export async function bumpVersion(db: Db, now: number): Promise<number> {
  const row = await db
    .updateTable('meta')
    .set({
      version: sql<number>`case when version + 1 > cast(${now} as bigint) then version + 1 else cast(${now} as bigint) end`,
      issued_at: now,
    })
    .where('id', '=', 1)
    .returning('version')
    .executeTakeFirstOrThrow();
  return Number(row.version);
}

/** Reserves the next overlay host index. Run inside the enrolment transaction. */
export async function takeHostIndex(db: Db): Promise<{ index: number; ulaPrefix: string }> {
  const row = await db
    .updateTable('meta')
    .set((eb) => ({ next_host: eb('next_host', '+', 1) }))
    .where('id', '=', 1)
    .returning(['next_host', 'ula_prefix'])
    .executeTakeFirstOrThrow();
  return { index: Number(row.next_host) - 1, ulaPrefix: row.ula_prefix };
}
