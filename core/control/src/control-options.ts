/**
 * The options, constants and request shapes of `ControlService`, apart from the engine.
 */
import type { Logger, NetmapRelay } from '@rustynet/plugin-api';
import type { EnrolSignedFields } from './auth/enrol-signature.js';
import type { DeltaEntry } from './netmap/delta.js';
import type { SignedEntry } from './netmap/netmap-cache.js';

/** Default netmap lifetime: 30 minutes. */
export const DEFAULT_NETMAP_LIFETIME_MS = 30 * 60_000;
/** Share of the netmap lifetime after which a new version is issued (re-signing). */
export const RESIGN_AT = 0.4;
/** Default long-poll hold time: 25 s. */
export const DEFAULT_POLL_TIMEOUT_MS = 25_000;

/** Options of `ControlService.open`. */
export interface ControlServiceOptions {
  /** Data directory (created 0700): database, signing key, admin socket. */
  dataDir: string;
  /** Signing key file; default `<dataDir>/control-plane.key` (created when absent). */
  keyFile?: string;
  /**
   * The database: a `postgres://` URL (several instances may share it), or a SQLite file path.
   * Default: SQLite at `<dataDir>/control.db`.
   */
  database?: string;
  /** Period (ms) of the check for changes made by other instances or a restore; default 1000. */
  syncIntervalMs?: number;
  network?: string;
  dnsZone?: string;
  relays?: NetmapRelay[];
  /** Netmap lifetime (ms); default {@link DEFAULT_NETMAP_LIFETIME_MS}. */
  netmapLifetimeMs?: number;
  /**
   * Node key lifetime (ms): a node's keys expire this long after it last proved them (enrolment
   * or `rotate-keys`); expired nodes drop out of netmaps until they re-authenticate. Default:
   * keys never expire. See nodes/key-expiry.ts.
   */
  nodeKeyLifetimeMs?: number;
  /**
   * Structured logger (pino-style). Records carry node ids, key ids, versions and error codes;
   * never a pre-auth key, a private key or a signature. Default: silent.
   */
  logger?: Logger;
}

/** A logger that drops everything. */
export const SILENT_LOGGER: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => SILENT_LOGGER,
};

/** What an enrolling node sends (validated shape). */
export interface EnrolRequest extends EnrolSignedFields {
  authKey: string;
  /** Ed25519 signature (base64) over {@link enrolSigningBytes}. */
  signature: string;
}

/** The authentication headers of a node request. */
export interface RequestAuth {
  identityKey: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

/** Result of `ControlService.poll`: a newer map, or nothing before the timeout. */
export type PollResult = { kind: 'netmap'; entry: SignedEntry | DeltaEntry } | { kind: 'timeout'; version: number };
