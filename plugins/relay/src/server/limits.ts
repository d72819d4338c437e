/** Limits of a relay server, its drop reasons and counters. */
import { invalidInput } from '@rustynet/plugin-api';
import { MAX_UDP_PAYLOAD } from '../protocol.js';

/** Limits of a relay server. Rates are per second; sizes in bytes; times in milliseconds. */
export interface RelayLimits {
  /** Sessions (addresses) one node may hold at once; more registrations get REJECT SESSION_LIMIT. Default 4. */
  maxSessionsPerNode: number;
  /** Sessions in total; more registrations get REJECT BUSY. Default 10 000. */
  maxSessions: number;
  /** A session without any datagram from its address for this long expires. Default 30 000. */
  sessionTimeoutMs: number;
  /** Keepalive interval the server recommends to clients in REGISTERED. Default 10 000. */
  keepaliveIntervalMs: number;
  /** Width of a return-routability token time bucket; a token is accepted in its bucket and the next. Default 10 000. */
  tokenWindowMs: number;
  /** DATA packets per second one node may send (shared by its sessions). Default 50 000. */
  packetsPerSecond: number;
  /** Packet burst (token bucket capacity). Default = packetsPerSecond. */
  burstPackets: number;
  /** DATA bytes (whole datagrams) per second one node may send. Default 62 500 000 (500 Mbit/s). */
  bytesPerSecond: number;
  /** Byte burst; at least one maximal datagram. Default = max(bytesPerSecond, 65 507). */
  burstBytes: number;
  /** Signature verifications per second, all nodes together (CPU guard). Default 1 000. */
  registrationsPerSecond: number;
  /** REJECT NOT_REGISTERED answers per second, all addresses together (reflection guard). Default 100. */
  rejectsPerSecond: number;
  /** Signed CHALLENGE_IDs per second, all addresses together (CPU guard of a relay with an identity key). Default 2 000. */
  challengeSignaturesPerSecond: number;
}

/** Default {@link RelayLimits}. */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxSessionsPerNode: 4,
  maxSessions: 10_000,
  sessionTimeoutMs: 30_000,
  keepaliveIntervalMs: 10_000,
  tokenWindowMs: 10_000,
  packetsPerSecond: 50_000,
  burstPackets: 50_000,
  bytesPerSecond: 62_500_000,
  burstBytes: 62_500_000,
  registrationsPerSecond: 1_000,
  rejectsPerSecond: 100,
  challengeSignaturesPerSecond: 2_000,
});

/** Why a datagram was dropped (the `reason` label of `relay_drops_total`). */
export const DROP_REASONS = [
  /** Shorter than the 2-byte header. */
  'short',
  /** Version byte is not 1. */
  'bad_version',
  /** Type byte is not a known message type. */
  'unknown_type',
  /** A type only the server sends (CHALLENGE, REGISTERED, REJECT, KEEPALIVE_ACK). */
  'unexpected_type',
  /** Length or fields do not match the message layout. */
  'malformed',
  /** HELLO shorter than 96 bytes (would allow amplification). */
  'hello_too_small',
  /** Return-routability token missing, expired, or not minted for this address. */
  'bad_token',
  /** REGISTER names a node not in the netmap / allowlist. */
  'unknown_node',
  /** REGISTER signature does not verify. */
  'bad_signature',
  /** The node holds `maxSessionsPerNode` sessions. */
  'session_limit',
  /** The server holds `maxSessions` sessions. */
  'server_full',
  /** Global signature-verification rate exceeded. */
  'register_rate_limited',
  /** DATA or KEEPALIVE from an address without a session. */
  'not_registered',
  /** DATA for a node without a live session. */
  'unknown_destination',
  /** DATA addressed to the sending node itself. */
  'self_destination',
  /** The sending node's packet or byte token bucket is empty. */
  'rate_limited',
  /** A reply to an unvalidated address would exceed what it sent (never expected). */
  'amplification',
  /** The socket refused a send. */
  'send_failed',
  /** HELLO_ID over the `challengeSignaturesPerSecond` budget (relay identity). */
  'sign_rate_limited',
] as const;
/** One of {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Counters of a relay server; all monotonically increasing except `sessions` and `nodes`. */
export interface RelayCounters {
  /** Live sessions (registered addresses). */
  sessions: number;
  /** Nodes with at least one live session. */
  nodes: number;
  /** Datagrams / bytes received, all kinds. */
  packetsIn: number;
  bytesIn: number;
  /** Datagrams / bytes sent, all kinds. */
  packetsOut: number;
  bytesOut: number;
  /** DATA datagrams / payload bytes forwarded between nodes. */
  packetsForwarded: number;
  bytesForwarded: number;
  /** Successful registrations. */
  registrations: number;
  /** Bytes received from / sent to addresses without a session (anti-amplification accounting). */
  unvalidatedBytesIn: number;
  unvalidatedBytesOut: number;
  /** Dropped datagrams by reason. */
  drops: Record<DropReason, number>;
}

/** Validates and completes limits. @throws RustynetError INVALID_INPUT (`limits.<name>`). */
export function resolveLimits(partial: Partial<RelayLimits> | undefined): RelayLimits {
  const l: RelayLimits = { ...DEFAULT_RELAY_LIMITS };
  if (partial !== undefined) {
    if (typeof partial !== 'object' || partial === null) throw invalidInput('limits', 'must be an object');
    for (const [k, v] of Object.entries(partial)) {
      if (!(k in DEFAULT_RELAY_LIMITS)) throw invalidInput(`limits.${k}`, 'unknown limit');
      if (v === undefined) continue;
      if (typeof v !== 'number' || !(v > 0)) throw invalidInput(`limits.${k}`, 'must be a positive number (Infinity allowed)');
      l[k as keyof RelayLimits] = v;
    }
    if (partial.burstPackets === undefined && partial.packetsPerSecond !== undefined) l.burstPackets = l.packetsPerSecond;
    if (partial.burstBytes === undefined && partial.bytesPerSecond !== undefined)
      l.burstBytes = Math.max(l.bytesPerSecond, MAX_UDP_PAYLOAD);
  }
  for (const k of ['maxSessionsPerNode', 'maxSessions', 'sessionTimeoutMs', 'keepaliveIntervalMs', 'tokenWindowMs'] as const) {
    if (!Number.isSafeInteger(l[k])) throw invalidInput(`limits.${k}`, 'must be a positive integer');
  }
  if (l.burstBytes < MAX_UDP_PAYLOAD && l.bytesPerSecond !== Infinity)
    throw invalidInput('limits.burstBytes', `must be at least ${MAX_UDP_PAYLOAD} (one maximal datagram)`);
  return l;
}

/** Relay counters, all zero. */
export function zeroCounters(): RelayCounters {
  const c = { sessions: 0, nodes: 0, packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, packetsForwarded: 0, bytesForwarded: 0 };
  return { ...c, registrations: 0, unvalidatedBytesIn: 0, unvalidatedBytesOut: 0, drops: zeroDrops() };
}

/** Drop counters, all zero. */
export function zeroDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}
