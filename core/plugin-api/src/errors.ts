/**
 * Typed errors with stable codes.
 *
 * Every error that crosses a plugin boundary is a {@link RustynetError} whose `code` is one of
 * {@link ErrorCodes}. Codes are stable API: they never change meaning, and each has a stable
 * number (like CNI's numbered error codes) used as a process exit status hint and in reports.
 * Tools must compare `code`, never `message`.
 *
 * Rule for all plugins: an operation that fails with `INVALID_INPUT`, `UNKNOWN_PEER`,
 * `DUPLICATE_PEER` or `UNSUPPORTED` has changed nothing.
 */

/** Stable error codes and their numbers. See `docs/errors.md` for the full table. */
export const ErrorCodes = {
  /** An operation needs a started instance and the instance is not running. */
  NOT_RUNNING: 10,
  /** `start` was called on an instance that is already running. */
  ALREADY_RUNNING: 11,
  /** An argument failed validation; `field` names it. Nothing changed. */
  INVALID_INPUT: 20,
  /** A peer id was named that the instance does not know. Nothing changed. */
  UNKNOWN_PEER: 21,
  /** The same peer id appears twice in one batch. Nothing changed. */
  DUPLICATE_PEER: 22,
  /**
   * A JSON object carries the same member name twice (I-JSON, RFC 7493 section 2.3); `field`
   * names the member. The document was refused whole: nothing changed.
   */
  DUPLICATE_KEY: 23,
  /** The operation or option is not supported by this plugin (see its capabilities). */
  UNSUPPORTED: 30,
  /** The backend's data plane (binary, kernel, device) failed. */
  BACKEND_FAILED: 40,
  /** A policy plugin failed to apply or remove its rules. */
  POLICY_FAILED: 41,
  /** A DNS plugin failed. */
  DNS_FAILED: 42,
  /** A relay server or client failed. */
  RELAY_FAILED: 43,
  /** An external command exited non-zero or could not be started. */
  COMMAND_FAILED: 44,
  /**
   * Persisting state (the netmap watermark, the last good netmap, an apply's intent) failed, e.g.
   * the disk is full: the change was rolled back (or never made); `details.errno` names the cause.
   */
  STATE_WRITE_FAILED: 45,
  /** Persistent storage failed (disk full, I/O error, read-only): the write was rolled back, nothing stored. */
  STORAGE_FAILED: 46,
  /** A deadline passed. */
  TIMEOUT: 50,
  /** The caller's AbortSignal fired. */
  ABORTED: 51,
  /** No plugin at the given package name or path. */
  PLUGIN_NOT_FOUND: 60,
  /** The plugin's manifest (`rustynet-plugin.json`) is missing or does not match its schema. */
  MANIFEST_INVALID: 61,
  /** Host and plugin share no API version. */
  API_VERSION_MISMATCH: 62,
  /** The plugin's entry module failed to load or does not export `createPlugin`. */
  PLUGIN_LOAD_FAILED: 63,
  /** The plugin's options do not match its `configSchema`. */
  CONFIG_INVALID: 64,
  /**
   * An optional package that a command needs is not installed (e.g. `@rustynet/conformance-kit`,
   * an optional peer of `@rustynet/cli` that only `rustynet plugin test` and `plugin init` load).
   * The message names the package and the `npm install` command that adds it. Nothing changed.
   */
  DEPENDENCY_MISSING: 65,
  /**
   * A file a published package must ship is missing from its installed copy (e.g. the plugin
   * template inside `@rustynet/conformance-kit`): the installation is incomplete or damaged;
   * reinstall the package. Nothing changed.
   */
  PACKAGE_INCOMPLETE: 66,
  /** A netmap failed its JSON Schema. */
  NETMAP_INVALID: 70,
  /** A netmap's signature did not verify against the control-plane key. */
  NETMAP_SIGNATURE_INVALID: 71,
  /** A netmap's `expiresAt` has passed (or `issuedAt` lies in the future). */
  NETMAP_EXPIRED: 72,
  /** A netmap's version is at or below the persisted watermark (replay or rollback). */
  NETMAP_REPLAYED: 73,
  /** A hook tap vetoed the netmap. */
  NETMAP_VETOED: 74,
  /** A netmap is larger than the configured limit; refused before it was parsed. Nothing changed. */
  NETMAP_TOO_LARGE: 75,
  /** A hook tap threw or passed its deadline. */
  HOOK_FAILED: 80,
  /** A key file is missing, malformed, or readable by others than its owner. */
  KEY_INVALID: 90,
  /** The caller lacks the privilege (root, CAP_NET_ADMIN) the operation needs. */
  PERMISSION_DENIED: 91,
  /**
   * A request's credentials were refused: a bad, expired or used pre-auth key, a bad signature,
   * a stale timestamp, a replayed nonce or challenge. `details.reason` names which. Nothing changed.
   */
  AUTH_FAILED: 92,
  /**
   * A release directory failed verification (`rustynet verify-release`): a checksum, the
   * signature over `SHA256SUMS`, an SBOM or the provenance statement. `details.failed` lists
   * each failed check with the file it names.
   */
  RELEASE_INVALID: 93,
  /**
   * The audit log does not match its signed head: a record was edited, deleted or reordered, the
   * log was truncated below the signed checkpoint, or the head's signature does not verify
   * against the node's identity key (the control plane's log: a record or head signature does not
   * verify against the control-plane key). `details` names the first bad record and the reason.
   */
  AUDIT_TAMPERED: 94,
  /** A diagnostic probe (`rustynet ping`) got no answer from the peer within its time-out. */
  PEER_UNREACHABLE: 95,
  /**
   * A control-plane backup file was refused: malformed, its SHA-256 checksum does not match (a
   * changed byte), or its signature does not verify with the control-plane key. Nothing was restored.
   */
  BACKUP_INVALID: 96,
  /**
   * A change kept conflicting with concurrent changes of another control-plane instance on the
   * shared database (serialization failures past the retry limit). Nothing was stored; retry.
   */
  STORAGE_CONFLICT: 97,
  /**
   * A signed netmap delta could not be applied to the last good netmap: its base version or base
   * digest is not the applied map's, an operation names an absent node or member, or the result's
   * digest is not the one signed. Nothing changed; the daemon fetches the full netmap instead.
   * `details.reason` names which.
   */
  NETMAP_DELTA_INAPPLICABLE: 106,
  /**
   * A control-plane signing-key rotation step was refused: the switch to the announced key while
   * nodes have not seen it (`details.pending` names them), or a step out of order (no key
   * announced, nothing to retire). Nothing changed.
   */
  KEY_ROTATION_PENDING: 100,
  /**
   * The relay's kernel fast path (nftables forwarding of allocations, docs/relay.md) could not be
   * set up or changed: `nft` missing or failing, no CAP_NET_ADMIN, IP forwarding off, or a listen
   * address it cannot use. The relay keeps serving on the userspace path; `details.reason` says why.
   */
  KERNEL_FORWARDING_FAILED: 110,
  /** An invariant broke inside Rustynet itself: a bug. */
  INTERNAL: 99,
} as const;

