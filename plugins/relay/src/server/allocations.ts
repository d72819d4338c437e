/**
 * Relay allocations (docs/relay.md "Kernel fast path"): a registered session asks for a port for
 * one peer (ALLOCATE); once the peer's session asked for one back, the pair is forwarded in the
 * kernel ({@link KernelForwarder}). Allocations live as long as the session that made them: a
 * session that ends (expiry, re-registration from elsewhere, node removed from the netmap)
 * removes its allocations and their kernel rules at once.
 */
import { isIPv4 } from 'node:net';
import type { KernelForwarder } from './kernel-forwarder.js';
import type { KernelNodeLimits, KernelPair } from './kernel-rules.js';
import type { RelayLimits } from './limits.js';

/** A reserved relay port (a bound UDP socket nobody else can take). */
export interface ReservedPort {
  port: number;
  close(): void;
}

/** An ALLOCATE from a live, registered session, as the protocol engine hands it over. */
export interface AllocateRequest {
  sessionKey: string;
  nodeId: string;
  /** The session's source address (validated at registration). */
  address: string;
  /** The node's backend UDP port: its raw datagrams come from `address:backendPort`. */
  backendPort: number;
  peer: string;
  /** The allocation port the client had before (a relay restart), taken again when free. */
  preferredPort?: number;
}

/** What the protocol engine calls (RelayCoreOptions.allocations). */
export interface AllocationHooks {
  /** Answers with the allocation port, or 0 (no fast path for this request). Never throws. */
  allocate(req: AllocateRequest, reply: (port: number) => void): void;
  /** The session ended: its allocations and their kernel rules go. */
  sessionRemoved(sessionKey: string): void;
}

interface Allocation extends AllocateRequest {
  reserved: ReservedPort;
  pair: KernelPair | undefined;
  lastAsked: number;
}

/** Counters of the fast path (stats().kernel). */
export interface AllocationStats {
  allocations: number;
  pairs: number;
  /** ALLOCATEs answered with 0 (limits, unsupported address family, nft failures). */
  refused: number;
  /** nft runs that failed (pairs then stay on the userspace path). */
  failures: number;
}

/** Options of {@link AllocationTable}. */
export interface AllocationTableOptions {
  forwarder: KernelForwarder;
  limits: RelayLimits;
  /** Binds a port: `preferred` when given and free, else an ephemeral one. */
  reservePort: (preferred?: number) => Promise<ReservedPort>;
  onError: (err: unknown, what: string) => void;
  now?: () => number;
  /** Allocations one session may hold (default 64). */
  maxPerSession?: number;
  /** Allocations in total (default 4096). */
  maxTotal?: number;
}

/** The allocation table; implements {@link AllocationHooks}. */
export class AllocationTable implements AllocationHooks {
  private readonly byKey = new Map<string, Allocation>();
  private readonly bySession = new Map<string, Set<Allocation>>();
  private readonly limitNames = new Map<string, string>();
  private nextLimit = 0;
  private nextPair = 0;
  private closed = false;
  readonly stats: AllocationStats = { allocations: 0, pairs: 0, refused: 0, failures: 0 };
  private readonly now: () => number;

  constructor(private readonly o: AllocationTableOptions) {
    this.now = o.now ?? Date.now;
  }

  allocate(req: AllocateRequest, reply: (port: number) => void): void {
    const key = `${req.sessionKey}>${req.peer}`;
    const refuse = (): void => {
      this.stats.refused++;
      reply(0);
    };
    if (this.closed || !isIPv4(req.address)) return refuse();
    const existing = this.byKey.get(key);
    if (existing) {
      existing.lastAsked = this.now();
      if (existing.backendPort !== req.backendPort) {
        this.unpair(existing);
        existing.backendPort = req.backendPort;
        this.tryPair(existing);
      } else if (!existing.pair) this.tryPair(existing);
      return reply(existing.reserved.port);
    }
    const mine = this.bySession.get(req.sessionKey);
    if ((mine?.size ?? 0) >= (this.o.maxPerSession ?? 64) || this.byKey.size >= (this.o.maxTotal ?? 4096)) return refuse();
    // Hold the key while the port is being reserved, so a duplicated ALLOCATE does not reserve twice.
    const pending: Allocation = { ...req, reserved: { port: 0, close() {} }, pair: undefined, lastAsked: this.now() };
    this.byKey.set(key, pending);
    const set = mine ?? new Set<Allocation>();
    set.add(pending);
    this.bySession.set(req.sessionKey, set);
    this.o.reservePort(req.preferredPort).then(
      (reserved) => {
        if (this.byKey.get(key) !== pending) {
          reserved.close(); // the session ended meanwhile
          return refuse();
        }
        pending.reserved = reserved;
        this.stats.allocations = this.byKey.size;
        reply(reserved.port);
        this.tryPair(pending);
      },
      (err: unknown) => {
        this.drop(pending);
        this.o.onError(err, 'reserve an allocation port');
        refuse();
      },
    );
  }

