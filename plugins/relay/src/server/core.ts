/**
 * The relay server's protocol engine, without sockets: feed it datagrams with
 * {@link RelayCore.onDatagram}; it answers through the `send` function it was given. The UDP
 * wrapper is `createRelayServer` (server.ts). Keeping the engine socket-free lets property tests
 * throw arbitrary bytes at the exact code the server runs.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { invalidInput, type NodeId } from '@rustynet/plugin-api';
import {
  HEADER_SIZE,
  HELLO_MIN_SIZE,
  KEEPALIVE_SIZE,
  MAX_PROBE_PAYLOAD,
  MessageType,
  PROTOCOL_VERSION,
  RejectReason,
  decodeRegister,
  encodeChallenge,
  encodeDataHeader,
  encodeKeepalive,
  encodeRegistered,
  encodeReject,
  registerSignatureInput,
} from '../protocol.js';
import { IdentityMessageType, challengeSignatureInput, decodeHelloId, encodeChallengeId, signReply } from '../identity.js';
import { TokenBucket } from '../token-bucket.js';
import { ChallengeTokens } from './challenge-tokens.js';
import { AllocationMessageType, decodeAllocation, encodeAllocation } from '../allocation.js';
import type { AllocationHooks } from './allocations.js';
import { parseIdentityKeys } from './identity-keys.js';
import { startRegisterSpan } from './register-span.js';
import { resolveLimits, zeroCounters, type DropReason, type RelayCounters, type RelayLimits } from './limits.js';

export { parseIdentityKeys } from './identity-keys.js';
export { DEFAULT_RELAY_LIMITS, DROP_REASONS, resolveLimits, type DropReason, type RelayCounters, type RelayLimits } from './limits.js';

export type { SendFn, RelayCoreOptions } from './core-types.js';
import type { NodeState, RelayCoreOptions, SendFn, Session } from './core-types.js';

/**
 * The relay protocol engine. Not thread-safe (Node is single-threaded); every method is
 * synchronous and never throws on network input.
 */
export class RelayCore {
  readonly relayId: string;
  readonly limits: RelayLimits;
  private readonly now: () => number;
  private readonly tokens: ChallengeTokens;
  private readonly send: SendFn;
  private keys: Map<string, { b64: string; key: KeyObject }>;
  private readonly byAddress = new Map<string, Session>();
  private readonly byNode = new Map<string, NodeState>();
  private readonly registerBucket: TokenBucket;
  private readonly rejectBucket: TokenBucket;
  private readonly identity: KeyObject | undefined;
  private readonly challengeSignBucket: TokenBucket;
  private readonly c: RelayCounters;
  private readonly sendDone: (err: Error | null) => void;
  private readonly allocations: AllocationHooks | undefined;

