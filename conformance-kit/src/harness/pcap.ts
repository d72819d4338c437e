/**
 * A minimal reader of the pcap files {@link Capture} writes on the underlay (`eth0`, Ethernet
 * link type): the IPv4 UDP datagrams, with time, addresses, ports and payload.
 */

/** One IPv4 UDP datagram of a capture. */
export interface UdpPacket {
  /** Capture time in ms since the epoch. */
  timeMs: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;

function ip4(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * The IPv4 UDP datagrams of a pcap file (classic format, either byte order, µs or ns
 * timestamps, Ethernet link type). Other packets and truncated records are skipped.
 * @throws Error when `bytes` is not a pcap file of link type Ethernet.
 */
export function udpPackets(bytes: Buffer): UdpPacket[] {
  if (bytes.length < 24) return [];
  const magicLE = bytes.readUInt32LE(0);
  const le = magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d;
  const magic = le ? magicLE : bytes.readUInt32BE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a pcap file');
  const nano = magic === 0xa1b23c4d;
  const u32 = (off: number): number => (le ? bytes.readUInt32LE(off) : bytes.readUInt32BE(off));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`pcap link type ${u32(20)} is not Ethernet`);
  const out: UdpPacket[] = [];
  for (let off = 24; off + 16 <= bytes.length;) {
    const timeMs = u32(off) * 1000 + Math.floor(u32(off + 4) / (nano ? 1e6 : 1e3));
    const incl = u32(off + 8);
    const rec = off + 16;
    off = rec + incl;
    if (off > bytes.length || incl < 14 + 20 + 8) continue;
    let l3 = rec + 12;
    let ethType = bytes.readUInt16BE(l3);
    if (ethType === 0x8100) {
      l3 += 4;
      ethType = bytes.readUInt16BE(l3);
    }
    l3 += 2;
    if (ethType !== 0x0800 || (bytes[l3] ?? 0) >> 4 !== 4) continue;
    const ihl = ((bytes[l3] ?? 0) & 0x0f) * 4;
    if (bytes[l3 + 9] !== 17) continue;
    const fragOff = bytes.readUInt16BE(l3 + 6) & 0x1fff;
    if (fragOff !== 0) continue;
    const l4 = l3 + ihl;
    if (l4 + 8 > off) continue;
    const len = bytes.readUInt16BE(l4 + 4);
    out.push({
      timeMs,
      src: ip4(bytes, l3 + 12),
      dst: ip4(bytes, l3 + 16),
      sport: bytes.readUInt16BE(l4),
      dport: bytes.readUInt16BE(l4 + 2),
      payload: bytes.subarray(l4 + 8, Math.min(off, l4 + Math.max(8, len))),
    });
  }
  return out;
}
