/**
 * The control plane's audit tables and their migration (`0003_audit_log`, registered in
 * db/migrations.ts). Dialect-neutral like the other migrations.
 */
import type { Kysely, Migration } from 'kysely';

/** One audit record per row; see {@link ControlAuditRecord} for the meaning of each column. */
export interface AuditLogTable {
  /** 1-based sequence number (primary key: two writers can never both append the same one). */
  seq: number;
  at: string;
  type: string;
  /** JSON object. */
  data: string;
  prev: string;
  hash: string;
  /** Raw Ed25519 public key (base64) of the control-plane key that signed `hash`. */
  public_key: string;
  /** Ed25519 signature (base64) over the record signing context ‖ `hash`. */
  signature: string;
}

/** The signed head: one row (id 1), the daemon's head format with `node` = `control-plane`. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
  at: string;
  public_key: string;
  signature: string;
}

/** The audit tables as Kysely types them (part of `ControlDatabase`). */
export interface AuditTables {
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
}

/** Creates `audit_log` and `audit_head`. */
export const auditMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('audit_log')
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('prev', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('audit_head').execute();
    await db.schema.dropTable('audit_log').execute();
  },
};
