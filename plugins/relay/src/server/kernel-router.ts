/**
 * Route look-ups for the relay's netdev fast path ({@link renderNetdevAddPair}): which interface
 * holds the relay address, and the next hop toward a node (`ip -j route get`, the kernel's own
 * answer in the relay's network namespace). Read-only: nothing is changed.
 */
import { execFile } from 'node:child_process';
import { isIPv4 } from 'node:net';

/** A route toward one address. */
export interface RelayRoute {
  /** Outgoing interface. */
  device: string;
  /** The gateway when the address is not on-link, else the address itself. */
  nextHop: string;
}

/** Answers the netdev fast path's route questions. Injectable for tests. */
export interface RelayRouter {
  /** The interface that holds `address` (a local IPv4 address); rejects when none does. */
  deviceOf(address: string): Promise<string>;
  /** The route toward `address`; rejects when there is none. */
  routeTo(address: string): Promise<RelayRoute>;
}

function ipJson(args: readonly string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-j', '-4', ...args], { timeout: 5000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(new Error(`ip ${args.join(' ')}: ${err.message.trim().slice(0, 300)}`));
      try {
        resolve(JSON.parse(stdout) as unknown);
      } catch (e) {
        reject(new Error(`ip ${args.join(' ')}: unreadable output: ${(e as Error).message}`));
      }
    });
  });
}

/** The router of this process's network namespace (the `ip` binary, JSON output). */
export function ipRouter(): RelayRouter {
  return {
    async deviceOf(address) {
      if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`);
      const links = (await ipJson(['addr', 'show'])) as { ifname?: string; addr_info?: { local?: string }[] }[];
      for (const l of Array.isArray(links) ? links : []) {
        if (typeof l.ifname === 'string' && l.addr_info?.some((a) => a.local === address)) return l.ifname;
      }
      throw new Error(`no interface holds ${address}`);
    },
    async routeTo(address) {
      if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`);
      const r = ((await ipJson(['route', 'get', address])) as { dev?: string; gateway?: string; type?: string }[])[0];
      if (!r || typeof r.dev !== 'string') throw new Error(`no route to ${address}`);
      if (r.type !== undefined && r.type !== 'unicast') throw new Error(`route to ${address} is ${r.type}`);
      return { device: r.dev, nextHop: typeof r.gateway === 'string' ? r.gateway : address };
    },
  };
}
