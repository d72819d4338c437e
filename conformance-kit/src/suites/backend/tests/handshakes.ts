/**
 * Handshake packets of the reference protocols, recognised in underlay UDP payloads, so that a
 * test can assert that an operation caused no new handshake on the wire.
 */
import type { UdpPacket } from '../../../harness/pcap.js';

/** OpenVPN opcodes (top 5 bits of the first byte) of data packets; every other opcode is control. */
const OPENVPN_DATA_OPCODES = new Set([6, 9]);

/**
 * Whether `p` is a handshake packet of `protocol` (the manifest's `backend.protocol`):
 * WireGuard initiation, response or cookie reply; any OpenVPN control-channel packet.
 * @returns undefined for a protocol the kit does not know (no wire check possible).
 */
export function isHandshake(protocol: string | undefined, p: UdpPacket): boolean | undefined {
  const b = p.payload;
  if (protocol === 'wireguard') return b.length >= 4 && [1, 2, 3].includes(b[0] ?? 0) && b[1] === 0 && b[2] === 0 && b[3] === 0;
  if (protocol === 'openvpn') return b.length > 0 && !OPENVPN_DATA_OPCODES.has((b[0] ?? 0) >> 3);
  return undefined;
}
