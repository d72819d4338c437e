/**
 * A userspace UDP impairment shim: a forwarder placed between UDP clients and one UDP server
 * that drops, duplicates, reorders and delays datagrams at configured rates, deterministically
 * for a given seed. The test machines have no `tc netem`; nftables `numgen random` covers loss
 * in the kernel, this covers the rest (docs/relay.md, "Testing under impairment").
 *
 * Like a NAT, the shim gives each client (source address and port) its own upstream socket, so
 * the server sees one stable source per client and its replies go back to the right client
 * from the shim's listening socket.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** Impairments of one direction. Every share is a percentage 0..100 (fractions allowed). */
export interface ImpairmentProfile {
  /** Share of datagrams dropped. Default 0. */
  lossPercent?: number;
  /** Share of forwarded datagrams sent twice (the copy right after the original). Default 0. */
  duplicatePercent?: number;
  /**
   * Share of forwarded datagrams held back and sent after `reorderWindow` later datagrams of
   * the same direction (or after `reorderFlushMs` when no more come). Default 0.
   */
  reorderPercent?: number;
  /** How many later datagrams overtake a held one, 1..64. Default 3. */
  reorderWindow?: number;
  /** Longest hold of a reordered datagram when traffic stops, ms. Default 50. */
  reorderFlushMs?: number;
  /** Fixed delay added to every forwarded datagram, ms. Default 0. */
  delayMs?: number;
  /** Uniform jitter ± this many ms around `delayMs` (clamped at 0), ms. Default 0. */
  jitterMs?: number;
}

/** A UDP address. */
export interface UdpAddress {
  host: string;
  port: number;
}

/** What {@link ImpairmentShim} needs. */
export interface ImpairmentShimOptions {
  /** Where clients send (port 0: an ephemeral port). */
  listen: UdpAddress;
  /** The real server. */
  upstream: UdpAddress;
  /** Local address the upstream sockets bind to. Default: any. */
  upstreamBind?: string;
  /** Seed of the pseudo-random decisions (xoroshiro128+; each direction has its own stream). */
  seed: number;
  /** Impairments of client → server datagrams. */
  toServer?: ImpairmentProfile;
  /** Impairments of server → client datagrams. */
  toClient?: ImpairmentProfile;
}

/** Counters of one direction. `forwarded` counts datagrams sent, duplicates included. */
export interface ImpairmentCounters {
  received: number;
  dropped: number;
  forwarded: number;
  duplicated: number;
  reordered: number;
  delayed: number;
}

/** The two directions' counters and the number of upstream sockets (one per client). */
export interface ImpairmentStats {
  toServer: ImpairmentCounters;
  toClient: ImpairmentCounters;
  clients: number;
}

/** A datagram the shim saw, for {@link ImpairmentShim.onDatagram}. */
export type DatagramTap = (direction: 'toServer' | 'toClient', data: Buffer, client: UdpAddress) => void;

const zero = (): ImpairmentCounters => ({ received: 0, dropped: 0, forwarded: 0, duplicated: 0, reordered: 0, delayed: 0 });

/**
 * Checks a profile's fields.
 * @throws RangeError naming the field when a share is outside 0..100, a time negative or the
 *   window outside 1..64.
 */
export function validateProfile(p: ImpairmentProfile, name: string): Required<ImpairmentProfile> {
  const share = (k: keyof ImpairmentProfile): number => {
    const v = p[k] ?? 0;
    if (typeof v !== 'number' || !(v >= 0 && v <= 100)) throw new RangeError(`${name}.${k} must be 0..100: ${String(v)}`);
    return v;
  };
  const ms = (k: keyof ImpairmentProfile, d: number): number => {
    const v = p[k] ?? d;
    if (typeof v !== 'number' || !(v >= 0 && v <= 60_000)) throw new RangeError(`${name}.${k} must be 0..60000 ms: ${String(v)}`);
    return v;
  };
  const w = p.reorderWindow ?? 3;
  if (!Number.isInteger(w) || w < 1 || w > 64) throw new RangeError(`${name}.reorderWindow must be an integer 1..64: ${String(w)}`);
  return {
    lossPercent: share('lossPercent'),
    duplicatePercent: share('duplicatePercent'),
    reorderPercent: share('reorderPercent'),
    reorderWindow: w,
    reorderFlushMs: ms('reorderFlushMs', 50),
    delayMs: ms('delayMs', 0),
    jitterMs: ms('jitterMs', 0),
  };
}

