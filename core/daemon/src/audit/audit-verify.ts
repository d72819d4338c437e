import { readFile } from 'node:fs/promises';
import { AUDIT_GENESIS, auditRecordHash, type AuditRecord } from './audit-record.js';
import { checkAuditHeadSignature, readAuditHead, type AuditHead } from './audit-head.js';

/** Result of {@link verifyAuditLog}. */
export interface AuditVerification {
  ok: boolean;
  /** Records read before the first bad one (all of them when `ok`). */
  records: number;
  /** 1-based line (= expected sequence number) of the first bad record; the head's `seq` + 1 on truncation. */
  brokenAt?: number;
  /** Why the check failed. */
  reason?: string;
  /** The signed head, when one was read (its signature checked). */
  head?: Omit<AuditHead, 'signature'>;
  /** True when a valid signed head covers the log up to `head.seq`. */
  signed: boolean;
  /**
   * Records after the head's checkpoint (a crash between the append and the head write leaves
   * one); they are chained but not yet signed, so they could have been appended by anyone.
   */
  unsignedTail: number;
  /** When the log starts a new segment (its first record is `audit.segment`): that record's data. */
  segment?: Record<string, unknown>;
}

/** Options of {@link verifyAuditLog}. */
export interface VerifyAuditOptions {
  /** The head file (default: none read; then truncation and a rewritten tail go unnoticed). */
  headPath?: string;
  /** The node's identity public key (raw 32 bytes, base64); a head signed by any other key fails. */
  publicKey?: string;
  /** Fail when the log has records but there is no head file (default true when `headPath` is set). */
  requireHead?: boolean;
}

/**
 * Verifies an audit log against its hash chain and, with `headPath`, its signed head:
 * - the chain: sequence numbers 1..n, each `prev` equal to the previous `hash` (the first:
 *   64 zeros), each `hash` recomputed — an edited, deleted or reordered record breaks it;
 * - the head: its Ed25519 signature (by `publicKey` when given), the log holds at least `head.seq`
 *   records (else truncated) and record `head.seq` has hash `head.hash` (else rewritten from some
 *   record onwards, even with a recomputed chain).
 * A missing log file counts as an empty log. Never throws for bad content; rejects only on I/O errors.
 */
export async function verifyAuditLog(path: string, opts: VerifyAuditOptions = {}): Promise<AuditVerification> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const fail = (records: number, brokenAt: number, reason: string, head?: AuditHead): AuditVerification => ({
    ok: false,
    records,
    brokenAt,
    reason,
    signed: false,
    unsignedTail: 0,
    ...(head && { head: withoutSignature(head) }),
  });
  const hashes: string[] = [];
  let segment: Record<string, unknown> | undefined;
  let prev = AUDIT_GENESIS;
  for (let i = 0; i < lines.length; i++) {
    let rec: AuditRecord;
    try {
      rec = JSON.parse(lines[i]) as AuditRecord;
    } catch {
      return fail(i, i + 1, `record ${i + 1} is not JSON`);
    }
    if (!rec || typeof rec !== 'object') return fail(i, i + 1, `record ${i + 1} is not an object`);
    if (rec.seq !== i + 1) return fail(i, i + 1, `record ${i + 1} has sequence ${String(rec.seq)} (a record was deleted or reordered)`);
    if (rec.prev !== prev) return fail(i, i + 1, `record ${i + 1}: prev does not match the previous record's hash`);
    let hash: string;
    try {
      hash = auditRecordHash(rec);
    } catch {
      return fail(i, i + 1, `record ${i + 1} has no JSON representation`);
    }
    if (hash !== rec.hash) return fail(i, i + 1, `record ${i + 1} was edited (hash mismatch)`);
    if (i === 0 && rec.type === 'audit.segment') segment = rec.data;
    hashes.push(rec.hash);
    prev = rec.hash;
  }
  const n = lines.length;
  const base = { records: n, ...(segment && { segment }) };
  if (opts.headPath === undefined) return { ok: true, ...base, signed: false, unsignedTail: n };
  const head = await readAuditHead(opts.headPath);
  if (typeof head === 'string') return fail(n, n + 1, `bad head: ${head}`);
  if (head === undefined) {
    if ((opts.requireHead ?? true) && n > 0) {
      return fail(n, 1, `no signed head (${opts.headPath}): it was deleted, or the log was written without an identity key`);
    }
    return { ok: true, ...base, signed: false, unsignedTail: n };
  }
  const sigErr = checkAuditHeadSignature(head, opts.publicKey);
  if (sigErr) return fail(n, head.seq + 1, `bad head: ${sigErr}`, head);
  if (head.seq > n) {
    return fail(n, n + 1, `truncated: the signed head covers ${head.seq} records, the log has ${n}`, head);
  }
  const atHead = head.seq === 0 ? AUDIT_GENESIS : hashes[head.seq - 1];
  if (atHead !== head.hash) {
    return fail(n, head.seq, `record ${head.seq} differs from the signed checkpoint (the log was rewritten)`, head);
  }
  return { ok: true, ...base, head: withoutSignature(head), signed: true, unsignedTail: n - head.seq };
}

function withoutSignature(h: AuditHead): Omit<AuditHead, 'signature'> {
  return { v: h.v, node: h.node, seq: h.seq, hash: h.hash, at: h.at, publicKey: h.publicKey };
}
