/**
 * The control-plane backup file: one JSON object (written 0600)
 *
 *     { "format": "rustynet-control-backup", "formatVersion": 1,
 *       "payload": "<JSON text of a BackupPayload>", "sha256": "<hex of the payload's UTF-8>",
 *       "keyId": "...", "publicKey": "<base64 raw Ed25519>", "signature": "<base64>" }
 *
 * The signature is Ed25519 (node:crypto) by the control plane's netmap signing key over
 * `BACKUP_SIGNING_CONTEXT` followed by the payload bytes; the context keeps a backup
 * signature from ever being taken for a netmap's or a request's. The checksum catches an
 * accidental change with a plain message; the signature catches a deliberate one. A key
 * rotation can later verify against a list of trusted keys (the file names its `keyId`).
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { RustynetError } from '@rustynet/plugin-api';
import { keyIdOf, privateKeyFromPem } from '@rustynet/daemon';
import type { ControlKey } from '../control-key.js';

/** `format` of a backup file. */
export const BACKUP_FORMAT = 'rustynet-control-backup';
/** Current `formatVersion`. */
export const BACKUP_FORMAT_VERSION = 1;
/** Domain separation prefix of the signed bytes. */
export const BACKUP_SIGNING_CONTEXT = 'rustynet-control-backup-v1\n';

/** A table's rows, as plain JSON values (numbers as numbers, text as strings, null). */
export type BackupRow = Record<string, string | number | null>;

/** What a backup holds: every table, read in one consistent snapshot. */
export interface BackupPayload {
  /** ISO time of the snapshot. */
  createdAt: string;
  /** Engine it was taken from (`sqlite` or `postgres`); restores go to either. */
  engine: string;
  /** Names of the migrations the schema had (see db/migrations.ts). */
  migrations: string[];
  /** The netmap version at the snapshot. */
  version: number;
  /**
   * `audit_log` and `audit_head` (the audit log, see audit/audit-chain.ts) are absent in backups
   * made before it; `signing_keys` and `signing_key_acks` (the signing-key rotation state, public
   * keys only, see keys/rotation-store.ts) in backups made before they were backed up.
   */
  tables: {
    meta: BackupRow[];
    auth_keys: BackupRow[];
    nodes: BackupRow[];
    audit_log?: BackupRow[];
    audit_head?: BackupRow[];
    signing_keys?: BackupRow[];
    signing_key_acks?: BackupRow[];
  };
}

/** The envelope as stored. */
interface BackupFile {
  format: string;
  formatVersion: number;
  payload: string;
  sha256: string;
  keyId: string;
  publicKey: string;
  signature: string;
}

function signingBytes(payload: string): Buffer {
  return Buffer.concat([Buffer.from(BACKUP_SIGNING_CONTEXT, 'utf8'), Buffer.from(payload, 'utf8')]);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Serialises, checksums and signs `payload`; returns the file text. */
export function sealBackup(payload: BackupPayload, key: ControlKey): string {
  const text = JSON.stringify(payload);
  const file: BackupFile = {
    format: BACKUP_FORMAT,
    formatVersion: BACKUP_FORMAT_VERSION,
    payload: text,
    sha256: sha256Hex(text),
    keyId: key.keyId,
    publicKey: key.publicKey,
    signature: sign(null, signingBytes(text), privateKeyFromPem(key.privateKeyPem)).toString('base64'),
  };
  return `${JSON.stringify(file, null, 1)}\n`;
}

function invalid(message: string, field: string): RustynetError {
  return new RustynetError('BACKUP_INVALID', `backup refused, nothing restored: ${message}`, { field });
}

function rawEd25519(b64: string): KeyObject {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32) throw invalid('publicKey is not a 32-byte Ed25519 key', 'publicKey');
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/**
 * Checks a backup file's text: envelope shape, SHA-256 checksum, then the Ed25519 signature
 * against `trustedPublicKey` (the control plane's key, base64 raw), and returns the payload.
 * @throws RustynetError `BACKUP_INVALID` naming the failing field (`format`, `sha256`,
 *   `publicKey`, `signature`, `payload`).
 */
export function openBackup(text: string, trustedPublicKey: string): BackupPayload {
  let file: Partial<BackupFile>;
  try {
    file = JSON.parse(text) as Partial<BackupFile>;
  } catch {
    throw invalid('the file is not JSON (truncated or changed?)', 'format');
  }
  if (file === null || typeof file !== 'object' || file.format !== BACKUP_FORMAT)
    throw invalid('not a Rustynet control-plane backup', 'format');
  if (file.formatVersion !== BACKUP_FORMAT_VERSION) {
    throw invalid(
      `format version ${String(file.formatVersion)} is not supported (this build reads ${BACKUP_FORMAT_VERSION})`,
      'formatVersion',
    );
  }
  for (const f of ['payload', 'sha256', 'keyId', 'publicKey', 'signature'] as const) {
    if (typeof file[f] !== 'string') throw invalid(`${f} is missing`, f);
  }
  const { payload, sha256, publicKey, signature } = file as BackupFile;
  if (sha256Hex(payload) !== sha256) throw invalid('SHA-256 checksum mismatch: the file was changed or damaged', 'sha256');
  if (publicKey !== trustedPublicKey) {
    throw invalid(`signed by key ${String(file.keyId)}, not by this control plane's key ${keyIdOf(trustedPublicKey)}`, 'publicKey');
  }
  if (!verify(null, signingBytes(payload), rawEd25519(trustedPublicKey), Buffer.from(signature, 'base64'))) {
    throw invalid("the signature does not verify with this control plane's key", 'signature');
  }
  const parsed = JSON.parse(payload) as BackupPayload;
  const t = (parsed as Partial<BackupPayload> | null)?.tables;
  if (!t || !Array.isArray(t.meta) || !Array.isArray(t.auth_keys) || !Array.isArray(t.nodes) || t.meta.length !== 1) {
    throw invalid('payload lacks its tables', 'payload');
  }
  if (!Array.isArray(parsed.migrations)) throw invalid('payload lacks its migrations', 'payload.migrations');
  for (const t of ['audit_log', 'audit_head', 'signing_keys', 'signing_key_acks'] as const) {
    if (t in parsed.tables && !Array.isArray(parsed.tables[t])) throw invalid(`payload.tables.${t} is not a list`, `payload.tables.${t}`);
  }
  return parsed;
}
