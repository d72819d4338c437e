/**
 * The relay client's sessions with every relay of the netmap (docs/relay.md, "Several relays"):
 * one registration per relay, a probe round every `probeIntervalMs` (a KEEPALIVE to each relay;
 * its KEEPALIVE_ACK gives the round-trip time, anything heard from the relay counts as an answer),
 * health and the home relay from {@link RelaySelector}, background registration of every relay
 * without a session, and per-relay gauges. The link ({@link RelayLink}) owns the sockets and the
 * registration; this file decides which sessions exist and which one is home.
 */
import { performance } from 'node:perf_hooks';
import type { Gauge, Logger, NetmapRelay, NodeId } from '@rustynet/plugin-api';
import { encodeKeepalive } from '../protocol.js';
import type { RelayClientOptions } from './options.js';
import { RelaySelector, type RelayHealth } from './relay-selection.js';

/** A registration with one relay. */
export interface Session {
  relay: NetmapRelay;
  socket: import('node:dgram').Socket;
  keepaliveMs: number;
  /** `Date.now()` when anything last came from the relay. */
  lastHeard: number;
  /** Something came from the relay since the last probe round. */
  heard?: boolean;
  /** The probe of this round: its sequence number and `performance.now()` when sent. */
  probeSeq?: number;
  probeSentAt?: number | undefined;
}

/** Gauges of the monitor (the daemon prefixes `rustynet_plugin_`). */
export interface MonitorGauges {
  rtt: Gauge;
  healthy: Gauge;
  home: Gauge;
}

/** What the monitor needs from the link. */
export interface RelayMonitorDeps {
  opts: RelayClientOptions;
  log: Logger;
  gauges: MonitorGauges;
  /** Registers with `relay` in the background until it works or `signal` aborts (the link's loop). */
  register(relay: NetmapRelay, signal: AbortSignal): Promise<void>;
  /** Sends on a session's socket (counts failures). */
  sendDone: (err: Error | null) => void;
  /** Called once per keepalive interval of the home session (the kernel fast path's refresh). */
  onKeepalive?: () => void;
  /** The home moved away from an unhealthy or lost relay (`to` undefined: no relay left). */
  onFailover?: (from: string, to: string | undefined, why: string) => void;
}

/** Most peers remembered with the relays they were heard through. */
const MAX_HEARD_VIA = 65_536;
/** A peer heard through a relay within this time (ms) is taken to be reachable there. */
export const HEARD_FRESH_MS = 5_000;
/** While a peer is sent to through another relay, one datagram in this interval (ms) also goes through home. */
export const HOME_RETRY_MS = 2_000;

/** The sessions of one client run. */
export class RelayMonitor {
  readonly sessions = new Map<string, Session>();
  private selector = new RelaySelector([]);
  private relays: readonly NetmapRelay[] = [];
  private timer: NodeJS.Timeout | undefined;
  private life: AbortController | undefined;
  private readonly registering = new Set<string>();
  /** When each peer was last heard through each relay (DATA or PROBE): peer id -> relay id -> `Date.now()`. */
  private readonly heardVia = new Map<NodeId, Map<string, number>>();
  /** When a datagram for a peer routed elsewhere last went through home as well, by peer id. */
  private readonly homeTried = new Map<NodeId, number>();
  private seq = 0;
  /** `Date.now()` of the last {@link RelayMonitorDeps.onKeepalive} call. */
  private lastKeepaliveTick = 0;

  constructor(private readonly deps: RelayMonitorDeps) {}

  /** The home session, if any. */
  get home(): Session | undefined {
    const id = this.selector.home;
    return id === undefined ? undefined : this.sessions.get(id);
  }

  /** Every relay's health, latency and whether it is home (netmap order). */
  health(): RelayHealth[] {
    return this.selector.snapshot();
  }

  /**
   * Starts a run with `relays` (validated: unique ids).
   * @throws RustynetError `INVALID_INPUT` for a duplicate relay id.
   */
  begin(relays: readonly NetmapRelay[]): void {
    this.selector = new RelaySelector(relays, {
      probeMisses: this.deps.opts.keepaliveMisses,
      healthyAfter: 2,
      switchMarginMs: this.deps.opts.switchMarginMs,
      switchMarginRatio: 0.2,
      switchAfterRounds: this.deps.opts.switchAfterRounds,
    });
    this.relays = relays;
    this.life = new AbortController();
  }

  /** A registration succeeded: the session joins (replacing an older one with that relay). */
  adopt(s: Session): void {
    this.sessions.set(s.relay.id, s);
    this.selector.registered(s.relay.id);
    this.decide();
    if (this.timer === undefined) {
      const round = Math.max(50, Math.min(this.deps.opts.probeIntervalMs, this.deps.opts.keepaliveIntervalMs));
      this.timer = setInterval(() => this.round(), round).unref();
    }
  }

  /** The run serves: registers in the background with every relay that has no session. */
  serve(): void {
    for (const r of this.relays) this.ensure(r);
  }

  /**
   * The session to send to `peer` through: home, unless the peer was heard within
   * {@link HEARD_FRESH_MS} only through other relays: then the healthy one it was heard through last
   * (the peer may not be registered at this node's home: it cannot reach it).
   */
  route(peer: NodeId): Session | undefined {
    const home = this.home;
    const heard = this.heardVia.get(peer);
    if (heard === undefined) return home;
    const fresh = Date.now() - HEARD_FRESH_MS;
    if (home !== undefined && (heard.get(home.relay.id) ?? 0) > fresh) return home;
    let best: Session | undefined;
    let bestAt = fresh;
    for (const [id, at] of heard) {
      const s = this.sessions.get(id);
      if (s !== undefined && at > bestAt && this.selector.isHealthy(id)) [best, bestAt] = [s, at];
    }
    return best ?? home;
  }

