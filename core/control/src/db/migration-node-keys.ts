/**
 * Migration `0002_node_key_issued`: adds `nodes.key_issued_at`, the time (Unix ms) a node last
 * proved its keys (enrolment, re-enrolment or key rotation). The node key lifetime of the
 * control plane (`--node-key-lifetime`) counts from it. Dialect-neutral (SQLite and PostgreSQL).
 * Rows from before the migration keep NULL: their keys count as issued at `created_at`.
 */
import type { Kysely, Migration } from 'kysely';

/** The migration (append-only; never edit once released). */
export const m0002NodeKeyIssued: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('nodes').addColumn('key_issued_at', 'bigint').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('nodes').dropColumn('key_issued_at').execute();
  },
};
