/**
 * Verifying the control plane's audit log as stored: the chain (sequence 1..n, each `prev` the
 * previous `hash`, each `hash` recomputed), each record's signature by a trusted control-plane
 * key, and the signed head (signature by a trusted key; it must cover exactly the last record).
 * What each tampering looks like:
 * - an edited record: its hash no longer matches (or, with the chain recomputed, its signature
 *   no longer verifies): that record is named;
 * - a deleted or reordered record: a sequence gap or a `prev` mismatch at that place;
 * - records cut from the end: the head covers more records than there are;
 * - a forged or replaced head: its signature fails, or it does not match the last record.
 */
import { checkAuditHeadSignature, type AuditHead } from '@rustynet/daemon';
import { RustynetError } from '@rustynet/plugin-api';
import { auditRecordHash } from '@rustynet/daemon';
import type { Db } from '../store/meta.js';
import { AUDIT_GENESIS, CONTROL_AUDIT_NODE, dbInt, recordSigningBytes, type ControlAuditRecord } from './audit-chain.js';
import { verifyEd25519 } from '../auth/request-signature.js';

/** Result of {@link verifyAuditRows}. */
export interface ControlAuditVerification {
  ok: boolean;
  /** Records in the log. */
  records: number;
  /** Records checked good before the first bad one (all when `ok`). */
  verified: number;
  /** Sequence number (1-based position) of the first bad record; absent when `ok`. */
  brokenAt?: number;
  /** Why it failed. */
  reason?: string;
  /** The head as stored (without its signature), when there is one. */
  head?: { seq: number; hash: string; at: string; publicKey: string };
}

/** Reads the whole log (in `seq` order) and the head row. */
export async function readAuditRows(
  db: Db,
): Promise<{ records: ControlAuditRecord[]; head?: AuditHead; bad?: { seq: number; reason: string } }> {
  const rows = await db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
  const records: ControlAuditRecord[] = [];
  let bad: { seq: number; reason: string } | undefined;
  for (const r of rows) {
    let data: Record<string, unknown> = {};
    try {
      const v = JSON.parse(r.data) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      data = v as Record<string, unknown>;
    } catch {
      bad ??= { seq: dbInt(r.seq), reason: `record ${dbInt(r.seq)}: data is not a JSON object` };
    }
    records.push({
      seq: dbInt(r.seq),
      at: r.at,
      type: r.type,
      data,
      prev: r.prev,
      hash: r.hash,
      publicKey: r.public_key,
      signature: r.signature,
    });
  }
  const h = await db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
  const head: AuditHead | undefined = h && {
    v: 1,
    node: CONTROL_AUDIT_NODE,
    seq: dbInt(h.seq),
    hash: h.hash,
    at: h.at,
    publicKey: h.public_key,
    signature: h.signature,
  };
  return { records, ...(head && { head }), ...(bad && { bad }) };
}

/**
 * Verifies records and head against `trustedKeys` (raw Ed25519 public keys, base64: the current
 * control-plane key and any retired ones whose records are still in the log). Never throws.
 */
export function verifyAuditRows(
  records: ControlAuditRecord[],
  head: AuditHead | undefined,
  trustedKeys: readonly string[],
  unreadable?: { seq: number; reason: string },
): ControlAuditVerification {
  const trusted = new Set(trustedKeys);
  const headView = head && { seq: head.seq, hash: head.hash, at: head.at, publicKey: head.publicKey };
  const fail = (i: number, reason: string): ControlAuditVerification => ({
    ok: false,
    records: records.length,
    verified: i,
    brokenAt: i + 1,
    reason,
    ...(headView && { head: headView }),
  });
  let prev = AUDIT_GENESIS;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r === undefined) break;
    const n = i + 1;
    if (unreadable?.seq === r.seq) return fail(i, unreadable.reason);
    if (r.seq !== n) return fail(i, `record ${n}: found sequence ${r.seq} (a record was deleted or reordered)`);
    if (r.prev !== prev)
      return fail(i, `record ${n}: prev does not match the hash of record ${n - 1} (a record was deleted, reordered or edited)`);
    if (auditRecordHash(r) !== r.hash) return fail(i, `record ${n} was edited (its hash does not match its content)`);
    if (!trusted.has(r.publicKey)) return fail(i, `record ${n} is signed by an untrusted key ${r.publicKey}`);
    if (!verifyEd25519(r.publicKey, recordSigningBytes(r.hash), r.signature)) {
      return fail(i, `record ${n} was edited or forged (its signature does not verify; the chain after it was recomputed)`);
    }
    prev = r.hash;
  }
  const n = records.length;
  if (!head) return n === 0 ? { ok: true, records: 0, verified: 0 } : fail(n - 1, 'the signed head is missing (deleted)');
  if (!trusted.has(head.publicKey)) return fail(Math.min(head.seq, n), `the head is signed by an untrusted key ${head.publicKey}`);
  const sigErr = checkAuditHeadSignature(head);
  if (sigErr !== undefined || head.node !== CONTROL_AUDIT_NODE)
    return fail(Math.min(Math.max(head.seq - 1, 0), n), `forged head: ${sigErr ?? 'wrong node'}`);
  if (head.seq > n) return fail(n, `truncated: the signed head covers ${head.seq} records, the log has ${n}`);
  if (head.seq < n) return fail(head.seq, `record ${head.seq + 1} and later are not covered by the signed head (appended without the key)`);
  if (head.hash !== (n === 0 ? AUDIT_GENESIS : records[n - 1]?.hash)) return fail(n - 1, `record ${n} differs from the signed head`);
  return { ok: true, records: n, verified: n, head: headView as NonNullable<typeof headView> };
}

/**
 * The `AUDIT_TAMPERED` error for a failed verification: message and `details` name the first
 * bad record (`brokenAt`) and the reason.
 */
export function auditTamperedError(v: ControlAuditVerification): RustynetError {
  return new RustynetError('AUDIT_TAMPERED', `control-plane audit log tampered at record ${v.brokenAt ?? '?'}: ${v.reason ?? 'unknown'}`, {
    field: `audit_log[${v.brokenAt ?? '?'}]`,
    details: { brokenAt: v.brokenAt, reason: v.reason, records: v.records, verified: v.verified },
  });
}
