/**
 * The underlay: one network namespace per host on the conformance kit's shared test network
 * (198.18.0.0/24, per-run names, tracked for cleanup), per-namespace resolv.conf files, and
 * cutting or restoring the direct path between two hosts with nftables inside their namespaces.
 */
import { existsSync, mkdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNetwork, type TestHost } from '@rustynet/conformance-kit/harness';
import { DNS_ZONE, NETNS_ETC } from './constants.js';

/**
 * Creates one namespace per name in `hosts` on a fresh test network (removed by its `destroy`),
 * named `<prefix>-<host>` (default prefix: the harness's `rnt-<run id>`).
 */
export function createUnderlay(hosts: string[], prefix?: string): Promise<TestNetwork> {
  return TestNetwork.create({ hosts, ...(prefix !== undefined && { prefix }) });
}

/** Text of a resolv.conf (resolv.conf(5)) naming `nameserver`, searching `zone`. */
export function renderResolvConf(nameserver: string, zone = DNS_ZONE): string {
  return `# written by the Rustynet test mesh; removed with the namespace\nnameserver ${nameserver}\nsearch ${zone}\noptions timeout:1 attempts:2\n`;
}

/** `/etc/netns/<ns>/resolv.conf` of a host's namespace. */
export function resolvConfPath(host: TestHost): string {
  return join(NETNS_ETC, host.netns, 'resolv.conf');
}

/**
 * Writes `/etc/netns/<ns>/resolv.conf` for every entry (its nameserver the only one, search
 * {@link DNS_ZONE}); `ip netns exec` bind-mounts it over `/etc/resolv.conf` for programs started
 * in that namespace. The root namespace's resolver is never touched. Each file and directory is
 * tracked and removed with the test network (also on signals).
 */
export function installResolvConfs(
  net: TestNetwork,
  entries: ReadonlyArray<{ id: string; host: TestHost; nameserver: string }>,
  log: (line: string) => void,
): void {
  if (!existsSync(NETNS_ETC)) {
    mkdirSync(NETNS_ETC, { recursive: true, mode: 0o755 });
    net.tracker.track('file', NETNS_ETC, () => {
      try {
        rmdirSync(NETNS_ETC);
      } catch {
        /* not empty: other namespaces use it */
      }
    });
  }
  for (const e of entries) {
    const dir = join(NETNS_ETC, e.host.netns);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    net.tracker.track('file', dir, () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'resolv.conf'), renderResolvConf(e.nameserver), { mode: 0o644 });
    log(`node ${e.id}: ${join(dir, 'resolv.conf')}: nameserver ${e.nameserver} (its own Magic DNS), search ${DNS_ZONE}`);
  }
}

/**
 * Blocks all underlay traffic between hosts `a` and `b` with nftables in both namespaces (the
 * harness's `blockPath`). Traffic through other hosts (a relay) is not affected.
 * @returns `Date.now()` when the first block was in place (from then on the path is cut).
 */
export async function blockPathBetween(a: TestHost, b: TestHost): Promise<number> {
  await a.blockPath(b);
  const t = Date.now();
  await b.blockPath(a);
  return t;
}

/**
 * Removes the blocks of {@link blockPathBetween} in both namespaces (in parallel).
 * @returns `Date.now()` when both were removed (from then on the path is open).
 */
export async function unblockPathBetween(a: TestHost, b: TestHost): Promise<number> {
  await Promise.all([a.unblockPath(b), b.unblockPath(a)]);
  return Date.now();
}
