/**
 * Relay allocations (the fast path, docs/relay.md "Kernel fast path"): messages a registered node
 * uses to ask the relay for a per-peer port. The backend then sends its raw datagrams straight to
 * `relay address:allocation port`, and the relay host's kernel forwards them to the peer's
 * registered backend address (nftables), with no relay header and no userspace hop.
 *
 * ```
 * ALLOCATE  | 01 | 0f | backend port (u16) | len (u8) | peer node id | [preferred allocation port (u16)] |   client -> server
 * ALLOCATED | 01 | 10 | allocation port (u16) | len (u8) | peer node id |  server -> client
 * ```
 * The optional preferred port (>= {@link MIN_PREFERRED_PORT}) is the port the client had before
 * (a relay restart): the relay takes it again when it is free, so the backend's endpoint stays valid.
 * An ALLOCATED port of 0 means "no fast path" (kernel forwarding off or failed, a limit, the peer
 * unknown): the client keeps the framed DATA path.
 */
import { PROTOCOL_VERSION, isNodeId } from './protocol.js';

/** Message types of the allocation exchange (same version byte as the v1 protocol). */
export const AllocationMessageType = {
  /** client -> server: allocate a port for relaying to a peer; names the backend's UDP port. */
  ALLOCATE: 0x0f,
  /** server -> client: the allocation port for that peer (0: no fast path). */
  ALLOCATED: 0x10,
} as const;

/** Smallest preferred allocation port a client may ask for (the start of Linux's ephemeral range). */
export const MIN_PREFERRED_PORT = 32768;

/** An ALLOCATE or ALLOCATED message: a port (1..65535; 0 in ALLOCATED = refused) and the peer. */
export interface AllocationMessage {
  port: number;
  peer: string;
  /** ALLOCATE only: the allocation port the client asks for again (>= MIN_PREFERRED_PORT), if any. */
  preferred?: number;
}

/** Encodes ALLOCATE (`type` ALLOCATE) or ALLOCATED. @throws RangeError for a bad port or peer id. */
export function encodeAllocation(type: number, port: number, peer: string, preferred?: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0..65535, got ${port}`);
  if (!isNodeId(peer)) throw new RangeError('peer must be a node id');
  if (preferred !== undefined && (!Number.isInteger(preferred) || preferred < MIN_PREFERRED_PORT || preferred > 65535)) {
    throw new RangeError(`preferred must be ${MIN_PREFERRED_PORT}..65535, got ${preferred}`);
  }
  const buf = Buffer.allocUnsafe(5 + peer.length + (preferred === undefined ? 0 : 2));
  if (preferred !== undefined) buf.writeUInt16BE(preferred, 5 + peer.length);
  buf[0] = PROTOCOL_VERSION;
  buf[1] = type;
  buf.writeUInt16BE(port, 2);
  buf[4] = peer.length;
  buf.write(peer, 5, 'latin1');
  return buf;
}

/** Decodes ALLOCATE / ALLOCATED of `type`; undefined when the layout or the node id is bad. */
export function decodeAllocation(buf: Buffer, type: number): AllocationMessage | undefined {
  if (buf.length < 6 || buf[0] !== PROTOCOL_VERSION || buf[1] !== type) return undefined;
  const len = buf[4];
  const withPreferred = type === AllocationMessageType.ALLOCATE && buf.length === 7 + len;
  if (buf.length !== 5 + len && !withPreferred) return undefined;
  const peer = buf.toString('latin1', 5, 5 + len);
  if (!isNodeId(peer)) return undefined;
  if (!withPreferred) return { port: buf.readUInt16BE(2), peer };
  const preferred = buf.readUInt16BE(5 + len);
  return preferred >= MIN_PREFERRED_PORT ? { port: buf.readUInt16BE(2), peer, preferred } : undefined;
}
