/**
 * Kit-made per-peer tunnel devices for the policy suite: one point-to-point veth pair from the
 * protected node a to each of b, c and d, independent of any backend. They stand in for a backend
 * with one device per peer (OpenVPN's tun devices, a kernel per-peer device), so every policy
 * plugin is tested with several tunnel interfaces, whatever backend carries the mesh.
 *
 * Both ends live in test namespaces (`ip link add … type veth peer name … netns <peer ns>` run in
 * a's namespace); deleting a's end deletes the pair, and the namespaces' removal at the end of the
 * run removes whatever a failed cleanup left.
 */
import type { NodeName } from '../backend/fixture.js';
import type { TestHost } from '../../harness/test-network.js';

/** The peers that get a kit device on a, in interface order. */
export const KIT_DEVICE_PEERS = ['b', 'c', 'd'] as const;
/** A peer with a kit device. */
export type KitDevicePeer = (typeof KIT_DEVICE_PEERS)[number];

/** IPv4 address of node `n` on the kit devices (`100.64.220.0/24`, outside every backend test address). */
export function kitAddress(n: NodeName): string {
  return `100.64.220.${{ a: 1, b: 2, c: 3, d: 4 }[n]}`;
}

/** One kit device: a's end (a tunnel interface of a) and the peer's end. */
export interface KitDevice {
  peer: KitDevicePeer;
  /** Name of a's end, e.g. `rk1a2fb` (unique per run, at most 15 bytes). */
  ifname: string;
  /** The peer's address on the device (a's is {@link kitAddress}('a')). */
  address: string;
}

/** The kit devices of one run, see {@link createKitDevices}. */
export interface KitDevices {
  devices: KitDevice[];
  /** Deletes every pair (idempotent; never throws). */
  remove(): Promise<void>;
}

/**
 * Creates the veth pairs a<->b, a<->c, a<->d: a's end `rk<runId><peer>` holds
 * `100.64.220.1 peer 100.64.220.<n>`, the peer's end `rk<runId>a` the reverse, both up.
 * @param hosts the test hosts a, b, c, d.
 * @throws Error (from `ip`) when a pair cannot be created; the pairs made so far are removed.
 */
export async function createKitDevices(hosts: Record<NodeName, TestHost>, runId: string): Promise<KitDevices> {
  const a = hosts.a;
  const devices: KitDevice[] = KIT_DEVICE_PEERS.map((peer) => ({ peer, ifname: `rk${runId}${peer}`, address: kitAddress(peer) }));
  const remove = async (): Promise<void> => {
    await Promise.all(devices.map((d) => a.exec('ip', ['link', 'del', d.ifname], { reject: false })));
  };
  try {
    await remove(); // a failed earlier run of the same test may have left them
    for (const d of devices) {
      const peerHost = hosts[d.peer];
      const far = `rk${runId}a`;
      await a.exec('ip', ['link', 'add', d.ifname, 'type', 'veth', 'peer', 'name', far, 'netns', peerHost.netns]);
      await a.exec('ip', ['addr', 'add', `${kitAddress('a')}/32`, 'peer', `${d.address}/32`, 'dev', d.ifname]);
      await a.exec('ip', ['link', 'set', d.ifname, 'up']);
      await peerHost.exec('ip', ['addr', 'add', `${d.address}/32`, 'peer', `${kitAddress('a')}/32`, 'dev', far]);
      await peerHost.exec('ip', ['link', 'set', far, 'up']);
    }
  } catch (e) {
    await remove();
    throw e;
  }
  return { devices, remove };
}
