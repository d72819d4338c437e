import { randomBytes, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Counter, Endpoint, NodeId } from '@rustynet/plugin-api';
import { publicKeyFromRawB64 } from '../services/key-store.js';
import { parseCidr, cidrKey } from '../util/ip.js';
import { decodeProbe, encodeProbe, verifyProbe, type ProbeChannel, type ProbeMessage } from './probe-protocol.js';
import {
  DEFAULT_PROBE_MAX_SKEW_MS,
  DEFAULT_PROBE_VERIFY_BURST,
  DEFAULT_PROBE_VERIFY_RATE,
  type ProbeDropReason,
  type ProbeOutcome,
  type ProbePeer,
  type ProberOptions,
} from './prober-types.js';
import { TokenBucket } from './token-bucket.js';

export * from './prober-types.js';

interface PeerEntry {
  id: NodeId;
  identityKey: string;
  key: KeyObject;
  target?: Endpoint;
  /** Highest PING timestamp accepted from this peer (replay guard). */
  lastPingTs: number;
  bucket: TokenBucket;
}

interface Outstanding {
  peer: NodeId;
  nonce: string;
  sentAt: number;
  target: Endpoint;
  answered: boolean;
  rttMs?: number;
  /** Already reported as a miss: an answer now is a late reply. */
  scored?: boolean;
  /** A diagnostic PING ({@link DirectPathProber.pingOnce}): woken by its PONG. */
  onAnswer?: () => void;
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = parseCidr(`${a}/${a.includes(':') ? 128 : 32}`);
  const pb = parseCidr(`${b}/${b.includes(':') ? 128 : 32}`);
  return pa !== undefined && pb !== undefined && cidrKey(pa) === cidrKey(pb);
}

/**
 * The direct-path prober: answers authenticated PINGs from netmap nodes with a PONG, and sends
 * PINGs to the peers that have a probe target, recording whether each was answered.
 *
 * Responder checks, cheapest first (any failure drops the datagram silently, counted by reason):
 * layout (size, magic, version, type, ids) -> receiver is this node -> sender is a netmap node ->
 * timestamp within `maxSkewMs` of our clock -> timestamp above the last one accepted from that
 * sender (replay) -> the sender's signature-check budget -> Ed25519 signature. A PONG has the
 * same length as its PING and goes to the PING's source address.
 *
 * PONG checks: layout -> receiver -> the nonce is the one of the PING outstanding to some peer
 * (unguessable: junk is dropped with one map lookup) -> sender is that peer -> source address is
 * where the PING went -> timestamp window -> signature.
 */
export class DirectPathProber {
  private peers = new Map<NodeId, PeerEntry>();
  private outstanding = new Map<NodeId, Outstanding>();
  /** The last PING per peer that was scored a miss, kept so that a late answer is still seen. */
  private missed = new Map<NodeId, Outstanding>();
  private byNonce = new Map<string, Outstanding>();
  private lastSentTs = 0;
  private readonly maxSkewMs: number;
  private readonly channel: ProbeChannel;
  private readonly verifyBurst: number;
  private readonly verifyRate: number;
  private readonly counters: { sent: Counter; replies: Counter; answered: Counter; dropped: Counter } | undefined;

  constructor(private readonly opts: ProberOptions) {
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_PROBE_MAX_SKEW_MS;
    this.channel = opts.channel ?? 'direct';
    this.verifyBurst = opts.verifyBurst ?? DEFAULT_PROBE_VERIFY_BURST;
    this.verifyRate = opts.verifyRatePerSecond ?? DEFAULT_PROBE_VERIFY_RATE;
    const m = opts.metrics;
    this.counters = m && {
      sent: m.counter('rustynet_path_probes_sent_total', 'Path PINGs sent, by path', ['channel']),
      replies: m.counter('rustynet_path_probe_replies_total', 'Valid PONGs received for our PINGs, by path', ['channel']),
      answered: m.counter('rustynet_path_pings_answered_total', 'Valid PINGs from peers answered with a PONG, by path', ['channel']),
      dropped: m.counter('rustynet_path_probe_dropped_total', 'Probe datagrams dropped, by path and reason', ['channel', 'reason']),
    };
    opts.transport.onMessage((data, from) => this.receive(data, from));
  }

