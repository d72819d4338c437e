/**
 * The probe channel of the relay client: PROBE messages carry the daemon's path probes to and
 * from other nodes' daemons through the relay (never to or from a backend), so the daemon can
 * prove a relay path before it moves a peer to it. The payload is opaque here (the daemon signs
 * and checks it) and at most MAX_PROBE_PAYLOAD bytes.
 */
import type { Socket } from 'node:dgram';
import type { Logger, NodeId, RelayPlugin } from '@rustynet/plugin-api';
import { MAX_PROBE_PAYLOAD, MessageType, decodeData, encodeData } from '../protocol.js';
import type { DropCounters } from './drops.js';

/** The handler the daemon set with `onProbe`. */
export type ProbeHandler = Parameters<NonNullable<RelayPlugin['onProbe']>>[0];

/**
 * Sends `payload` as a PROBE to `peer` through `session`.
 * @returns false when `payload` is empty or longer than MAX_PROBE_PAYLOAD (nothing sent).
 */
export function sendProbe(
  session: { socket: Socket; relay: { endpoint: { host: string; port: number } } },
  peer: NodeId,
  payload: Uint8Array,
  done: (err: Error | null) => void,
): boolean {
  if (payload.length < 1 || payload.length > MAX_PROBE_PAYLOAD) return false;
  session.socket.send(encodeData(peer, payload, MessageType.PROBE), session.relay.endpoint.port, session.relay.endpoint.host, done);
  return true;
}

/**
 * Hands a PROBE from the relay to the daemon's handler (a copy of the payload, and the source node
 * id the relay authenticated). Malformed or oversized: dropped `invalid`; no handler: dropped
 * `unknown_peer`.
 * @returns the source node id when it was delivered, else undefined.
 */
export function deliverProbe(msg: Buffer, deps: { drops: DropCounters; log: Logger; onProbe: () => ProbeHandler }): NodeId | undefined {
  const d = decodeData(msg, MessageType.PROBE);
  if (d === undefined || msg.length - d.payloadOffset > MAX_PROBE_PAYLOAD) {
    deps.drops.drop('invalid');
    return undefined;
  }
  const handler = deps.onProbe();
  if (handler === undefined) {
    deps.drops.drop('unknown_peer');
    return undefined;
  }
  try {
    handler(d.nodeId, Buffer.from(msg.subarray(d.payloadOffset)));
  } catch (err) {
    deps.log.warn({ err: (err as Error).message }, 'probe handler failed');
  }
  return d.nodeId;
}