  /**
   * The home session when a datagram for `peer` that {@link route} sends elsewhere should also go
   * through home (at most once per {@link HOME_RETRY_MS}), else undefined. This lets two peers that
   * share a home but last heard each other elsewhere move back to it (the backend drops the
   * duplicate: WireGuard's replay window, OpenVPN's packet id).
   */
  alsoHome(peer: NodeId, routed: Session): Session | undefined {
    const home = this.home;
    if (home === undefined || home === routed) return undefined;
    const now = Date.now();
    if (now - (this.homeTried.get(peer) ?? 0) < HOME_RETRY_MS) return undefined;
    if (this.homeTried.size >= MAX_HEARD_VIA && !this.homeTried.has(peer)) this.homeTried.clear();
    this.homeTried.set(peer, now);
    return home;
  }

  /** Something came from `s`'s relay; `from` is the peer of a DATA or PROBE. */
  heard(s: Session, from?: NodeId): void {
    s.lastHeard = Date.now();
    s.heard = true;
    if (from !== undefined) {
      let m = this.heardVia.get(from);
      if (m === undefined) {
        if (this.heardVia.size >= MAX_HEARD_VIA) this.heardVia.clear();
        m = new Map();
        this.heardVia.set(from, m);
      }
      m.set(s.relay.id, s.lastHeard);
    }
  }

  /** A KEEPALIVE_ACK with `seq` from `s`'s relay. */
  ack(s: Session, seq: number): void {
    this.heard(s);
    if (s.probeSeq !== seq || s.probeSentAt === undefined) return;
    this.selector.answered(s.relay.id, performance.now() - s.probeSentAt);
    s.probeSentAt = undefined;
  }

  /** `s` is gone (the relay forgot it, or it was silent for `keepaliveMisses` keepalive intervals): re-register in the background. */
  lost(s: Session, why: string): void {
    if (this.sessions.get(s.relay.id) !== s) return;
    this.sessions.delete(s.relay.id);
    this.selector.lost(s.relay.id);
    this.deps.log.warn({ relay: s.relay.id, why }, 'relay session lost; registering again');
    this.decide();
    this.ensure(s.relay);
  }

  /** Ends the run. */
  close(): void {
    this.life?.abort();
    this.life = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const id of this.sessions.keys()) this.selector.lost(id);
    this.sessions.clear();
    this.heardVia.clear();
    this.homeTried.clear();
    this.registering.clear();
    this.decide();
  }

  /** One probe round: health from what was heard, a new probe to each relay, the home decision. */
  private round(): void {
    for (const s of [...this.sessions.values()]) {
      const id = s.relay.id;
      if (s.heard) {
        if (s.probeSentAt !== undefined || s.probeSeq === undefined) this.selector.answered(id);
      } else {
        if (this.selector.missed(id)) this.deps.log.warn({ relay: id, misses: this.deps.opts.keepaliveMisses }, 'relay unhealthy');
        // Unhealthy is enough to move home away; the session itself is only given up (and
        // registered again) after the relay's own keepalive budget, so loss on the only relay
        // does not tear down a session the relay still holds.
        const silentMs = Date.now() - s.lastHeard;
        if (silentMs > this.deps.opts.keepaliveMisses * s.keepaliveMs) {
          this.lost(s, `nothing heard for ${silentMs} ms`);
          continue;
        }
      }
      s.heard = false;
      this.seq = (this.seq + 1) >>> 0;
      s.probeSeq = this.seq;
      s.probeSentAt = performance.now();
      s.socket.send(encodeKeepalive(this.seq), s.relay.endpoint.port, s.relay.endpoint.host, this.deps.sendDone);
    }
    this.decide();
    const home = this.home;
    if (home !== undefined && Date.now() - this.lastKeepaliveTick >= home.keepaliveMs) {
      this.lastKeepaliveTick = Date.now();
      this.deps.onKeepalive?.();
    }
  }

  private decide(): void {
    const change = this.selector.evaluate();
    if (change) {
      const level = change.why === 'first' || change.why === 'nearer' ? 'info' : 'warn';
      const rtt = this.health().find((h) => h.id === change.to)?.rttMs;
      this.deps.log[level]({ from: change.from ?? null, to: change.to ?? null, why: change.why, rttMs: rtt }, 'home relay changed');
      if (change.from !== undefined && change.why !== 'nearer') this.deps.onFailover?.(change.from, change.to, change.why);
    }
    for (const h of this.selector.snapshot()) {
      const labels = { relay: h.id, region: h.region ?? '' };
      if (h.rttMs !== undefined) this.deps.gauges.rtt.set(labels, h.rttMs / 1000);
      this.deps.gauges.healthy.set(labels, h.healthy ? 1 : 0);
      this.deps.gauges.home.set(labels, h.home ? 1 : 0);
    }
  }

  /** Registers with `relay` in the background unless a session or a registration exists. */
  private ensure(relay: NetmapRelay): void {
    const life = this.life;
    if (!life || life.signal.aborted || this.sessions.has(relay.id) || this.registering.has(relay.id)) return;
    this.registering.add(relay.id);
    this.deps
      .register(relay, life.signal)
      .catch((err: unknown) => {
        if (!life.signal.aborted) this.deps.log.error({ relay: relay.id, err: (err as Error).message }, 'relay registration stopped');
      })
      .finally(() => {
        if (this.life === life) this.registering.delete(relay.id);
      });
  }
}
