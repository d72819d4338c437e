/**
 * The control plane's audit log: hash-chained records in the `audit_log` table, in the daemon's
 * record format (`seq`, `at`, `type`, `data`, `prev`, `hash` = SHA-256 of the RFC 8785 JSON of
 * the others, {@link auditRecordHash}), plus two things the database home needs:
 * - every record's `hash` is signed with the control-plane key, so a record edited with the
 *   chain recomputed after it is named exactly (its signature no longer verifies);
 * - the head (the daemon's {@link AuditHead} with `node` = `control-plane`) lives in the
 *   one-row `audit_head` table and is replaced in the same transaction as the append, so there
 *   is never an unsigned tail: any record after the head, or a head past the last record, is
 *   tampering.
 * Appends run inside the change's own write transaction (see audit-context.ts), under the
 * PostgreSQL write lock: two instances can never fork the chain (and `seq` is the primary key).
 */
import { sign } from 'node:crypto';
import { AUDIT_GENESIS, auditRecordHash, privateKeyFromPem, signAuditHead, type AuditSigner } from '@rustynet/daemon';
import type { ControlKey } from '../control-key.js';
import type { Db } from '../store/meta.js';

export { AUDIT_GENESIS } from '@rustynet/daemon';

/** `node` of the control plane's head. */
export const CONTROL_AUDIT_NODE = 'control-plane';
/** Domain separation of a record signature (the key also signs netmaps, backups and heads). */
export const AUDIT_RECORD_SIGNING_CONTEXT = 'rustynet-control-audit-record-v1\0';

/** Kinds of control-plane audit events. */
export type ControlAuditType =
  | 'authkey.create'
  | 'authkey.revoke'
  | 'node.enrol'
  | 'node.rename'
  | 'node.tags'
  | 'node.expire'
  | 'node.delete'
  | 'acl.set'
  | 'acl.canary'
  | 'acl.promote'
  | 'acl.rollback'
  | 'control.backup'
  | 'control.restore'
  | (string & { readonly auditType?: never });

/** One record as read back. */
export interface ControlAuditRecord {
  seq: number;
  /** ISO time. */
  at: string;
  type: string;
  data: Record<string, unknown>;
  /** `hash` of the previous record; 64 zeros for the first. */
  prev: string;
  /** SHA-256 hex (see {@link auditRecordHash}). */
  hash: string;
  /** Signer's raw Ed25519 public key, base64. */
  publicKey: string;
  /** Ed25519 signature, base64, over {@link recordSigningBytes}. */
  signature: string;
}

/** The bytes a record signature covers: the context ‖ the record's hash (hex, ASCII). */
export function recordSigningBytes(hash: string): Buffer {
  return Buffer.from(`${AUDIT_RECORD_SIGNING_CONTEXT}${hash}`, 'ascii');
}

/** An integer column as a number (PostgreSQL returns bigint as text). */
export function dbInt(v: unknown): number {
  return Number(v);
}

/** An {@link AuditSigner} over the control-plane key (the PEM stays in here). */
export function controlAuditSigner(key: ControlKey): AuditSigner {
  const priv = privateKeyFromPem(key.privateKeyPem);
  return { publicKey: () => key.publicKey, sign: (data) => sign(null, data, priv) };
}

/** Values never stored in a record: pre-auth key text, PEM private keys. */
const SECRET_TEXT = /^rnk_|-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/** Field names never stored (a private key, a signature secret, a pre-auth key). */
const SECRET_FIELD = /^(key|authKey|privateKey|privateKeyPem|secret|password|presharedKey)$/i;

/**
 * A JSON copy of `data` without secrets: fields named like a secret and strings that look like
 * a pre-auth key or a private key become `"[redacted]"`. The callers never pass secrets; this
 * is the last guard.
 */
export function scrubAuditData(data: unknown): Record<string, unknown> {
  const walk = (v: unknown, field: string): unknown => {
    if (SECRET_FIELD.test(field)) return '[redacted]';
    if (typeof v === 'string') return SECRET_TEXT.test(v) ? '[redacted]' : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, ''));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  const out = walk(JSON.parse(JSON.stringify(data ?? {})) as unknown, '');
  return out !== null && typeof out === 'object' && !Array.isArray(out) ? (out as Record<string, unknown>) : { value: out };
}

/**
 * Appends one record inside `trx` (a write transaction: on PostgreSQL the write lock is held)
 * and replaces the signed head. Returns the record.
 */
export async function appendAuditRecord(
  trx: Db,
  signer: AuditSigner,
  type: string,
  data: Record<string, unknown>,
  now = Date.now(),
): Promise<ControlAuditRecord> {
  const last = await trx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
  const body = {
    seq: last ? dbInt(last.seq) + 1 : 1,
    at: new Date(now).toISOString(),
    type,
    data: scrubAuditData(data),
    prev: last?.hash ?? AUDIT_GENESIS,
  };
  const hash = auditRecordHash(body);
  const publicKey = signer.publicKey();
  const signature = Buffer.from(signer.sign(recordSigningBytes(hash))).toString('base64');
  await trx
    .insertInto('audit_log')
    .values({ ...body, data: JSON.stringify(body.data), hash, public_key: publicKey, signature })
    .execute();
  const head = signAuditHead({ node: CONTROL_AUDIT_NODE, seq: body.seq, hash, at: body.at }, signer);
  const row = { seq: head.seq, hash: head.hash, at: head.at, public_key: head.publicKey, signature: head.signature };
  const updated = await trx.updateTable('audit_head').set(row).where('id', '=', 1).executeTakeFirst();
  if (updated.numUpdatedRows === 0n)
    await trx
      .insertInto('audit_head')
      .values({ id: 1, ...row })
      .execute();
  return { ...body, hash, publicKey, signature };
}
