/**
 * `rustynet control backup` / `restore` as library calls: they open the database themselves
 * (online: the server may keep running; running instances pick a restore up within their sync
 * interval, see store/change-sync.ts) and use the control plane's signing key from its data
 * directory (or `keyFile`). See docs/operations/backup-restore.md.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { atomicWriteFile, keyIdOf, publicKeyFromPrivatePem, readPrivateKeyFile } from '@rustynet/daemon';
import { CONTROL_KEY_FILE, type ControlKey } from '../control-key.js';
import { DB_FILE, openDatabaseSpec } from '../db/open.js';
import { toRustynetError } from '../errors.js';
import { openBackup, sealBackup } from './format.js';
import { readSnapshot, type RestoreResult } from './snapshot.js';
import { restoreAudited } from './restore-audited.js';
import { controlAuditSigner } from '../audit/audit-chain.js';
import { recordAudit } from '../audit/audit-operations.js';

/** Where the control plane keeps its state. */
export interface ControlDataOptions {
  /** Data directory (holds `control-plane.key`, and `control.db` with SQLite). */
  dataDir: string;
  /** `postgres://` URL or SQLite path; default `<dataDir>/control.db`. */
  database?: string;
  /** Signing key; default `<dataDir>/control-plane.key` (must exist: never created here). */
  keyFile?: string;
}

/** What a backup wrote. */
export interface BackupResult {
  file: string;
  version: number;
  nodes: number;
  authKeys: number;
  bytes: number;
  keyId: string;
}

/** Reads the control-plane key (never created here). @throws RustynetError `KEY_INVALID`. */
export async function readControlKey(opts: ControlDataOptions): Promise<ControlKey> {
  const privateKeyPem = await readPrivateKeyFile(opts.keyFile ?? join(opts.dataDir, CONTROL_KEY_FILE));
  const publicKey = publicKeyFromPrivatePem(privateKeyPem);
  return { privateKeyPem, publicKey, keyId: keyIdOf(publicKey) };
}

/**
 * Writes a consistent, checksummed, signed snapshot of the whole database to `out` (0600,
 * atomically: a backup stopped halfway leaves no partial file at `out`).
 * @throws RustynetError `KEY_INVALID` (key missing or not 0600), `STORAGE_FAILED`.
 */
export async function backupControlPlane(opts: ControlDataOptions & { out: string }): Promise<BackupResult> {
  const key = await readControlKey(opts);
  const database = await openDatabaseSpec(opts.database ?? join(opts.dataDir, DB_FILE));
  try {
    const payload = await readSnapshot(database);
    const text = sealBackup(payload, key);
    try {
      await atomicWriteFile(opts.out, text);
    } catch (err) {
      throw toRustynetError(err);
    }
    await recordAudit(database, controlAuditSigner(key), 'control.backup', {
      actor: 'cli',
      file: opts.out,
      version: payload.version,
      sha256: createHash('sha256').update(text, 'utf8').digest('hex'),
      nodes: payload.tables.nodes.length,
      auditRecords: payload.tables.audit_log?.length ?? 0,
    });
    return {
      file: opts.out,
      version: payload.version,
      nodes: payload.tables.nodes.length,
      authKeys: payload.tables.auth_keys.length,
      bytes: Buffer.byteLength(text),
      keyId: key.keyId,
    };
  } finally {
    await database.close();
  }
}

/**
 * Verifies `file` (checksum, then signature with this control plane's key) before the
 * database is even opened, then replaces the whole state in one transaction.
 * @throws RustynetError `INVALID_INPUT` (field `file`: unreadable), `BACKUP_INVALID`,
 *   `KEY_INVALID`, `STORAGE_FAILED`: in every case nothing was restored.
 */
export async function restoreControlPlane(opts: ControlDataOptions & { file: string }): Promise<RestoreResult> {
  let text: string;
  try {
    text = await readFile(opts.file, 'utf8');
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `cannot read ${opts.file}: ${(cause as Error).message}`, { field: 'file', cause });
  }
  const key = await readControlKey(opts);
  const payload = openBackup(text, key.publicKey);
  const database = await openDatabaseSpec(opts.database ?? join(opts.dataDir, DB_FILE));
  try {
    return await restoreAudited(database, key, payload, opts.file);
  } finally {
    await database.close();
  }
}