/** Resolution of the share decisions: one in a million. */
const SCALE = 1_000_000;

/** One direction: its decision stream, its profile, its held (reordered) datagrams and counters. */
class Lane {
  readonly counters = zero();
  private profile: Required<ImpairmentProfile>;
  private readonly rng;
  private held: Array<{ send: () => void; after: number; timer: NodeJS.Timeout }> = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(profile: ImpairmentProfile, seed: number, name: string) {
    this.profile = validateProfile(profile, name);
    this.rng = xoroshiro128plus(seed);
  }

  setProfile(p: ImpairmentProfile, name: string): void {
    this.profile = validateProfile(p, name);
  }

  private chance(percent: number): boolean {
    // Always draw, so one decision stream does not shift when a share is 0.
    return uniformInt(this.rng, 0, SCALE - 1) < (percent / 100) * SCALE;
  }

  /** Applies the profile to one datagram; `send` puts one copy on the wire. */
  take(send: () => void): void {
    const p = this.profile;
    const c = this.counters;
    c.received++;
    const drop = this.chance(p.lossPercent);
    const dup = this.chance(p.duplicatePercent);
    const hold = this.chance(p.reorderPercent);
    const jitter = uniformInt(this.rng, 0, SCALE) / SCALE;
    if (drop) {
      c.dropped++;
      return;
    }
    const once = (): void => {
      c.forwarded++;
      send();
    };
    const deliver = (): void => {
      once();
      if (dup) {
        c.duplicated++;
        once();
      }
    };
    const delay = Math.max(0, p.delayMs + (jitter * 2 - 1) * p.jitterMs);
    const out = (): void => {
      if (delay > 0 || p.jitterMs > 0) {
        c.delayed++;
        const t = setTimeout(() => {
          this.timers.delete(t);
          deliver();
        }, delay);
        this.timers.add(t);
      } else deliver();
    };
    // Datagrams already held are overtaken by this one: count it against their windows.
    const due = this.held.filter((h) => --h.after <= 0);
    if (hold) {
      c.reordered++;
      const entry = { send: out, after: p.reorderWindow, timer: setTimeout(() => this.release(entry), p.reorderFlushMs) };
      this.held.push(entry);
    } else out();
    for (const h of due) this.release(h);
  }

  private release(h: { send: () => void; timer: NodeJS.Timeout }): void {
    const i = this.held.indexOf(h as (typeof this.held)[number]);
    if (i < 0) return;
    this.held.splice(i, 1);
    clearTimeout(h.timer);
    h.send();
  }

