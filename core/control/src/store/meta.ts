/**
 * The `meta` row: the persisted netmap version counter and the ACLs. {@link bumpVersion} runs
 * inside the transaction of every change, so a change and its version commit together.
 */
import type { Kysely, Transaction } from 'kysely';
import type { ControlDatabase } from '../db/schema.js';

/** A database handle or an open transaction. */
export type Db = Kysely<ControlDatabase> | Transaction<ControlDatabase>;

/**
 * Increments the persisted version (stamping `issued_at` = `now`) and returns the new one.
 * Run it inside the change's transaction.
 */
export async function bumpVersion(db: Db, now: number): Promise<number> {
  const row = await db
    .updateTable('meta')
    .set((eb) => ({ version: eb('version', '+', 1), issued_at: now }))
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
