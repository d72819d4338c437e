import { canonicalJson, sha256Hex } from '../util/json.js';

/** Kinds of audit events. */
export type AuditEventType =
  | 'daemon.start'
  | 'daemon.stop'
  | 'netmap.accepted'
  | 'netmap.rejected'
  | 'apply'
  | 'apply.failed'
  | 'up'
  | 'down'
  | 'path.switch'
  /** A data-plane fault noticed by the watchdog (`source`: backend or stats). */
  | 'dataplane.fault'
  /** One restore attempt of the whole desired state (`result`: ok or failed). */
  | 'dataplane.restore'
  /** The applied netmap expired with no fresher one; the daemon failed closed. */
  | 'netmap.expired'
  /** `rustynet rotate-keys` installed new identity and backend keys (`identityKey`: the new public key). */
  | 'keys.rotated'
  /**
   * First record of a new chain segment, written when the start-up check found the previous log
   * broken (`reason`, `brokenAt`, `previousLog`: where the broken log was moved).
   */
  | 'audit.segment';

/** One line of the audit log. */
export interface AuditRecord {
  /** 1-based sequence number. */
  seq: number;
  /** ISO time. */
  at: string;
  type: AuditEventType;
  data: Record<string, unknown>;
  /** `hash` of the previous record; 64 zeros for the first. */
  prev: string;
  /** SHA-256 hex over the RFC 8785 canonical JSON of `{seq, at, type, data, prev}`. */
  hash: string;
}

/** `prev` of the first record. */
export const AUDIT_GENESIS = '0'.repeat(64);

/**
 * SHA-256 hex over the RFC 8785 canonical JSON of a record's fields but `hash`. The control
 * plane's audit log (core/control/src/audit) chains its records with the same function, so
 * `type` is any string here.
 */
export function auditRecordHash(r: { seq: number; at: string; type: string; data: Record<string, unknown>; prev: string }): string {
  return sha256Hex(canonicalJson({ seq: r.seq, at: r.at, type: r.type, data: r.data, prev: r.prev }));
}