  sessionRemoved(sessionKey: string): void {
    const set = this.bySession.get(sessionKey);
    if (!set) return;
    for (const a of [...set]) this.drop(a);
  }

  /** Removes every allocation (server stop); the caller stops the forwarder. */
  close(): void {
    this.closed = true;
    for (const a of [...this.byKey.values()]) this.drop(a);
  }

  private drop(a: Allocation): void {
    this.unpair(a);
    const key = `${a.sessionKey}>${a.peer}`;
    if (this.byKey.get(key) === a) this.byKey.delete(key);
    const set = this.bySession.get(a.sessionKey);
    set?.delete(a);
    if (set && set.size === 0) this.bySession.delete(a.sessionKey);
    a.reserved.close();
    this.stats.allocations = this.byKey.size;
  }

  private limitFor(nodeId: string): KernelNodeLimits {
    let name = this.limitNames.get(nodeId);
    if (name === undefined) {
      name = `n${this.nextLimit++}`;
      this.limitNames.set(nodeId, name);
    }
    const l = this.o.limits;
    return {
      name,
      packetsPerSecond: l.packetsPerSecond,
      burstPackets: l.burstPackets,
      bytesPerSecond: l.bytesPerSecond,
      burstBytes: l.burstBytes,
    };
  }

  /** Pairs `a` with the most recently asked, reserved allocation of the peer for `a`'s node. */
  private tryPair(a: Allocation): void {
    if (a.pair || a.reserved.port === 0) return;
    let best: Allocation | undefined;
    for (const b of this.byKey.values()) {
      if (b.nodeId !== a.peer || b.peer !== a.nodeId || b.pair || b.reserved.port === 0) continue;
      if (!best || b.lastAsked > best.lastAsked) best = b;
    }
    if (!best) return;
    const b = best;
    const la = this.limitFor(a.nodeId);
    const lb = this.limitFor(b.nodeId);
    const pair: KernelPair = {
      id: this.nextPair++ % 1_000_000,
      relay: this.o.forwarder.relayAddress,
      a: { address: a.address, port: a.backendPort, allocationPort: a.reserved.port, limit: la.name },
      b: { address: b.address, port: b.backendPort, allocationPort: b.reserved.port, limit: lb.name },
    };
    a.pair = pair;
    b.pair = pair;
    this.stats.pairs++;
    this.o.forwarder.addPair(pair, { a: la, b: lb }).catch((err: unknown) => {
      this.stats.failures++;
      this.o.onError(err, `install pair ${a.nodeId}<->${b.nodeId}`);
      // Leave both unpaired; the next ALLOCATE (sent with every keepalive) tries again.
      if (a.pair === pair) a.pair = undefined;
      if (b.pair === pair) b.pair = undefined;
      this.stats.pairs = Math.max(0, this.stats.pairs - 1);
    });
  }

  private unpair(a: Allocation): void {
    const pair = a.pair;
    if (!pair) return;
    for (const x of this.byKey.values()) if (x.pair === pair) x.pair = undefined;
    a.pair = undefined;
    this.stats.pairs = Math.max(0, this.stats.pairs - 1);
    this.o.forwarder.removePair(pair).catch((err: unknown) => {
      this.stats.failures++;
      this.o.onError(err, `remove pair ${pair.id}`);
    });
  }
}