  /** Cancels everything pending (held and delayed datagrams are not sent). */
  close(): void {
    for (const h of this.held) clearTimeout(h.timer);
    this.held = [];
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * The shim. `start()` binds the listening socket; each new client gets an upstream socket on
 * its first datagram; `stop()` closes every socket and cancels pending datagrams.
 */
export class ImpairmentShim {
  private readonly lanes: { toServer: Lane; toClient: Lane };
  private listener: Socket | undefined;
  private readonly upstreams = new Map<string, Socket>();
  private readonly taps: DatagramTap[] = [];

  /** @throws RangeError naming the field when a profile is invalid. */
  constructor(private readonly opts: ImpairmentShimOptions) {
    this.lanes = {
      toServer: new Lane(opts.toServer ?? {}, opts.seed, 'toServer'),
      toClient: new Lane(opts.toClient ?? {}, opts.seed ^ 0x5bd1e995, 'toClient'),
    };
  }

  /**
   * Binds the listening socket.
   * @returns the address it listens on.
   * @throws Error when it is already started or the bind fails.
   */
  async start(): Promise<UdpAddress> {
    if (this.listener) throw new Error('impairment shim already started');
    const s = createSocket({ type: this.opts.listen.host.includes(':') ? 'udp6' : 'udp4' });
    this.listener = s;
    s.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    s.on('error', () => undefined);
    s.bind(this.opts.listen.port, this.opts.listen.host);
    await once(s, 'listening');
    const a = s.address();
    return { host: a.address, port: a.port };
  }

  /** Changes the impairments from now on (held and delayed datagrams keep their fate). @throws RangeError as the constructor. */
  setProfiles(p: { toServer?: ImpairmentProfile; toClient?: ImpairmentProfile }): void {
    if (p.toServer) this.lanes.toServer.setProfile(p.toServer, 'toServer');
    if (p.toClient) this.lanes.toClient.setProfile(p.toClient, 'toClient');
  }

  /** Calls `tap` with every datagram received (before any impairment). */
  onDatagram(tap: DatagramTap): void {
    this.taps.push(tap);
  }

  /**
   * Sends `data` to the server from a fresh socket (a new source port): a replay from another
   * address. The socket is closed after `lingerMs`.
   */
  async sendFromNewSocket(data: Buffer, lingerMs = 200): Promise<void> {
    const s = createSocket(this.opts.upstream.host.includes(':') ? 'udp6' : 'udp4');
    s.on('error', () => undefined);
    s.bind(0, this.opts.upstreamBind);
    await once(s, 'listening');
    s.send(data, this.opts.upstream.port, this.opts.upstream.host);
    await new Promise((r) => setTimeout(r, lingerMs));
    s.close();
  }

  /** Sends `data` to the server unimpaired through `client`'s own upstream socket (a replay from the same address). @returns false without one. */
  sendAs(client: UdpAddress, data: Buffer): boolean {
    const up = this.upstreams.get(`${client.host}|${client.port}`);
    if (!up) return false;
    up.send(data, this.opts.upstream.port, this.opts.upstream.host);
    return true;
  }

  /** Counters of both directions (copies). */
  stats(): ImpairmentStats {
    return { toServer: { ...this.lanes.toServer.counters }, toClient: { ...this.lanes.toClient.counters }, clients: this.upstreams.size };
  }

  /** Number of sockets the shim holds open (listener + upstreams); 0 after `stop()`. */
  openSockets(): number {
    return (this.listener ? 1 : 0) + this.upstreams.size;
  }

  /** Closes every socket and drops whatever is held or delayed. Idempotent. */
  async stop(): Promise<void> {
    this.lanes.toServer.close();
    this.lanes.toClient.close();
    const all = [...(this.listener ? [this.listener] : []), ...this.upstreams.values()];
    this.listener = undefined;
    this.upstreams.clear();
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    const client = { host: rinfo.address, port: rinfo.port };
    for (const t of this.taps) t('toServer', msg, client);
    const up = this.upstreamFor(client);
    if (!up) return;
    const { host, port } = this.opts.upstream;
    this.lanes.toServer.take(() => up.send(msg, port, host));
  }

  private upstreamFor(client: UdpAddress): Socket | undefined {
    const key = `${client.host}|${client.port}`;
    const known = this.upstreams.get(key);
    if (known || !this.listener) return known;
    const up = createSocket(this.opts.upstream.host.includes(':') ? 'udp6' : 'udp4');
    up.on('error', () => undefined);
    up.on('message', (msg) => {
      for (const t of this.taps) t('toClient', msg, client);
      const l = this.listener;
      if (l) this.lanes.toClient.take(() => l.send(msg, client.port, client.host));
    });
    up.bind(0, this.opts.upstreamBind);
    this.upstreams.set(key, up);
    return up;
  }
}
