/**
 * The relay server's protocol engine, without sockets: feed it datagrams with
 * {@link RelayCore.onDatagram}; it answers through the `send` function it was given. The UDP
 * wrapper is `createRelayServer` (server.ts). Keeping the engine socket-free lets property tests
 * throw arbitrary bytes at the exact code the server runs.
 */
import { createHmac, createPublicKey, randomBytes, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { invalidInput, type NodeId } from '@rustynet/plugin-api';
import {
  CHALLENGE_BODY_SIZE,
  HEADER_SIZE,
  HELLO_MIN_SIZE,
  KEEPALIVE_SIZE,
  MAX_UDP_PAYLOAD,
  MessageType,
  NONCE_SIZE,
  PROTOCOL_VERSION,
  RejectReason,
  TOKEN_MAC_CONTEXT,
  decodeRegister,
  encodeChallenge,
  encodeDataHeader,
  encodeKeepalive,
  encodeRegistered,
  encodeReject,
  isNodeId,
  registerSignatureInput,
} from '../protocol.js';
import { TokenBucket } from '../token-bucket.js';

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

/** Sends a datagram (or a gather list) to `address:port`. Errors are reported via the callback. */
export type SendFn = (msg: Buffer | Buffer[], port: number, address: string, done: (err: Error | null) => void) => void;

interface Session {
  key: string;
  nodeId: string;
  address: string;
  port: number;
  lastSeen: number;
  /** DATA header naming this session's node as the source. */
  sourceHeader: Buffer;
}

interface NodeState {
  nodeId: string;
  sessions: Session[];
  packets: TokenBucket;
  bytes: TokenBucket;
}

/** Options of {@link RelayCore}. */
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
  send: SendFn;
}

/** Parses an allowlist into public keys. @throws RustynetError INVALID_INPUT naming the entry. */
export function parseIdentityKeys(keys: Readonly<Record<string, unknown>>, field = 'identityKeys'): Map<string, { b64: string; key: KeyObject }> {
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw invalidInput(field, 'must be an object {nodeId: base64 Ed25519 key}');
  const out = new Map<string, { b64: string; key: KeyObject }>();
  for (const [id, b64] of Object.entries(keys)) {
    if (!isNodeId(id)) throw invalidInput(`${field}.${id}`, 'not a node id (DNS label)');
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(b64)) throw invalidInput(`${field}.${id}`, 'must be a raw 32-byte Ed25519 public key in base64');
    const raw = Buffer.from(b64, 'base64');
    if (raw.length !== 32) throw invalidInput(`${field}.${id}`, 'must be a raw 32-byte Ed25519 public key in base64');
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    } catch (cause) {
      throw invalidInput(`${field}.${id}`, `not a valid Ed25519 public key: ${(cause as Error).message}`);
    }
    out.set(id, { b64, key });
  }
  return out;
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
      (l as unknown as Record<string, number>)[k] = v;
    }
    if (partial.burstPackets === undefined && partial.packetsPerSecond !== undefined) l.burstPackets = l.packetsPerSecond;
    if (partial.burstBytes === undefined && partial.bytesPerSecond !== undefined) l.burstBytes = Math.max(l.bytesPerSecond, MAX_UDP_PAYLOAD);
  }
  for (const k of ['maxSessionsPerNode', 'maxSessions', 'sessionTimeoutMs', 'keepaliveIntervalMs', 'tokenWindowMs'] as const) {
    if (!Number.isSafeInteger(l[k])) throw invalidInput(`limits.${k}`, 'must be a positive integer');
  }
  if (l.burstBytes < MAX_UDP_PAYLOAD && l.bytesPerSecond !== Infinity) throw invalidInput('limits.burstBytes', `must be at least ${MAX_UDP_PAYLOAD} (one maximal datagram)`);
  return l;
}

function zeroDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}

/**
 * The relay protocol engine. Not thread-safe (Node is single-threaded); every method is
 * synchronous and never throws on network input.
 */
export class RelayCore {
  readonly relayId: string;
  readonly limits: RelayLimits;
  private readonly now: () => number;
  private readonly secret: Buffer;
  private readonly send: SendFn;
  private keys: Map<string, { b64: string; key: KeyObject }>;
  private readonly byAddress = new Map<string, Session>();
  private readonly byNode = new Map<string, NodeState>();
  private readonly registerBucket: TokenBucket;
  private readonly rejectBucket: TokenBucket;
  private readonly c: RelayCounters;
  private readonly sendDone: (err: Error | null) => void;

