/**
 * `rustynet control audit verify` / `list` as library calls, and recording an action that runs
 * outside the server (backup): they open the database themselves, like backup and restore, so
 * they work while no instance is running (after a disaster, before a restore).
 */
import { join } from 'node:path';
import type { AuditSigner } from '@rustynet/daemon';
import { DB_FILE, openDatabaseSpec, type OpenDatabase } from '../db/open.js';
import { runTransaction } from '../store/transaction.js';
import { appendAuditRecord, type ControlAuditRecord } from './audit-chain.js';
import { readAuditRows, verifyAuditRows, type ControlAuditVerification } from './audit-verify.js';

/** Where the state is and which keys to trust. */
export interface AuditDataOptions {
  dataDir: string;
  /** `postgres://` URL or SQLite path; default `<dataDir>/control.db`. */
  database?: string;
  /** Raw Ed25519 public keys (base64) whose signatures count: the current key, plus retired ones. */
  trustedKeys: readonly string[];
}

async function withDatabase<T>(opts: { dataDir: string; database?: string }, fn: (d: OpenDatabase) => Promise<T>): Promise<T> {
  const database = await openDatabaseSpec(opts.database ?? join(opts.dataDir, DB_FILE));
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

/** Reads the log and head in one consistent snapshot and verifies them. @throws RustynetError `STORAGE_FAILED`. */
export async function verifyAuditDatabase(database: OpenDatabase, trustedKeys: readonly string[]): Promise<ControlAuditVerification> {
  const { records, head, bad } = await runTransaction(database.db, database.engine, (trx) => readAuditRows(trx), {
    readOnlySnapshot: true,
  });
  return verifyAuditRows(records, head, trustedKeys, bad);
}

/**
 * Verifies the control plane's audit log (chain, record signatures, signed head).
 * @returns the verification (the caller turns `ok: false` into `AUDIT_TAMPERED`, see `auditTamperedError`).
 * @throws RustynetError `STORAGE_FAILED`.
 */
export function verifyControlAudit(opts: AuditDataOptions): Promise<ControlAuditVerification> {
  return withDatabase(opts, (d) => verifyAuditDatabase(d, opts.trustedKeys));
}

/**
 * Lists records (oldest first) with `seq` > `after`, at most `limit`, and the verification of
 * the whole log (a listing never hides that the log is broken).
 */
export function listControlAudit(
  opts: AuditDataOptions & { after?: number; limit?: number },
): Promise<{ records: ControlAuditRecord[]; verification: ControlAuditVerification }> {
  return withDatabase(opts, async (d) => {
    const { records, head, bad } = await runTransaction(d.db, d.engine, (trx) => readAuditRows(trx), { readOnlySnapshot: true });
    const verification = verifyAuditRows(records, head, opts.trustedKeys, bad);
    const after = opts.after ?? 0;
    const picked = records.filter((r) => r.seq > after).slice(0, opts.limit ?? Number.MAX_SAFE_INTEGER);
    return { records: picked, verification };
  });
}

/** Appends one record in its own write transaction (for actions that change nothing else, e.g. a backup). */
export function recordAudit(
  database: OpenDatabase,
  signer: AuditSigner,
  type: string,
  data: Record<string, unknown>,
): Promise<ControlAuditRecord> {
  return runTransaction(database.db, database.engine, (trx) => appendAuditRecord(trx, signer, type, data));
}