  /**
   * Replaces the set of known nodes (all netmap nodes but this one). A node whose key did not
   * change keeps its replay watermark. Outstanding PINGs to nodes no longer pinged are forgotten.
   * A node whose identity key is not 32 raw bytes in base64 is left out (logged): it can neither
   * be pinged nor answered.
   */
  setPeers(peers: readonly ProbePeer[]): void {
    const next = new Map<NodeId, PeerEntry>();
    for (const p of peers) {
      if (p.id === this.opts.selfId) continue;
      const old = this.peers.get(p.id);
      const keep = old && old.identityKey === p.identityKey;
      let key: KeyObject;
      try {
        key = keep ? old.key : publicKeyFromRawB64(p.identityKey);
      } catch {
        this.opts.logger?.warn({ peer: p.id }, 'identity key is not a raw Ed25519 public key; node not probed');
        continue;
      }
      next.set(p.id, {
        id: p.id,
        identityKey: p.identityKey,
        key,
        ...(p.target && { target: { host: p.target.host, port: p.target.port } }),
        lastPingTs: keep ? old.lastPingTs : 0,
        bucket: keep ? old.bucket : new TokenBucket(this.verifyBurst, this.verifyRate, this.opts.clock.now()),
      });
    }
    this.peers = next;
    for (const [id, o] of this.outstanding) {
      const t = next.get(id)?.target;
      if (!t || t.host !== o.target.host || t.port !== o.target.port) this.forget(id);
    }
    for (const [id, o] of this.missed) {
      const t = next.get(id)?.target;
      if (!t || t.host !== o.target.host || t.port !== o.target.port) this.dropMissed(id);
    }
  }

  /** True when `peer` has a probe target. */
  canProbe(peer: NodeId): boolean {
    return this.peers.get(peer)?.target !== undefined;
  }

  /**
   * Sends a PING to `peer`'s probe target; it replaces any earlier outstanding PING to it (a
   * PING already scored a miss is still accepted late, see {@link takeResult}).
   * @returns false when the peer has no target (nothing sent).
   */
  ping(peer: NodeId): boolean {
    const entry = this.peers.get(peer);
    if (!entry?.target) return false;
    const prev = this.outstanding.get(peer);
    if (prev && !prev.scored) this.forget(peer);
    const { o, data } = this.newPing(peer, entry.target);
    this.outstanding.set(peer, o);
    this.byNonce.set(o.nonce, o);
    this.opts.transport.send(data, entry.target);
    this.counters?.sent.inc({ channel: this.channel });
    return true;
  }

  /** A signed PING to `peer` at `target` and its outstanding record (strictly increasing timestamps). */
  private newPing(peer: NodeId, target: Endpoint): { o: Outstanding; data: Buffer } {
    const now = this.opts.clock.now();
    const ts = Math.max(now, this.lastSentTs + 1);
    this.lastSentTs = ts;
    const nonce = randomBytes(16);
    const data = encodeProbe(
      { type: 'ping', channel: this.channel, sender: this.opts.selfId, receiver: peer, nonce, timestamp: ts },
      this.opts.sign,
    );
    return { o: { peer, nonce: nonce.toString('hex'), sentAt: now, target, answered: false }, data };
  }

  /**
   * One diagnostic PING (`rustynet ping`), kept apart from the path controller's bookkeeping: it
   * neither replaces nor answers the controller's outstanding PING. The PONG passes every check a
   * controller PONG does (nonce, sender, source address, timestamp, signature).
   * @returns the probe target and the round trip (ms; absent when no valid PONG came within
   *   `timeoutMs`), or undefined when the peer has no probe target (nothing sent).
   */
  async pingOnce(peer: NodeId, timeoutMs: number): Promise<{ target: Endpoint; rttMs?: number } | undefined> {
    const entry = this.peers.get(peer);
    if (!entry?.target) return undefined;
    const { o, data } = this.newPing(peer, entry.target);
    this.byNonce.set(o.nonce, o);
    let timer: NodeJS.Timeout | undefined;
    // The round trip on the monotonic high-resolution clock (the controller's is whole ms).
    const t0 = performance.now();
    let rttMs: number | undefined;
    const answered = new Promise<void>((resolve) => {
      o.onAnswer = () => {
        rttMs = Math.round((performance.now() - t0) * 100) / 100;
        resolve();
      };
      timer = setTimeout(resolve, timeoutMs);
    });
    this.opts.transport.send(data, entry.target);
    this.counters?.sent.inc({ channel: this.channel });
    await answered;
    clearTimeout(timer);
    if (this.byNonce.get(o.nonce) === o) this.byNonce.delete(o.nonce);
    return { target: { ...entry.target }, ...(rttMs !== undefined && { rttMs }) };
  }

  /**
   * Outcome of the last PING to `peer` since the previous call: `reply` (a valid PONG came),
   * `pending` (none yet, and `keepWaiting`: it stays outstanding and should not be replaced),
   * `miss` (none came in time), `none` (no PING was sent). A PING scored a miss is remembered
   * until the next miss: when its PONG comes later, the next call reports its round trip as
   * `lateRttMs` (a slow path, not a broken one).
   * @param keepWaiting true while the PING is younger than its time-out (the caller's RTT estimate).
   */
  takeResult(peer: NodeId, keepWaiting = false): ProbeOutcome {
    const late = this.missed.get(peer);
    let lateRttMs: number | undefined;
    if (late?.answered) {
      lateRttMs = late.rttMs;
      this.dropMissed(peer);
    }
    const lateField = lateRttMs !== undefined ? { lateRttMs } : {};
    const o = this.outstanding.get(peer);
    if (!o || o.scored) return { result: 'none', ...lateField };
    if (o.answered) {
      this.forget(peer);
      return { result: 'reply', ...(o.rttMs !== undefined && { rttMs: o.rttMs }), ...lateField };
    }
    if (keepWaiting) return { result: 'pending', ...lateField };
    // A miss: keep it (only) as the late candidate.
    this.dropMissed(peer);
    o.scored = true;
    this.outstanding.delete(peer);
    this.missed.set(peer, o);
    return { result: 'miss', ...lateField };
  }