  /** @throws RustynetError INVALID_INPUT for a bad relay id, allowlist or limit. */
  constructor(opts: RelayCoreOptions) {
    if (typeof opts.relayId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(opts.relayId)) {
      throw invalidInput('relayId', 'must be 1..64 characters of A-Z a-z 0-9 . _ -');
    }
    this.relayId = opts.relayId;
    this.limits = resolveLimits(opts.limits);
    this.keys = parseIdentityKeys(opts.identityKeys);
    if (opts.secret !== undefined && opts.secret.length < 32) throw invalidInput('secret', 'must be at least 32 bytes');
    this.secret = Buffer.from(opts.secret ?? randomBytes(32));
    this.now = opts.now ?? Date.now;
    this.send = opts.send;
    const t = this.now();
    this.registerBucket = new TokenBucket(this.limits.registrationsPerSecond, Math.max(1, this.limits.registrationsPerSecond), t);
    this.rejectBucket = new TokenBucket(this.limits.rejectsPerSecond, Math.max(1, this.limits.rejectsPerSecond), t);
    this.c = {
      sessions: 0,
      nodes: 0,
      packetsIn: 0,
      bytesIn: 0,
      packetsOut: 0,
      bytesOut: 0,
      packetsForwarded: 0,
      bytesForwarded: 0,
      registrations: 0,
      unvalidatedBytesIn: 0,
      unvalidatedBytesOut: 0,
      drops: zeroDrops(),
    };
    this.sendDone = (err) => {
      if (err) this.c.drops.send_failed++;
    };
  }

  /**
   * Replaces the allowlist. Sessions of nodes that left it, or whose key changed, end at once.
   * @throws RustynetError INVALID_INPUT (nothing changed).
   */
  setIdentityKeys(identityKeys: Readonly<Record<NodeId, string>>): void {
    const next = parseIdentityKeys(identityKeys);
    const prev = this.keys;
    this.keys = next;
    for (const [id, st] of [...this.byNode]) {
      const k = next.get(id);
      if (k === undefined || k.b64 !== prev.get(id)?.b64) {
        for (const s of [...st.sessions]) this.removeSession(s);
      }
    }
  }

  /** A snapshot of the counters. */
  counters(): RelayCounters {
    return { ...this.c, drops: { ...this.c.drops }, sessions: this.byAddress.size, nodes: this.byNode.size };
  }

  /** Number of allowed nodes. */
  allowedNodes(): number {
    return this.keys.size;
  }

  /** Live sessions, for diagnostics: node id and address. */
  sessions(): Array<{ nodeId: string; address: string; port: number; lastSeen: number }> {
    return [...this.byAddress.values()].map((s) => ({ nodeId: s.nodeId, address: s.address, port: s.port, lastSeen: s.lastSeen }));
  }

  /** Ends every session idle for longer than `sessionTimeoutMs`. @returns how many ended. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const s of [...this.byAddress.values()]) {
      if (now - s.lastSeen > this.limits.sessionTimeoutMs) {
        this.removeSession(s);
        n++;
      }
    }
    return n;
  }

  /**
   * Handles one received datagram. Never throws. Cheap checks first: length, version, type;
   * then per-type parsing.
   */
  onDatagram(msg: Buffer, address: string, port: number): void {
    const len = msg.length;
    this.c.packetsIn++;
    this.c.bytesIn += len;
    if (len < HEADER_SIZE) return this.drop('short');
    if (msg[0] !== PROTOCOL_VERSION) return this.drop('bad_version');
    const key = address + '#' + port;
    const session = this.byAddress.get(key);
    if (session === undefined) this.c.unvalidatedBytesIn += len;
    switch (msg[1]) {
      case MessageType.DATA:
        return this.onData(msg, session, address, port);
      case MessageType.KEEPALIVE:
        return this.onKeepalive(msg, session, address, port);
      case MessageType.HELLO:
        return this.onHello(msg, session, address, port);
      case MessageType.REGISTER:
        return this.onRegister(msg, session, key, address, port);
      case MessageType.CHALLENGE:
      case MessageType.REGISTERED:
      case MessageType.REJECT:
      case MessageType.KEEPALIVE_ACK:
        return this.drop('unexpected_type');
      default:
        return this.drop('unknown_type');
    }
  }

