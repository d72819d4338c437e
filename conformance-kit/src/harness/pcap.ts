/**
 * A minimal reader of the pcap files {@link Capture} writes on the underlay (`eth0`, Ethernet
 * link type): the IPv4 UDP datagrams, with time, addresses, ports and payload.
 */

/** One IPv4 packet of a capture (first fragments and unfragmented packets). */
export interface Ip4Packet {
  /** Capture time in ms since the epoch. */
  timeMs: number;
  src: string;
  dst: string;
  /** IP protocol number (1 ICMP, 6 TCP, 17 UDP, ...). */
  protocol: number;
  /** The packet from its transport header on, as captured. */
  l4: Buffer;
}

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
 * The IPv4 packets of a pcap file (classic format, either byte order, µs or ns timestamps,
 * Ethernet link type). Other packets, later fragments and truncated records are skipped.
 * @throws Error when `bytes` is not a pcap file of link type Ethernet.
 */
export function ip4Packets(bytes: Buffer): Ip4Packet[] {
  if (bytes.length < 24) return [];
  const magicLE = bytes.readUInt32LE(0);
  const le = magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d;
  const magic = le ? magicLE : bytes.readUInt32BE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a pcap file');
  const nano = magic === 0xa1b23c4d;
  const u32 = (off: number): number => (le ? bytes.readUInt32LE(off) : bytes.readUInt32BE(off));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`pcap link type ${u32(20)} is not Ethernet`);
  const out: Ip4Packet[] = [];
  for (let off = 24; off + 16 <= bytes.length;) {
    const timeMs = u32(off) * 1000 + Math.floor(u32(off + 4) / (nano ? 1e6 : 1e3));
    const incl = u32(off + 8);
    const rec = off + 16;
    off = rec + incl;
    if (off > bytes.length || incl < 14 + 20) continue;
    let l3 = rec + 12;
    let ethType = bytes.readUInt16BE(l3);
    if (ethType === 0x8100) {
      l3 += 4;
      ethType = bytes.readUInt16BE(l3);
    }
    l3 += 2;
    if (ethType !== 0x0800 || (bytes[l3] ?? 0) >> 4 !== 4) continue;
    const ihl = ((bytes[l3] ?? 0) & 0x0f) * 4;
    if ((bytes.readUInt16BE(l3 + 6) & 0x1fff) !== 0) continue;
    out.push({
      timeMs,
      src: ip4(bytes, l3 + 12),
      dst: ip4(bytes, l3 + 16),
      protocol: bytes[l3 + 9] ?? 0,
      l4: bytes.subarray(Math.min(off, l3 + ihl), off),
    });
  }
  return out;
}

/**
 * The IPv4 UDP datagrams of a pcap file, see {@link ip4Packets}.
 * @throws Error when `bytes` is not a pcap file of link type Ethernet.
 */
export function udpPackets(bytes: Buffer): UdpPacket[] {
  return ip4Packets(bytes)
    .filter((p) => p.protocol === 17 && p.l4.length >= 8)
    .map((p) => ({
      timeMs: p.timeMs,
      src: p.src,
      dst: p.dst,
      sport: p.l4.readUInt16BE(0),
      dport: p.l4.readUInt16BE(2),
      payload: p.l4.subarray(8, Math.max(8, Math.min(p.l4.length, p.l4.readUInt16BE(4)))),
    }));
}