  /** Forgets every outstanding PING (e.g. when probing stops). */
  clear(): void {
    this.outstanding.clear();
    this.missed.clear();
    this.byNonce.clear();
  }

  private forget(peer: NodeId): void {
    const o = this.outstanding.get(peer);
    if (!o) return;
    this.outstanding.delete(peer);
    this.byNonce.delete(o.nonce);
  }

  private dropMissed(peer: NodeId): void {
    const o = this.missed.get(peer);
    if (!o) return;
    this.missed.delete(peer);
    this.byNonce.delete(o.nonce);
  }

  private drop(reason: ProbeDropReason, from: Endpoint, msg?: ProbeMessage): void {
    this.counters?.dropped.inc({ channel: this.channel, reason });
    this.opts.logger?.trace(
      { reason, from: `${from.host}:${from.port}`, ...(msg && { sender: msg.sender, type: msg.type }) },
      'probe dropped',
    );
  }

  private fresh(ts: number): boolean {
    return Math.abs(ts - this.opts.clock.now()) <= this.maxSkewMs;
  }

  /** Handles one received datagram (the transport calls it). Never throws. */
  receive(data: Buffer, from: Endpoint): void {
    try {
      const msg = decodeProbe(data);
      if (typeof msg === 'string') {
        this.drop('malformed', from);
        return;
      }
      if (msg.channel !== this.channel) {
        this.drop('wrong_channel', from, msg);
        return;
      }
      if (msg.receiver !== this.opts.selfId) {
        this.drop('wrong_receiver', from, msg);
        return;
      }
      if (msg.type === 'ping') this.onPing(msg, data.length, from);
      else this.onPong(msg, from);
    } catch (err) {
      this.opts.logger?.error({ err: (err as Error).message }, 'probe handling failed');
    }
  }

  private onPing(msg: ProbeMessage, size: number, from: Endpoint): void {
    const peer = this.peers.get(msg.sender);
    if (!peer) {
      this.drop('unknown_sender', from, msg);
      return;
    }
    if (!this.fresh(msg.timestamp)) {
      this.drop('stale', from, msg);
      return;
    }
    if (msg.timestamp <= peer.lastPingTs) {
      this.drop('replayed', from, msg);
      return;
    }
    if (!peer.bucket.take(this.opts.clock.now())) {
      this.drop('rate_limited', from, msg);
      return;
    }
    if (!verifyProbe(msg, peer.key)) {
      this.drop('bad_signature', from, msg);
      return;
    }
    peer.lastPingTs = msg.timestamp;
    const ts = Math.max(this.opts.clock.now(), this.lastSentTs + 1);
    this.lastSentTs = ts;
    let pong: Buffer;
    try {
      pong = encodeProbe(
        { type: 'pong', channel: this.channel, sender: this.opts.selfId, receiver: msg.sender, nonce: msg.nonce, timestamp: ts },
        this.opts.sign,
      );
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message }, 'cannot sign a PONG');
      return;
    }
    // Same ids, same fixed fields: a PONG is exactly as long as the PING (no amplification).
    if (pong.length > size) return;
    this.opts.transport.send(pong, from);
    this.counters?.answered.inc({ channel: this.channel });
  }

  private onPong(msg: ProbeMessage, from: Endpoint): void {
    const o = this.byNonce.get(msg.nonce.toString('hex'));
    if (!o || o.answered) {
      this.drop('unsolicited', from, msg);
      return;
    }
    if (msg.sender !== o.peer) {
      this.drop('wrong_sender', from, msg);
      return;
    }
    if (from.port !== o.target.port || !sameAddress(from.host, o.target.host)) {
      this.drop('wrong_source', from, msg);
      return;
    }
    if (!this.fresh(msg.timestamp)) {
      this.drop('stale', from, msg);
      return;
    }
    const peer = this.peers.get(o.peer);
    if (!peer || !verifyProbe(msg, peer.key)) {
      this.drop('bad_signature', from, msg);
      return;
    }
    o.answered = true;
    o.rttMs = Math.max(0, this.opts.clock.now() - o.sentAt);
    this.counters?.replies.inc({ channel: this.channel });
    this.opts.onReply?.(o.peer, o.rttMs);
    o.onAnswer?.();
  }
}
