/**
 * The shapes of the relay protocol engine (core.ts): its options, its send function, and the
 * session and per-node state it keeps.
 */
import type { KeyObject } from 'node:crypto';
import type { NodeId } from '@rustynet/plugin-api';
import type { TokenBucket } from '../token-bucket.js';
import type { RelayLimits } from './limits.js';
import type { AllocationHooks } from './allocations.js';

/** Sends a datagram (or a gather list) to `address:port`. Errors are reported via the callback. */
export type SendFn = (msg: Buffer | Buffer[], port: number, address: string, done: (err: Error | null) => void) => void;

/** A registered session: one node at one address:port. */
export interface Session {
  key: string;
  nodeId: string;
  address: string;
  port: number;
  lastSeen: number;
  /** DATA header naming this session's node as the source. */
  sourceHeader: Buffer;
  /** PROBE header naming this session's node as the source. */
  probeHeader: Buffer;
}

/** Per-node state: its sessions and its rate limits. */
export interface NodeState {
  nodeId: string;
  sessions: Session[];
  packets: TokenBucket;
  bytes: TokenBucket;
}

/** Options of `RelayCore` (core.ts). */
export interface RelayCoreOptions {
  /** This relay's id (as in the netmap's `relays[].id`); part of what nodes sign. */
  relayId: string;
  /** Allowed nodes and their Ed25519 identity keys (raw 32 bytes, base64). */
  identityKeys: Readonly<Record<NodeId, string>>;
  limits?: Partial<RelayLimits>;
  /** Time source in ms (injectable for tests). Default `Date.now`. */
  now?: () => number;
  /** HMAC secret for tokens (at least 32 bytes); default 32 random bytes. Never leaves the process. */
  secret?: Uint8Array;
  /**
   * The relay's Ed25519 identity private key (relay identity, docs/relay.md). With it the engine
   * answers HELLO_ID and REGISTER_ID with signed messages; without it they get the unsigned v1
   * answers (which a node expecting a key refuses).
   */
  identityKey?: KeyObject;
  /**
   * The kernel fast path's allocation table (docs/relay.md "Kernel fast path"). Without it every
   * ALLOCATE is answered with port 0 (no fast path), so clients keep the framed DATA path.
   */
  allocations?: AllocationHooks;
  send: SendFn;
}
