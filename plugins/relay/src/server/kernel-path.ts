/**
 * Sets up the relay's kernel fast path for the server (docs/relay.md "Kernel fast path"): the
 * nftables forwarder, the allocation table and the sockets that reserve allocation ports. When it
 * cannot start it says why, and the server keeps the userspace path (fall back, never fail).
 */
import { createSocket } from 'node:dgram';
import { isRustynetError, type Logger } from '@rustynet/plugin-api';
import { AllocationTable, type AllocationStats, type ReservedPort } from './allocations.js';
import { KernelForwarder, type NftRunner } from './kernel-forwarder.js';
import type { RelayRouter } from './kernel-router.js';
import type { RelayLimits } from './limits.js';

/** What `stats().kernel` reports. */
export interface KernelPathStats extends AllocationStats {
  /** `active`: pairs are forwarded in the kernel; `failed`: asked for but unavailable (userspace path only). */
  state: 'active' | 'failed';
  /** Why it is `failed` (KERNEL_FORWARDING_FAILED's message), else null. */
  reason: string | null;
  /** The table new pairs go to: `netdev` (ingress + fwd), `inet` (fallback: prerouting/postrouting); null when `failed`. */
  mode: 'netdev' | 'inet' | null;
  /** Why `mode` is `inet` (the netdev table could not be used), else null. */
  modeReason: string | null;
  /** Live pairs in the netdev table (the rest of `pairs` are in the inet table). */
  netdevPairs: number;
  /** Datagrams that reached a reserved allocation port in userspace: not from a paired, registered source (dropped). */
  unmatched: number;
}

/** A running (or failed) kernel path. */
export interface KernelPath {
  allocations: AllocationTable | undefined;
  stats(): KernelPathStats;
  /** Kernel counters summed over live pairs (packets, bytes); zeros when not active. */
  forwarded(): Promise<{ packets: number; bytes: number }>;
  stop(): Promise<void>;
}

/** Starts the kernel path for a relay listening on `relayAddress`; never throws (a failure gives state `failed`). */
export async function startKernelPath(opts: {
  relayAddress: string;
  limits: RelayLimits;
  logger: Logger;
  run?: NftRunner;
  readIpForward?: () => Promise<string>;
  router?: RelayRouter | false;
}): Promise<KernelPath> {
  const { logger } = opts;
  let unmatched = 0;
  let forwarder: KernelForwarder;
  try {
    forwarder = await KernelForwarder.start({
      relayAddress: opts.relayAddress,
      ...(opts.run && { run: opts.run }),
      ...(opts.readIpForward && { readIpForward: opts.readIpForward }),
      ...(opts.router !== undefined && { router: opts.router }),
    });
  } catch (err) {
    const reason = (err as Error).message;
    logger.warn(
      { code: isRustynetError(err) ? err.code : undefined, reason: isRustynetError(err) ? err.details?.reason : undefined, err: reason },
      'relay kernel forwarding unavailable; relaying in userspace only',
    );
    const zero: AllocationStats = { allocations: 0, pairs: 0, refused: 0, failures: 1 };
    return {
      allocations: undefined,
      stats: () => ({ ...zero, state: 'failed', reason, mode: null, modeReason: null, netdevPairs: 0, unmatched: 0 }),
      forwarded: () => Promise.resolve({ packets: 0, bytes: 0 }),
      stop: async () => {},
    };
  }
  const bindPort = (port: number): Promise<ReservedPort> =>
    new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.on('message', () => unmatched++);
      s.bind({ address: opts.relayAddress, port, exclusive: true }, () => {
        s.off('error', reject);
        s.on('error', () => {});
        resolve({ port: s.address().port, close: () => s.close() });
      });
    });
  // A preferred port (the client's port before a relay restart) when it is free, else an ephemeral one.
  const reservePort = (preferred?: number): Promise<ReservedPort> =>
    preferred === undefined ? bindPort(0) : bindPort(preferred).catch(() => bindPort(0));
  const allocations = new AllocationTable({
    forwarder,
    limits: opts.limits,
    reservePort,
    onError: (err, what) =>
      logger.warn({ err: (err as Error).message }, `relay kernel forwarding: cannot ${what}; that pair stays on the userspace path`),
  });
  const mode = forwarder.netdevDevice !== null ? 'netdev' : 'inet';
  if (mode === 'netdev')
    logger.info(
      { relayAddress: opts.relayAddress, device: forwarder.netdevDevice },
      'relay kernel forwarding active (nftables table netdev rustynet_relay, ingress + fwd)',
    );
  else
    logger.warn(
      { relayAddress: opts.relayAddress, code: 'KERNEL_FORWARDING_FAILED', reason: 'netdev', err: forwarder.netdevReason },
      'relay kernel forwarding: netdev forwarding unavailable; using nftables table inet rustynet_relay',
    );
  return {
    allocations,
    stats: () => ({
      ...allocations.stats,
      pairs: forwarder.pairs,
      state: 'active',
      reason: null,
      mode,
      modeReason: forwarder.netdevReason,
      netdevPairs: forwarder.netdevPairs,
      unmatched,
    }),
    async forwarded() {
      let packets = 0;
      let bytes = 0;
      for (const c of (await forwarder.counters()).values()) {
        packets += c.packets;
        bytes += c.bytes;
      }
      return { packets, bytes };
    },
    async stop() {
      allocations.close();
      await forwarder.stop();
    },
  };
}