  private drop(reason: DropReason): void {
    this.c.drops[reason]++;
  }

  /** A live session, or undefined (expiring it lazily). */
  private live(session: Session | undefined, now: number): Session | undefined {
    if (session === undefined) return undefined;
    if (now - session.lastSeen > this.limits.sessionTimeoutMs) {
      this.removeSession(session);
      return undefined;
    }
    return session;
  }

  private out(msg: Buffer | Buffer[], len: number, port: number, address: string): void {
    this.c.packetsOut++;
    this.c.bytesOut += len;
    this.send(msg, port, address, this.sendDone);
  }

  /**
   * Sends to an address without a session, only if `reply` is no larger than the datagram it
   * answers: the server never sends more bytes to an unvalidated address than it received.
   */
  private replyUnvalidated(reply: Buffer, receivedLen: number, port: number, address: string): void {
    if (reply.length > receivedLen) {
      this.c.drops.amplification++;
      return;
    }
    this.c.unvalidatedBytesOut += reply.length;
    this.out(reply, reply.length, port, address);
  }

  /** Tells an address without a session to register: only for datagrams of >= 6 bytes (twice the answer), rate-limited. */
  private rejectNotRegistered(receivedLen: number, port: number, address: string): void {
    if (receivedLen >= KEEPALIVE_SIZE && this.rejectBucket.take(this.now())) this.replyUnvalidated(encodeReject(RejectReason.NOT_REGISTERED), receivedLen, port, address);
  }

  private onData(msg: Buffer, session: Session | undefined, address: string, port: number): void {
    const now = this.now();
    const src = this.live(session, now);
    if (src === undefined) {
      this.c.drops.not_registered++;
      this.rejectNotRegistered(msg.length, port, address);
      return;
    }
    src.lastSeen = now;
    // Parse: [ver][type][idLen][dest id][payload]
    const len = msg.length;
    if (len < 5) return this.drop('malformed');
    const idLen = msg[2]!;
    const payloadOffset = 3 + idLen;
    if (idLen < 1 || idLen > 63 || len <= payloadOffset) return this.drop('malformed');
    const node = this.byNode.get(src.nodeId);
    if (node === undefined) return this.drop('not_registered'); // unreachable: sessions imply node state
    // Both buckets must have room; only then is anything taken from either.
    if (node.packets.available(now) < 1 || node.bytes.available(now) < len) return this.drop('rate_limited');
    node.packets.take(now);
    node.bytes.take(now, len);
    const destId = msg.toString('latin1', 3, payloadOffset);
    if (destId === src.nodeId) return this.drop('self_destination');
    const dest = this.byNode.get(destId);
    if (dest === undefined) return this.drop('unknown_destination');
    // Most recently active live session of the destination node.
    let best: Session | undefined;
    for (let i = dest.sessions.length - 1; i >= 0; i--) {
      const s = dest.sessions[i]!;
      if (now - s.lastSeen > this.limits.sessionTimeoutMs) {
        this.removeSession(s);
        continue;
      }
      if (best === undefined || s.lastSeen > best.lastSeen) best = s;
    }
    if (best === undefined) return this.drop('unknown_destination');
    const payload = msg.subarray(payloadOffset);
    this.c.packetsForwarded++;
    this.c.bytesForwarded += payload.length;
    this.out([src.sourceHeader, payload], src.sourceHeader.length + payload.length, best.port, best.address);
  }

  private onKeepalive(msg: Buffer, session: Session | undefined, address: string, port: number): void {
    if (msg.length !== KEEPALIVE_SIZE) return this.drop('malformed');
    const now = this.now();
    const s = this.live(session, now);
    if (s === undefined) {
      this.c.drops.not_registered++;
      this.rejectNotRegistered(msg.length, port, address);
      return;
    }
    s.lastSeen = now;
    this.out(encodeKeepalive(msg.readUInt32BE(2), true), KEEPALIVE_SIZE, port, address);
  }

  private mac(bucket: number, nonce: Uint8Array, address: string, port: number): Buffer {
    const head = Buffer.allocUnsafe(6);
    head.writeUInt32BE(bucket >>> 0, 0);
    head.writeUInt16BE(port & 0xffff, 4);
    return createHmac('sha256', this.secret).update(TOKEN_MAC_CONTEXT).update(head).update(nonce).update(address).digest();
  }