  /** @throws RustynetError INVALID_INPUT for a bad relay id, allowlist or limit. */
  constructor(opts: RelayCoreOptions) {
    if (typeof opts.relayId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(opts.relayId)) {
      throw invalidInput('relayId', 'must be 1..64 characters of A-Z a-z 0-9 . _ -');
    }
    this.relayId = opts.relayId;
    this.limits = resolveLimits(opts.limits);
    this.keys = parseIdentityKeys(opts.identityKeys);
    this.now = opts.now ?? Date.now;
    this.tokens = new ChallengeTokens(opts.secret, this.limits.tokenWindowMs, this.now);
    this.send = opts.send;
    const t = this.now();
    this.registerBucket = new TokenBucket(this.limits.registrationsPerSecond, Math.max(1, this.limits.registrationsPerSecond), t);
    this.rejectBucket = new TokenBucket(this.limits.rejectsPerSecond, Math.max(1, this.limits.rejectsPerSecond), t);
    const cps = this.limits.challengeSignaturesPerSecond;
    this.challengeSignBucket = new TokenBucket(cps, Math.max(1, cps), t);
    if (opts.identityKey !== undefined && (opts.identityKey.type !== 'private' || opts.identityKey.asymmetricKeyType !== 'ed25519')) {
      throw invalidInput('identityKey', 'must be an Ed25519 private key');
    }
    this.identity = opts.identityKey;
    this.allocations = opts.allocations;
    this.c = zeroCounters();
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
    if (len < HEADER_SIZE) return void this.drop('short');
    if (msg[0] !== PROTOCOL_VERSION) return void this.drop('bad_version');
    const key = `${address}#${port}`;
    const session = this.byAddress.get(key);
    if (session === undefined) this.c.unvalidatedBytesIn += len;
    switch (msg[1]) {
      case MessageType.DATA:
        return void this.onData(msg, session, address, port);
      case MessageType.PROBE:
        return void this.onData(msg, session, address, port, true);
      case MessageType.KEEPALIVE:
        return void this.onKeepalive(msg, session, address, port);
      case MessageType.HELLO:
        return void this.onHello(msg, session, address, port);
      case MessageType.REGISTER:
        return void this.onRegister(msg, session, key, address, port);
      case IdentityMessageType.HELLO_ID:
        return void this.onHello(msg, session, address, port, true);
      case IdentityMessageType.REGISTER_ID:
        return void this.onRegister(msg, session, key, address, port, true);
      case AllocationMessageType.ALLOCATE:
        return void this.onAllocate(msg, session, address, port);
      case AllocationMessageType.ALLOCATED:
      case IdentityMessageType.CHALLENGE_ID:
      case IdentityMessageType.REGISTERED_ID:
      case IdentityMessageType.REJECT_ID:
      case MessageType.CHALLENGE:
      case MessageType.REGISTERED:
      case MessageType.REJECT:
      case MessageType.KEEPALIVE_ACK:
        return void this.drop('unexpected_type');
      default:
        return void this.drop('unknown_type');
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
    if (receivedLen >= KEEPALIVE_SIZE && this.rejectBucket.take(this.now()))
      this.replyUnvalidated(encodeReject(RejectReason.NOT_REGISTERED), receivedLen, port, address);
  }

  /** Forwards DATA, or PROBE (same checks and budgets, payload <= MAX_PROBE_PAYLOAD, keeps its type). */
  private onData(msg: Buffer, session: Session | undefined, address: string, port: number, probe = false): void {
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
    if (len < 5) return void this.drop('malformed');
    const idLen = msg[2];
    const payloadOffset = 3 + idLen;
    if (idLen < 1 || idLen > 63 || len <= payloadOffset) return void this.drop('malformed');
    if (probe && len - payloadOffset > MAX_PROBE_PAYLOAD) return void this.drop('malformed');
    const node = this.byNode.get(src.nodeId);
    if (node === undefined) return void this.drop('not_registered'); // unreachable: sessions imply node state
    // Both buckets must have room; only then is anything taken from either.
    if (node.packets.available(now) < 1 || node.bytes.available(now) < len) return void this.drop('rate_limited');
    node.packets.take(now);
    node.bytes.take(now, len);
    const destId = msg.toString('latin1', 3, payloadOffset);
    if (destId === src.nodeId) return void this.drop('self_destination');
    const dest = this.byNode.get(destId);
    if (dest === undefined) return void this.drop('unknown_destination');
    // Most recently active live session of the destination node.
    let best: Session | undefined;
    for (let i = dest.sessions.length - 1; i >= 0; i--) {
      const s = dest.sessions[i];
      if (now - s.lastSeen > this.limits.sessionTimeoutMs) {
        this.removeSession(s);
        continue;
      }
      if (best === undefined || s.lastSeen > best.lastSeen) best = s;
    }
    if (best === undefined) return void this.drop('unknown_destination');
    const payload = msg.subarray(payloadOffset);
    this.c.packetsForwarded++;
    this.c.bytesForwarded += payload.length;
    const header = probe ? src.probeHeader : src.sourceHeader;
    this.out([header, payload], header.length + payload.length, best.port, best.address);
  }

  private onKeepalive(msg: Buffer, session: Session | undefined, address: string, port: number): void {
    if (msg.length !== KEEPALIVE_SIZE) return void this.drop('malformed');
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

  /**
   * ALLOCATE (kernel fast path): only from a live session, for another node of the allowlist.
   * The answer (ALLOCATED, same size as the request) goes only to that validated address; port 0
   * means no fast path. The port is bound to this session: it ends with it.
   */
  private onAllocate(msg: Buffer, session: Session | undefined, address: string, port: number): void {
    const req = decodeAllocation(msg, AllocationMessageType.ALLOCATE);
    if (req === undefined || req.port === 0) return void this.drop('malformed');
    const now = this.now();
    const s = this.live(session, now);
    if (s === undefined) {
      this.c.drops.not_registered++;
      this.rejectNotRegistered(msg.length, port, address);
      return;
    }
    s.lastSeen = now;
    const reply = (p: number): void => {
      // The session may have ended while the port was being reserved: answer only a live one.
      if (this.byAddress.get(s.key) !== s) return;
      this.out(encodeAllocation(AllocationMessageType.ALLOCATED, p, req.peer), msg.length, port, address);
    };
    if (this.allocations === undefined || req.peer === s.nodeId || !this.keys.has(req.peer)) return reply(0);
    const { key: sessionKey, nodeId, address: addr } = s;
    const preferred = req.preferred === undefined ? {} : { preferredPort: req.preferred };
    this.allocations.allocate({ sessionKey, nodeId, address: addr, backendPort: req.port, peer: req.peer, ...preferred }, reply);
  }

  /** HELLO, or (`signed`) HELLO_ID: answered with a CHALLENGE_ID when this relay has an identity key. */
  private onHello(msg: Buffer, session: Session | undefined, address: string, port: number, signed = false): void {
    const clientNonce = signed ? decodeHelloId(msg) : undefined;
    if (msg.length < HELLO_MIN_SIZE || (signed && clientNonce === undefined)) return void this.drop('hello_too_small');
    if (clientNonce !== undefined && this.identity !== undefined && !this.challengeSignBucket.take(this.now())) {
      return void this.drop('sign_rate_limited');
    }
    const body = this.tokens.mint(address, port);
    const reply =
      clientNonce !== undefined && this.identity !== undefined
        ? encodeChallengeId(body, sign(null, challengeSignatureInput(clientNonce, body, this.relayId), this.identity))
        : encodeChallenge(body);
    if (session !== undefined) this.out(reply, reply.length, port, address);
    else this.replyUnvalidated(reply, msg.length, port, address);
  }

  /** REGISTER, or (`signed`) REGISTER_ID: answered with REGISTERED_ID / REJECT_ID when this relay has an identity key. */
  private onRegister(msg: Buffer, session: Session | undefined, key: string, address: string, port: number, signed = false): void {
    const reg = decodeRegister(msg, signed ? IdentityMessageType.REGISTER_ID : MessageType.REGISTER);
    if (reg === undefined) return void this.drop('malformed');
    // 1. Return routability: the token must have been minted by us, for this address, recently.
    if (!this.tokens.valid(reg.bucket, reg.nonce, reg.mac, address, port)) return void this.drop('bad_token');
    // The address is validated from here on: it received our CHALLENGE.
    const now = this.now();
    const id = signed ? this.identity : undefined;
    const span = startRegisterSpan(this.relayId, reg.nodeId, signed, address, port);
    const answer = (m: Buffer): void => {
      const out = id ? signReply(m, reg.body, reg.nodeId, this.relayId, id) : m;
      this.out(out, out.length, port, address);
      span.end();
    };
    const reject = (reason: number, drop: DropReason): void => {
      this.c.drops[drop]++;
      span.refused(reason);
      answer(encodeReject(reason));
    };
    const known = this.keys.get(reg.nodeId);
    if (known === undefined) return void reject(RejectReason.UNKNOWN_NODE, 'unknown_node');
    if (!this.registerBucket.take(now)) return void reject(RejectReason.BUSY, 'register_rate_limited');
    const input = registerSignatureInput(reg.body, reg.nodeId, this.relayId);
    let ok: boolean;
    try {
      ok = verify(null, input, known.key, reg.signature);
    } catch {
      ok = false;
    }
    if (!ok) return void reject(RejectReason.BAD_SIGNATURE, 'bad_signature');
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
        return void reject(RejectReason.SESSION_LIMIT, 'session_limit');
      }
      if (this.byAddress.size >= this.limits.maxSessions) return void reject(RejectReason.BUSY, 'server_full');
      if (node === undefined) {
        node = {
          nodeId: reg.nodeId,
          sessions: [],
          packets: new TokenBucket(this.limits.packetsPerSecond, this.limits.burstPackets, now),
          bytes: new TokenBucket(this.limits.bytesPerSecond, this.limits.burstBytes, now),
        };
        this.byNode.set(reg.nodeId, node);
      }
      const s: Session = {
        key,
        nodeId: reg.nodeId,
        address,
        port,
        lastSeen: now,
        sourceHeader: encodeDataHeader(reg.nodeId),
        probeHeader: encodeDataHeader(reg.nodeId, MessageType.PROBE),
      };
      node.sessions.push(s);
      this.byAddress.set(key, s);
    } else {
      existing.lastSeen = now;
    }
    this.c.registrations++;
    span.registered();
    answer(encodeRegistered(this.limits.sessionTimeoutMs, this.limits.keepaliveIntervalMs));
  }

  private removeSession(s: Session): void {
    if (this.byAddress.get(s.key) === s) this.byAddress.delete(s.key);
    this.allocations?.sessionRemoved(s.key);
    const node = this.byNode.get(s.nodeId);
    if (node === undefined) return;
    const i = node.sessions.indexOf(s);
    if (i >= 0) node.sessions.splice(i, 1);
    if (node.sessions.length === 0) this.byNode.delete(s.nodeId);
  }
}
