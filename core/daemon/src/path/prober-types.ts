import type { Clock, Endpoint, Logger, Metrics, NodeId } from '@rustynet/plugin-api';
import type { ProbeChannel } from './probe-protocol.js';
import type { ProbeTransport } from './probe-transport.js';

/* Shapes, options and defaults of the prober (`prober.ts`, which re-exports them). */

/** A node the prober knows: every other node of the netmap. */
export interface ProbePeer {
  id: NodeId;
  /** The node's Ed25519 identity public key, raw 32 bytes in base64 (netmap `identityKey`). */
  identityKey: string;
  /** Where its daemon answers probes (first endpoint host, netmap `probePort`); absent: never pinged. */
  target?: Endpoint;
}

/** Outcome of the last PING to a peer, see `DirectPathProber.takeResult`. */
export type ProbeResult = 'reply' | 'miss' | 'pending' | 'none';

/** What `DirectPathProber.takeResult` reports. */
export interface ProbeOutcome {
  result: ProbeResult;
  /** Round trip of the answered PING, ms (`reply`). */
  rttMs?: number;
  /**
   * Round trip of an earlier PING that was already scored a miss but was answered since (a slow,
   * not a broken, path), ms.
   */
  lateRttMs?: number;
}

/** Why a received datagram was dropped (label of `rustynet_path_probe_dropped_total`). */
export type ProbeDropReason =
  | 'malformed'
  | 'wrong_channel'
  | 'wrong_receiver'
  | 'unknown_sender'
  | 'stale'
  | 'replayed'
  | 'rate_limited'
  | 'bad_signature'
  | 'unsolicited'
  | 'wrong_sender'
  | 'wrong_source';

/** Default accepted distance (ms) between a probe's timestamp and the receiver's clock. */
export const DEFAULT_PROBE_MAX_SKEW_MS = 30_000;
/** Default per-sender signature-check budget: burst and refill per second. */
export const DEFAULT_PROBE_VERIFY_BURST = 16;
export const DEFAULT_PROBE_VERIFY_RATE = 20;

/** Options of `DirectPathProber`. */
export interface ProberOptions {
  selfId: NodeId;
  /** Ed25519 signature (64 bytes) of its input by this node's identity key. */
  sign: (data: Uint8Array) => Uint8Array;
  clock: Clock;
  transport: ProbeTransport;
  /**
   * The path this prober measures (default `direct`): it sends and accepts only that channel's
   * message types. The relay prober's targets are pseudo endpoints `{ host: <node id>, port: 0 }`.
   */
  channel?: ProbeChannel;
  /** Largest |timestamp - now| accepted, ms (default {@link DEFAULT_PROBE_MAX_SKEW_MS}). */
  maxSkewMs?: number;
  /** Signature checks one claimed sender may cost: burst (default 16) and per second (default 20). */
  verifyBurst?: number;
  verifyRatePerSecond?: number;
  logger?: Logger;
  /** Host metrics; the prober registers `rustynet_path_probe_*` counters. */
  metrics?: Metrics;
  /** Called for each accepted PONG (diagnostics, tests). */
  onReply?: (peer: NodeId, rttMs: number) => void;
}
