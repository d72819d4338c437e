/**
 * Error helpers of the control plane: stable codes from @rustynet/plugin-api, HTTP statuses,
 * and the mapping of storage failures (disk full, I/O) to `STORAGE_FAILED`.
 */
import { RustynetError, isRustynetError, type ErrorCode } from '@rustynet/plugin-api';

/** Why a credential was refused (`details.reason` of `AUTH_FAILED`). */
export type AuthFailure =
  | 'auth-key-unknown'
  | 'auth-key-used'
  | 'auth-key-expired'
  | 'challenge-unknown'
  | 'challenge-expired'
  | 'signature-invalid'
  | 'timestamp-stale'
  | 'nonce-replayed'
  | 'headers-missing'
  | 'node-expired'
  | 'node-key-expired'
  | 'rotation-proof-invalid';

/** An `AUTH_FAILED` error with `details.reason`. */
export function authFailed(reason: AuthFailure, message: string): RustynetError {
  return new RustynetError('AUTH_FAILED', message, { details: { reason } });
}

/** An `UNKNOWN_PEER` error for a node id, name or identity key the control plane does not know. */
export function unknownNode(ref: string, field = 'node'): RustynetError {
  return new RustynetError('UNKNOWN_PEER', `no node ${JSON.stringify(ref)}`, { field });
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_INPUT: 400,
  NETMAP_INVALID: 400,
  KEY_INVALID: 400,
  AUTH_FAILED: 401,
  PERMISSION_DENIED: 403,
  UNKNOWN_PEER: 404,
  TIMEOUT: 504,
  STORAGE_FAILED: 507,
  STORAGE_CONFLICT: 503,
  KEY_ROTATION_PENDING: 409,
};

/** The HTTP status for an error code (500 for codes without a mapping). */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

const STORAGE_CODES = new Set(['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);

/**
 * True for a PostgreSQL SQLSTATE of class 08 (connection exception), 53 (insufficient
 * resources: disk full, out of memory, too many connections), 57P (server shut down) or 58
 * (system error, e.g. I/O), per the PostgreSQL manual's appendix A "PostgreSQL Error Codes".
 */
function isPostgresStorageState(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code) && (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || code.startsWith('58'));
}

/**
 * True when `err` is a disk / I/O failure of SQLite or the file system, or PostgreSQL being
 * unreachable, out of space or shut down.
 */
export function isStorageFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') {
    const msg = err instanceof Error ? err.message : '';
    return /Connection terminated|Client has encountered a connection error/.test(msg);
  }
  return NET_CODES.has(code) || isPostgresStorageState(code) || [...STORAGE_CODES].some((c) => code === c || code.startsWith(`${c}_`));
}

/**
 * Passes RustynetErrors through; turns storage failures into `STORAGE_FAILED` (naming the
 * underlying code) and anything else into `INTERNAL`.
 */
export function toRustynetError(err: unknown): RustynetError {
  if (isRustynetError(err)) return err;
  if (isStorageFailure(err)) {
    const code = String((err as { code?: unknown }).code);
    return new RustynetError('STORAGE_FAILED', `storage failed (${code}): nothing was stored`, { cause: err, details: { cause: code } });
  }
  return new RustynetError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}
