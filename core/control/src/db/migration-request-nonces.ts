/**
 * Migration `0005_request_nonces`: the table of signed-request nonces shared by every
 * control-plane instance on one PostgreSQL database (auth/shared-nonces.ts). A row is one
 * (identity key, nonce) pair a request used, kept until `expires_at` (Unix ms); the primary key
 * makes recording it atomic, so a nonce used on one instance is refused on every other.
 * Dialect-neutral: SQLite gets the table too (same migrations on both engines) but leaves it
 * empty, since one process serves a SQLite database and its in-memory cache suffices.
 */
import type { Kysely, Migration } from 'kysely';

/** The migration (append-only; never edit once released). */
export const m0005RequestNonces: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('request_nonces')
      .addColumn('identity_key', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('request_nonces_pk', ['identity_key', 'nonce'])
      .execute();
    await db.schema.createIndex('request_nonces_expires_at').on('request_nonces').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('request_nonces').execute();
  },
};
