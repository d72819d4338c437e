/**
 * A minimal reader of classic pcap files (as written by `tcpdump -w`), enough to count the UDP
 * datagrams of a capture by address and port. Format: the libpcap file format
 * (https://www.tcpdump.org/manpages/pcap-savefile.5.html), link types 1 (Ethernet, RFC 894
 * framing, 802.1Q tags skipped), 113 (Linux cooked SLL) and 276 (SLL2); IPv4 (RFC 791) and
 * IPv6 (RFC 8200, no extension headers).
 */

/** One IP packet of a capture. */
export interface PcapPacket {
  /** Capture time, ms since the Unix epoch. */
  timeMs: number;
  /** Source and destination IP address (text form). */
  src: string;
  dst: string;
  /** IP protocol number (17 UDP, 6 TCP, 1 ICMP, 58 ICMPv6). */
  protocol: number;
  /** Ports for UDP and TCP, else undefined. */
  srcPort?: number;
  dstPort?: number;
  /** Transport payload as captured (UDP: the datagram's data; others: after the IP header). */
  payload: Buffer;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/**
 * Parses a pcap file.
 * @returns the IP packets in capture order; non-IP frames are left out.
 * @throws Error when the bytes are not a pcap file (bad magic) or the link type is unsupported.
 *   A truncated last record (tcpdump killed mid-write) is ignored.
 */
export function parsePcap(buf: Buffer): PcapPacket[] {
  if (buf.length < 24) return [];
  const magicLE = buf.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nano = magicLE === 0xa1b23c4d;
  } else if (buf.readUInt32BE(0) === 0xa1b2c3d4 || buf.readUInt32BE(0) === 0xa1b23c4d) {
    le = false;
    nano = buf.readUInt32BE(0) === 0xa1b23c4d;
  } else {
    throw new Error(`not a pcap file (magic ${buf.subarray(0, 4).toString('hex')})`);
  }
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  if (![1, 113, 276].includes(linkType)) throw new Error(`unsupported pcap link type ${linkType}`);
  const out: PcapPacket[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    const start = off + 16;
    off = start + incl;
    if (off > buf.length) break;
    const frame = buf.subarray(start, start + incl);
    let etherType: number;
    let l3: number;
    if (linkType === 1) {
      if (frame.length < 14) continue;
      etherType = frame.readUInt16BE(12);
      l3 = 14;
      while ((etherType === 0x8100 || etherType === 0x88a8) && frame.length >= l3 + 4) {
        etherType = frame.readUInt16BE(l3 + 2);
        l3 += 4;
      }
    } else if (linkType === 113) {
      if (frame.length < 16) continue;
      etherType = frame.readUInt16BE(14);
      l3 = 16;
    } else {
      if (frame.length < 20) continue;
      etherType = frame.readUInt16BE(0);
      l3 = 20;
    }
    const timeMs = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
    let src: string;
    let dst: string;
    let protocol: number;
    let l4: number;
    if (etherType === 0x0800) {
      if (frame.length < l3 + 20) continue;
      const ihl = (frame[l3] & 0x0f) * 4;
      protocol = frame.readUInt8(l3 + 9);
      src = [...frame.subarray(l3 + 12, l3 + 16)].join('.');
      dst = [...frame.subarray(l3 + 16, l3 + 20)].join('.');
      l4 = l3 + ihl;
    } else if (etherType === 0x86dd) {
      if (frame.length < l3 + 40) continue;
      protocol = frame.readUInt8(l3 + 6);
      src = ipv6Text(frame.subarray(l3 + 8, l3 + 24));
      dst = ipv6Text(frame.subarray(l3 + 24, l3 + 40));
      l4 = l3 + 40;
    } else {
      continue;
    }
    const pkt: PcapPacket = { timeMs, src, dst, protocol, payload: frame.subarray(l4) };
    if ((protocol === 17 || protocol === 6) && frame.length >= l4 + 4) {
      pkt.srcPort = frame.readUInt16BE(l4);
      pkt.dstPort = frame.readUInt16BE(l4 + 2);
      if (protocol === 17) pkt.payload = frame.subarray(l4 + 8);
      else pkt.payload = frame.length >= l4 + 13 ? frame.subarray(l4 + (frame[l4 + 12] >> 4) * 4) : Buffer.alloc(0);
    }
    out.push(pkt);
  }
  return out;
}
