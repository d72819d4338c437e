/**
 * A restore recorded in the audit log: the `control.restore` record is appended in the restore's
 * own transaction, after the backup's rows (its audit log included) are in, so the restored log
 * continues the backup's chain and stays verifiable. The record says what the replaced log held
 * (records and head hash), so the records lost since the backup are counted.
 */
import { basename } from 'node:path';
import type { ControlKey } from '../control-key.js';
import type { OpenDatabase } from '../db/open.js';
import { runTransaction } from '../store/transaction.js';
import { auditAction } from '../audit/audit-context.js';
import { controlAuditSigner, dbInt } from '../audit/audit-chain.js';
import type { BackupPayload } from './format.js';
import { restoreSnapshot, type RestoreResult } from './snapshot.js';

/** {@link restoreSnapshot} with its `control.restore` audit record. @throws as restoreSnapshot. */
export async function restoreAudited(
  database: OpenDatabase,
  key: ControlKey,
  payload: BackupPayload,
  file: string,
): Promise<RestoreResult> {
  const live = await runTransaction(
    database.db,
    database.engine,
    async (trx) => {
      const head = await trx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
      return head ? { records: dbInt(head.seq), headHash: head.hash } : { records: 0, headHash: null };
    },
    { readOnlySnapshot: true },
  );
  const backupRecords = payload.tables.audit_log?.length ?? 0;
  const { result } = await auditAction(
    controlAuditSigner(key),
    {
      type: 'control.restore',
      actor: 'cli',
      data: {
        file: basename(file),
        backupCreatedAt: payload.createdAt,
        backupVersion: payload.version,
        backupAuditRecords: backupRecords,
        replacedAuditRecords: live.records,
        replacedAuditHead: live.headHash,
        lostAuditRecords: Math.max(0, live.records - backupRecords),
      },
      fromResult: (r) => {
        const x = r as Partial<RestoreResult>;
        return { version: x.version, previousVersion: x.previousVersion, nodes: x.nodes, authKeys: x.authKeys };
      },
    },
    () => restoreSnapshot(database, payload),
  );
  return result;
}
