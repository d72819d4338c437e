/**
 * @packageDocumentation
 * `@rustynet/control`: the Rustynet control plane. Enrolment with pre-auth keys and signed
 * challenges, overlay address allocation, per-node signed netmaps served by long-poll, an
 * admin API on a unix socket, SQLite (better-sqlite3) through Kysely with versioned migrations.
 * Daemons use {@link ControlClient} (also at `@rustynet/control/client`). See docs/control.md.
 */
export {
  ControlService,
  SILENT_LOGGER,
  RESIGN_AT,
  DEFAULT_NETMAP_LIFETIME_MS,
  DEFAULT_POLL_TIMEOUT_MS,
  type ControlServiceOptions,
  type EnrolRequest,
  type PollResult,
  type RequestAuth,
} from './control-service.js';
export {
  startControlServer,
  parseListen,
  isLoopback,
  ADMIN_SOCKET,
  type ControlServerOptions,
  type RunningControlServer,
} from './server/control-server.js';
export { ControlClient, type ControlClientOptions, type EnrolParams, type EnrolReply } from './client/control-client.js';
export { AdminClient } from './client/admin-client.js';
export {
  ControlStore,
  AUTH_KEY_PREFIX,
  hashAuthKey,
  type CreateAuthKeyOptions,
  type EnrolInput,
  type EnrolResult,
  type NodeSelfUpdate,
} from './store/control-store.js';
export type { AuthKeyInfo, ControlNode, Snapshot } from './store/types.js';
export { openDatabase, DB_FILE, randomUlaPrefix, type OpenDatabase } from './db/open.js';
export { MIGRATIONS, migrationProvider } from './db/migrations.js';
export { hostAddresses, netmapAddresses, OVERLAY_IPV4_CIDR, type HostAddresses } from './addresses.js';
export { parseAclDocument, netmapAcl, type AclDocument, type AclTest } from './acl/document.js';
export { evaluateFlow, runAclTests, type AclNode, type AclTestResult } from './acl/evaluate.js';
export { buildNetmap, variantOf, type AclVariant, type NetmapSettings } from './netmap/build.js';
export { NetmapCache, type SignedEntry } from './netmap/netmap-cache.js';
export { ChangeFeed } from './netmap/change-feed.js';
export { loadOrCreateControlKey, CONTROL_KEY_FILE, CONTROL_PUB_FILE, type ControlKey } from './control-key.js';
export {
  signRequest,
  requestSigningBytes,
  verifyEd25519,
  REQUEST_FRESHNESS_MS,
  REQUEST_SIGNING_CONTEXT,
  HEADER_NODE,
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
} from './auth/request-signature.js';
export { enrolSigningBytes, ENROL_SIGNING_CONTEXT, type EnrolSignedFields } from './auth/enrol-signature.js';
export { authFailed, httpStatusOf, isStorageFailure, toRustynetError, type AuthFailure } from './errors.js';
export { parseDuration } from './duration.js';
export { ControlNetmapSource, REFUSAL_ACTIONS, refusalOf, type ControlNetmapSourceOptions } from './client/control-netmap-source.js';
export { openDatabaseSpec, openPostgresDatabase, type DatabaseEngine } from './db/open.js';
export { isPostgresUrl, redactUrl, CHANGE_CHANNEL } from './db/open-postgres.js';
export { runTransaction, transactionStats, RETRY_SQLSTATES, MAX_ATTEMPTS } from './store/transaction.js';
export { ChangeSync, DEFAULT_SYNC_INTERVAL_MS } from './store/change-sync.js';
export { sealBackup, openBackup, BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type BackupPayload } from './backup/format.js';
export { readSnapshot, restoreSnapshot, type RestoreResult } from './backup/snapshot.js';
export { backupControlPlane, restoreControlPlane, type BackupResult, type ControlDataOptions } from './backup/operations.js';
export {
  appendAuditRecord,
  controlAuditSigner,
  dbInt,
  scrubAuditData,
  recordSigningBytes,
  AUDIT_RECORD_SIGNING_CONTEXT,
  CONTROL_AUDIT_NODE,
  type ControlAuditRecord,
  type ControlAuditType,
} from './audit/audit-chain.js';
export { auditAction, type AuditEvent } from './audit/audit-context.js';
export { adminAuditEvent, enrolAuditEvent } from './audit/audit-events.js';
export { readAuditRows, verifyAuditRows, auditTamperedError, type ControlAuditVerification } from './audit/audit-verify.js';
export { verifyControlAudit, listControlAudit, verifyAuditDatabase, recordAudit, type AuditDataOptions } from './audit/audit-operations.js';
export { readControlKey } from './backup/operations.js';
export { SigningKeyRotation, type RotationStatus, type RotationNodeStatus } from './keys/rotation.js';
export { SigningKeyRing, SIGNING_KEYS_DIR } from './keys/signing-ring.js';
export {
  RotationStore,
  readSigningState,
  NO_ROTATION,
  type SigningState,
  type SigningKeyRole,
  type AckPhase,
} from './keys/rotation-store.js';
export { signingKeysOf } from './keys/announce.js';
