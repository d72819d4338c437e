import * as dnsPacket from 'dns-packet';
import type { CompiledZone } from './zone.js';

/**
 * The answering logic, free of sockets: one DNS message in, one decision out. Rules follow
 * RFC 1035 (message format), RFC 2308 (negative answers carry the SOA), RFC 6891 (EDNS0),
 * RFC 4343 (ASCII case-insensitive names) and RFC 8020 (nothing exists below an NXDOMAIN).
 */

/** Response codes used by the server (RFC 1035 4.1.1, RFC 6891 6.1.3 for BADVERS). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended RCODE 16: carried as 1 in the OPT record's upper bits, header RCODE 0. */
  BADVERS: 16,
} as const;
export type RcodeName = keyof typeof RCODE;

const QTYPE = { A: 1, NS: 2, SOA: 6, AAAA: 28, IXFR: 251, AXFR: 252, ANY: 255 } as const;
const QCLASS_IN = 1;
const QCLASS_ANY = 255;

/** UDP payload size this server advertises and caps its UDP answers at (DNS flag day 2020). */
export const SERVER_UDP_PAYLOAD = 1232;
/** Largest UDP answer to a client without EDNS (RFC 1035 4.2.1). */
export const CLASSIC_UDP_PAYLOAD = 512;

/** Zone data plus the values the answers need; swapped as one object on update. */
export interface ZoneSnapshot {
  readonly zone: CompiledZone;
  /** SOA serial (RFC 1982 arithmetic; increases on every update). */
  readonly serial: number;
  /** TTL in seconds of positive answers, NS and SOA. */
  readonly ttl: number;
  /** Negative-caching TTL in seconds (SOA MINIMUM). */
  readonly negativeTtl: number;
}

/** A query whose header and question were read. */
export interface ParsedQuery {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  /** Raw bytes of the question section (name, type, class), echoed verbatim in the answer. */
  question: Buffer;
  /** Raw labels of the question name. */
  labels: Buffer[];
  qtype: number;
  qclass: number;
  /** EDNS0 data of the query's OPT record; null without one. */
  edns: { udpPayloadSize: number; version: number } | null;
}

/** What to do with one received message. */
export type Outcome =
  | { kind: 'reply'; bytes: Buffer; rcode: RcodeName }
  /** No answer at all: too short to carry a header, or a response (never answer those). */
  | { kind: 'drop'; reason: 'short' | 'response' }
  /** Out of the zone and a forwarder is configured: the server forwards the raw query. */
  | { kind: 'forward'; query: ParsedQuery };

/** Transport the query came on: UDP answers are size-limited and may be truncated (TC). */
export type Transport = 'udp' | 'tcp';

type Rr = dnsPacket.Answer;

function headerOnly(id: number, flags: number, rcode: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  // QR=1, keep OPCODE and RD from the query, set RCODE.
  b.writeUInt16BE(0x8000 | (flags & 0x7800) | (flags & 0x0100) | (rcode & 0xf), 2);
  return b;
}