/** One of the stable error code names. */
export type ErrorCode = keyof typeof ErrorCodes;

/** Optional structured context carried by a {@link RustynetError}. */
export interface RustynetErrorOptions {
  /** Dotted path of the input field at fault, e.g. `peers[3].allowedIps[0]`. */
  field?: string;
  /** Name of the plugin that raised or caused the error. */
  plugin?: string;
  /** Machine-readable details (never secrets). */
  details?: Record<string, unknown>;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The one error class of the plugin API.
 *
 * Identify errors with {@link isRustynetError} rather than `instanceof`: a plugin and its host
 * may load different copies of this package.
 */
export class RustynetError extends Error {
  /** Always `RustynetError`: how {@link isRustynetError} recognises errors from any copy of this package. */
  override readonly name = 'RustynetError';
  /** Stable code name. */
  readonly code: ErrorCode;
  /** Stable number of {@link code}. */
  readonly errno: number;
  /** Dotted path of the input field at fault, e.g. `upsert[2].allowedIps[0]`; absent when no single field is. */
  readonly field?: string;
  /** Name of the plugin that raised or caused the error, when known. */
  readonly plugin?: string;
  /** Machine-readable details (never secrets), e.g. `exitCode` and `stderr` of `COMMAND_FAILED`. */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: RustynetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = ErrorCodes[code];
    if (options.field !== undefined) this.field = options.field;
    if (options.plugin !== undefined) this.plugin = options.plugin;
    if (options.details !== undefined) this.details = options.details;
  }

  /** A JSON-safe view, as used in status output and conformance reports. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      errno: this.errno,
      message: this.message,
      ...(this.field !== undefined && { field: this.field }),
      ...(this.plugin !== undefined && { plugin: this.plugin }),
      ...(this.details !== undefined && { details: this.details }),
    };
  }
}

/**
 * True when `err` is a {@link RustynetError} (from any copy of this package), optionally with
 * the given code.
 */
export function isRustynetError(err: unknown, code?: ErrorCode): err is RustynetError {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; code?: unknown };
  if (e.name !== 'RustynetError' || typeof e.code !== 'string' || !(e.code in ErrorCodes)) return false;
  return code === undefined || e.code === code;
}

/** Shorthand for `new RustynetError('INVALID_INPUT', message, { field })`. */
export function invalidInput(field: string, message: string, details?: Record<string, unknown>): RustynetError {
  return new RustynetError('INVALID_INPUT', `${field}: ${message}`, { field, ...(details && { details }) });
}
