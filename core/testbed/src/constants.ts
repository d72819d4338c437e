/**
 * Names, addresses and ports shared by the parts of the testbed. None of them names a plugin:
 * plugin defaults live in reference-defaults.ts.
 */

/** Tools every mesh needs whatever the backend. */
export const BASE_TOOLS: readonly string[] = ['ip', 'ping', 'nft', 'tcpdump'];

/** Prefix of interface names made by meshes: `rnm<run hex><node>`. */
export const MESH_IF_PREFIX = 'rnm';

/** Name of the extra test-network host that runs `rustynet relay serve` (not a mesh node). */
export const RELAY_HOST = 'relay';
/** Relay id in the netmap's `relays`. */
export const RELAY_ID = 'relay-1';
/** UDP port of the relay server on its underlay address. */
export const RELAY_PORT = 3478;
/** UDP port of every daemon's direct-path probe socket (`pathProbe.port`, netmap `probePort`). */
export const PROBE_PORT = 41641;
/** Magic DNS zone of the mesh's netmaps (the daemon's default). */
export const DNS_ZONE = 'rustynet';
/** Port Magic DNS listens on (mesh address and loopback); resolv.conf has no port syntax, so 53. */
export const DNS_PORT = 53;
/** Directory whose `<netns>/resolv.conf` `ip netns exec` bind-mounts over `/etc/resolv.conf` (ip-netns(8)). */
export const NETNS_ETC = '/etc/netns';

/** Probe interval the mesh gives its daemons unless `MeshOptions.pathProbe` says otherwise, ms. */
export const MESH_PROBE_INTERVAL_MS = 300;

/** Host name of the mesh's relay number `i` (0: {@link RELAY_HOST}, 1: `relay2`, ...). */
export function relayHostName(i: number): string {
  return i === 0 ? RELAY_HOST : `${RELAY_HOST}${i + 1}`;
}

/** Netmap id of the mesh's relay number `i` (0: {@link RELAY_ID}, 1: `relay-2`, ...). */
export function relayIdOf(i: number): string {
  return `relay-${i + 1}`;
}