/** Reads the single question at offset 12 by hand, so the exact bytes can be echoed. */
function readQuestion(msg: Buffer): { labels: Buffer[]; end: number; qtype: number; qclass: number } | null {
  let off = 12;
  let total = 0;
  const labels: Buffer[] = [];
  for (;;) {
    if (off >= msg.length) return null;
    const len = msg[off++];
    if (len === 0) break;
    // Compression pointers or extended label types in a question are not accepted.
    if ((len & 0xc0) !== 0) return null;
    if (off + len > msg.length) return null;
    total += len + 1;
    if (total > 254) return null;
    labels.push(msg.subarray(off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return null;
  return { labels, end: off + 4, qtype: msg.readUInt16BE(off), qclass: msg.readUInt16BE(off + 2) };
}

/**
 * Reads the header, the question and the EDNS0 OPT record of a query.
 * @returns the parsed query, or an {@link Outcome} when the message is answered (FORMERR,
 *   NOTIMP) or dropped without ever reaching the name lookup.
 */
export function parseQuery(msg: Buffer): ParsedQuery | Outcome {
  if (msg.length < 12) return { kind: 'drop', reason: 'short' };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop', reason: 'response' };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'reply', bytes: headerOnly(id, flags, RCODE.NOTIMP), rcode: 'NOTIMP' };
  const formerr: Outcome = { kind: 'reply', bytes: headerOnly(id, flags, RCODE.FORMERR), rcode: 'FORMERR' };
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(msg);
  } catch {
    return formerr;
  }
  if (msg.readUInt16BE(4) !== 1) return formerr;
  const q = readQuestion(msg);
  if (!q) return formerr;
  const opts = (decoded.additionals ?? []).filter((a): a is dnsPacket.OptAnswer => a?.type === 'OPT');
  if (opts.length > 1) return formerr;
  let edns: ParsedQuery['edns'] = null;
  if (opts.length === 1) {
    const o = opts[0];
    if (o.name !== '.') return formerr;
    edns = { udpPayloadSize: o.udpPayloadSize, version: o.ednsVersion };
  }
  return {
    id,
    opcode,
    rd: (flags & 0x0100) !== 0,
    cd: (flags & 0x0010) !== 0,
    question: msg.subarray(12, q.end),
    labels: q.labels,
    qtype: q.qtype,
    qclass: q.qclass,
    edns,
  };
}

/** Largest UDP answer for this query. */
export function udpLimit(q: ParsedQuery): number {
  if (!q.edns) return CLASSIC_UDP_PAYLOAD;
  return Math.max(CLASSIC_UDP_PAYLOAD, Math.min(q.edns.udpPayloadSize, SERVER_UDP_PAYLOAD));
}

interface BuildOptions {
  aa: boolean;
  answers?: Rr[];
  authorities?: Rr[];
}

/**
 * Encodes a response: our header, the query's question bytes verbatim, then the sections
 * encoded by dns-packet (which does not compress names, so the splice keeps every offset valid).
 * Oversize UDP answers are replaced by a truncated (TC) answer with no records.
 */
export function buildResponse(q: ParsedQuery, rcode: RcodeName, transport: Transport, o: BuildOptions): Outcome {
  const code = RCODE[rcode];
  const encode = (answers: Rr[], authorities: Rr[], tc: boolean): Buffer => {
    const additionals: Rr[] = [];
    if (q.edns) {
      additionals.push({
        type: 'OPT',
        name: '.',
        udpPayloadSize: SERVER_UDP_PAYLOAD,
        extendedRcode: code >> 4,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      });
    }
    const body = dnsPacket.encode({ type: 'response', id: q.id, flags: 0, questions: [], answers, authorities, additionals });
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.id, 0);
    const flags =
      0x8000 | (q.opcode << 11) | (o.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (q.rd ? 0x0100 : 0) | (q.cd ? 0x0010 : 0) | (code & 0xf);
    header.writeUInt16BE(flags, 2);
    header.writeUInt16BE(1, 4);
    body.copy(header, 6, 6, 12);
    return Buffer.concat([header, q.question, body.subarray(12)]);
  };
  let bytes = encode(o.answers ?? [], o.authorities ?? [], false);
  if (transport === 'udp' && bytes.length > udpLimit(q)) bytes = encode([], [], true);
  return { kind: 'reply', bytes, rcode };
}

function soaRecord(s: ZoneSnapshot, owner: string, ttl: number): Rr {
  return {
    type: 'SOA',
    name: owner,
    ttl,
    data: {
      mname: s.zone.zone,
      rname: `hostmaster.${s.zone.zone}`,
      serial: s.serial,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: s.negativeTtl,
    },
  };
}

/** The authority section of a negative answer (RFC 2308 section 3: TTL = min(SOA TTL, MINIMUM)). */
function negativeAuthority(s: ZoneSnapshot): Rr[] {
  return [soaRecord(s, s.zone.zone, Math.min(s.ttl, s.negativeTtl))];
}

/** Whether the query name lies in the zone, and its labels below the apex (lower case). */
function locate(q: ParsedQuery, zone: CompiledZone): string[] | null {
  const n = zone.labels.length;
  if (q.labels.length < n) return null;
  const lower = q.labels.map((l) => l.toString('latin1').toLowerCase());
  for (let i = 0; i < n; i++) if (lower[lower.length - n + i] !== zone.labels[i]) return null;
  return lower.slice(0, lower.length - n);
}

/**
 * Answers one parsed query from the zone snapshot.
 * - apex: SOA, NS (and both for ANY); other types NODATA;
 * - `<label>.<zone>`: A/AAAA (both for ANY) of the node, other types NODATA;
 * - any other name in the zone: NXDOMAIN with the SOA;
 * - out of the zone: `forward` when `forwarding`, else REFUSED;
 * - classes other than IN/ANY, and zone transfers: REFUSED; EDNS version > 0: BADVERS.
 */
export function answer(q: ParsedQuery, snap: ZoneSnapshot, transport: Transport, forwarding: boolean): Outcome {
  if (q.edns && q.edns.version > 0) return buildResponse(q, 'BADVERS', transport, { aa: false });
  const rel = locate(q, snap.zone);
  if (rel === null) {
    return forwarding ? { kind: 'forward', query: q } : buildResponse(q, 'REFUSED', transport, { aa: false });
  }
  if (q.qclass !== QCLASS_IN && q.qclass !== QCLASS_ANY) return buildResponse(q, 'REFUSED', transport, { aa: false });
  if (q.qtype === QTYPE.AXFR || q.qtype === QTYPE.IXFR) return buildResponse(q, 'REFUSED', transport, { aa: false });
  const owner = q.labels.map((l) => l.toString('latin1')).join('.');
  const ttl = snap.ttl;
  if (rel.length === 0) {
    const answers: Rr[] = [];
    if (q.qtype === QTYPE.SOA || q.qtype === QTYPE.ANY) answers.push(soaRecord(snap, owner, ttl));
    if (q.qtype === QTYPE.NS || q.qtype === QTYPE.ANY) answers.push({ type: 'NS', name: owner, ttl, data: snap.zone.zone });
    return buildResponse(
      q,
      'NOERROR',
      transport,
      answers.length ? { aa: true, answers } : { aa: true, authorities: negativeAuthority(snap) },
    );
  }
  const node = rel.length === 1 ? snap.zone.names.get(rel[0]) : undefined;
  if (!node) return buildResponse(q, 'NXDOMAIN', transport, { aa: true, authorities: negativeAuthority(snap) });
  const answers: Rr[] = [];
  if (q.qtype === QTYPE.A || q.qtype === QTYPE.ANY) for (const a of node.v4) answers.push({ type: 'A', name: owner, ttl, data: a });
  if (q.qtype === QTYPE.AAAA || q.qtype === QTYPE.ANY) for (const a of node.v6) answers.push({ type: 'AAAA', name: owner, ttl, data: a });
  if (answers.length === 0) return buildResponse(q, 'NOERROR', transport, { aa: true, authorities: negativeAuthority(snap) });
  return buildResponse(q, 'NOERROR', transport, { aa: true, answers });
}

/** A SERVFAIL for `q` (forwarder timeout or failure). */
export function servfail(q: ParsedQuery, transport: Transport): Outcome {
  return buildResponse(q, 'SERVFAIL', transport, { aa: false });
}

/** A REFUSED for `q` (rate limit with action `refused`). */
export function refused(q: ParsedQuery, transport: Transport): Outcome {
  return buildResponse(q, 'REFUSED', transport, { aa: false });
}

/** Full pipeline for one message: parse, then answer. Never throws for any input bytes. */
export function respond(msg: Buffer, snap: ZoneSnapshot, transport: Transport, forwarding: boolean): Outcome {
  const p = parseQuery(msg);
  if ('kind' in p) return p;
  try {
    return answer(p, snap, transport, forwarding);
  } catch {
    // Encoding can only fail on data we produced; answer SERVFAIL rather than crash.
    return { kind: 'reply', bytes: headerOnly(p.id, 0, RCODE.SERVFAIL), rcode: 'SERVFAIL' };
  }
}
