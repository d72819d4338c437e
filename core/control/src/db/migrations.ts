/**
 * Versioned schema migrations, run by Kysely's Migrator at start. Dialect-neutral (no raw
 * SQL), so the PostgreSQL dialect can reuse them. Append new migrations; never edit old ones.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { auditMigration } from '../audit/audit-schema.js';
import { m0002NodeKeyIssued } from './migration-node-keys.js';
import { m0005RequestNonces } from './migration-request-nonces.js';

const m0001: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('meta')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('issued_at', 'bigint', (c) => c.notNull())
      .addColumn('ula_prefix', 'text', (c) => c.notNull())
      .addColumn('next_host', 'integer', (c) => c.notNull())
      .addColumn('acl', 'text')
      .addColumn('canary_acl', 'text')
      .addColumn('canary_tag', 'text')
      .execute();
    await db.schema
      .createTable('auth_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('hash', 'text', (c) => c.notNull().unique())
      .addColumn('reusable', 'integer', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('used_at', 'bigint')
      .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('nodes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('identity_key', 'text', (c) => c.notNull().unique())
      .addColumn('keys', 'text', (c) => c.notNull())
      .addColumn('endpoints', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('ipv4', 'text', (c) => c.notNull().unique())
      .addColumn('ipv6', 'text', (c) => c.notNull().unique())
      .addColumn('probe_port', 'integer')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('expired_at', 'bigint')
      .addColumn('auth_key_id', 'text', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('nodes').execute();
    await db.schema.dropTable('auth_keys').execute();
    await db.schema.dropTable('meta').execute();
  },
};

/** Control-plane signing-key rotation (keys/rotation-store.ts). */
const m0004SigningKeys: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('signing_keys')
      .addColumn('public_key', 'text', (c) => c.primaryKey())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('announced_version', 'bigint')
      .addColumn('switched_version', 'bigint')
      .execute();
    await db.schema
      .createTable('signing_key_acks')
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('node_id', 'text', (c) => c.notNull())
      .addColumn('phase', 'text', (c) => c.notNull())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('signing_key_acks_pk', ['public_key', 'node_id', 'phase'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('signing_key_acks').execute();
    await db.schema.dropTable('signing_keys').execute();
  },
};

/** All migrations by name; names sort in the order they run. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_init': m0001,
  '0002_node_key_issued': m0002NodeKeyIssued,
  '0003_audit_log': auditMigration,
  '0004_signing_keys': m0004SigningKeys,
  '0005_request_nonces': m0005RequestNonces,
};

/** A Kysely {@link MigrationProvider} over {@link MIGRATIONS} (no files to find at run time). */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...MIGRATIONS }),
};
