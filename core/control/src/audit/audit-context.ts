/**
 * Recording an action in the audit log in the same transaction as the change it describes.
 *
 * The caller (admin API, enrolment, backup, restore) runs the action inside
 * {@link auditAction}; the first write transaction that the action runs through
 * `runTransaction` (store/transaction.ts) appends the record just before it commits
 * ({@link appendPendingAudit}), with data taken from the request and from the transaction's
 * result. So a change is never stored without its record, nor a record without its change, and
 * the append happens under the same PostgreSQL write lock. An action that fails (nothing
 * stored) leaves no record. The context travels with the async call chain (AsyncLocalStorage),
 * so background work (re-signing, sync) is never recorded by mistake.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditSigner } from '@rustynet/daemon';
import type { Db } from '../store/meta.js';
import { appendAuditRecord, type ControlAuditRecord, type ControlAuditType } from './audit-chain.js';

/** An event to record. */
export interface AuditEvent {
  type: ControlAuditType;
  /** Who: `admin` (the admin socket), `node:<id>`, `cli` (backup, restore). */
  actor: string;
  /** Fields known before the change. */
  data?: Record<string, unknown>;
  /** Fields taken from the result of the transaction that records the event (its unit of work's return value). */
  fromResult?: (result: unknown) => Record<string, unknown>;
}

interface Pending {
  event: AuditEvent;
  signer: AuditSigner;
  /** Set once the transaction carrying the record committed. */
  record?: ControlAuditRecord;
  /** The record appended in the transaction now running (not yet committed). */
  staged?: ControlAuditRecord;
}

const storage = new AsyncLocalStorage<Pending>();

/**
 * Runs `fn`, recording `event` in the first write transaction it commits.
 * @returns `fn`'s result and the committed record (undefined when `fn` wrote nothing).
 */
export async function auditAction<T>(
  signer: AuditSigner,
  event: AuditEvent,
  fn: () => Promise<T>,
): Promise<{ result: T; record?: ControlAuditRecord }> {
  const pending: Pending = { event, signer };
  const result = await storage.run(pending, fn);
  return { result, ...(pending.record && { record: pending.record }) };
}

/** Hook of `runTransaction`: appends the pending event (if any, once) inside `trx` before commit. */
export async function appendPendingAudit(trx: Db, result: unknown): Promise<void> {
  const p = storage.getStore();
  if (!p || p.record) return;
  const data = { actor: p.event.actor, ...p.event.data, ...(p.event.fromResult ? p.event.fromResult(result) : {}) };
  p.staged = await appendAuditRecord(trx, p.signer, p.event.type, data);
}

/** Hook of `runTransaction`: the transaction committed; the staged record is now the action's record. */
export function auditCommitted(): void {
  const p = storage.getStore();
  if (p?.staged && !p.record) p.record = p.staged;
  if (p) delete p.staged;
}