  private bucketNow(): number {
    return Math.floor(this.now() / this.limits.tokenWindowMs) >>> 0;
  }

  private onHello(msg: Buffer, session: Session | undefined, address: string, port: number): void {
    if (msg.length < HELLO_MIN_SIZE) return this.drop('hello_too_small');
    const bucket = this.bucketNow();
    const body = Buffer.allocUnsafe(CHALLENGE_BODY_SIZE);
    randomBytes(NONCE_SIZE).copy(body, 0);
    body.writeUInt32BE(bucket, NONCE_SIZE);
    this.mac(bucket, body.subarray(0, NONCE_SIZE), address, port).copy(body, NONCE_SIZE + 4);
    const reply = encodeChallenge(body);
    if (session !== undefined) this.out(reply, reply.length, port, address);
    else this.replyUnvalidated(reply, msg.length, port, address);
  }

  private onRegister(msg: Buffer, session: Session | undefined, key: string, address: string, port: number): void {
    const reg = decodeRegister(msg);
    if (reg === undefined) return this.drop('malformed');
    // 1. Return routability: the token must have been minted by us, for this address, recently.
    const cur = this.bucketNow();
    if (reg.bucket !== cur && reg.bucket !== ((cur - 1) >>> 0)) return this.drop('bad_token');
    const expected = this.mac(reg.bucket, reg.nonce, address, port);
    if (!timingSafeEqual(expected, reg.mac)) return this.drop('bad_token');
    // The address is validated from here on: it received our CHALLENGE.
    const now = this.now();
    const reject = (reason: number, drop: DropReason): void => {
      this.c.drops[drop]++;
      this.out(encodeReject(reason), 3, port, address);
    };
    const known = this.keys.get(reg.nodeId);
    if (known === undefined) return reject(RejectReason.UNKNOWN_NODE, 'unknown_node');
    if (!this.registerBucket.take(now)) return reject(RejectReason.BUSY, 'register_rate_limited');
    const signed = registerSignatureInput(reg.body, reg.nodeId, this.relayId);
    let ok = false;
    try {
      ok = verify(null, signed, known.key, reg.signature);
    } catch {
      ok = false;
    }
    if (!ok) return reject(RejectReason.BAD_SIGNATURE, 'bad_signature');
    // 2. Session bookkeeping.
    let existing = this.live(session, now);
    if (existing !== undefined && existing.nodeId !== reg.nodeId) {
      this.removeSession(existing);
      existing = undefined;
    }
    if (existing === undefined) {
      let node = this.byNode.get(reg.nodeId);
      if (node !== undefined) {
        for (const s of [...node.sessions]) this.live(s, now);
        node = this.byNode.get(reg.nodeId);
      }
      if (node !== undefined && node.sessions.length >= this.limits.maxSessionsPerNode) {
        return reject(RejectReason.SESSION_LIMIT, 'session_limit');
      }
      if (this.byAddress.size >= this.limits.maxSessions) return reject(RejectReason.BUSY, 'server_full');
      if (node === undefined) {
        node = {
          nodeId: reg.nodeId,
          sessions: [],
          packets: new TokenBucket(this.limits.packetsPerSecond, this.limits.burstPackets, now),
          bytes: new TokenBucket(this.limits.bytesPerSecond, this.limits.burstBytes, now),
        };
        this.byNode.set(reg.nodeId, node);
      }
      const s: Session = { key, nodeId: reg.nodeId, address, port, lastSeen: now, sourceHeader: encodeDataHeader(reg.nodeId) };
      node.sessions.push(s);
      this.byAddress.set(key, s);
    } else {
      existing.lastSeen = now;
    }
    this.c.registrations++;
    this.out(encodeRegistered(this.limits.sessionTimeoutMs, this.limits.keepaliveIntervalMs), 10, port, address);
  }

  private removeSession(s: Session): void {
    if (this.byAddress.get(s.key) === s) this.byAddress.delete(s.key);
    const node = this.byNode.get(s.nodeId);
    if (node === undefined) return;
    const i = node.sessions.indexOf(s);
    if (i >= 0) node.sessions.splice(i, 1);
    if (node.sessions.length === 0) this.byNode.delete(s.nodeId);
  }
}
