/**
 * The reference plugins the testbed uses when its caller names none: the only file of the
 * testbed that names a backend. The mechanism (namespaces, keys, netmaps, processes, cleanup)
 * takes every plugin and every backend profile as a parameter; tests, benches and the demo that
 * run the reference plugins get them from here.
 *
 * core/plugin-api/test/dependency-rules.test.ts checks that no other file of `core/testbed/src`
 * contains a backend word.
 */
import type { BackendProfile } from './profiles.js';

/** Package name of the reference WireGuard backend. */
export const WIREGUARD_BACKEND = '@rustynet/backend-wireguard';
/** Package name of the reference OpenVPN backend. */
export const OPENVPN_BACKEND = '@rustynet/backend-openvpn';
/** The reference backends, in the order tests and the demo run them. */
export const REFERENCE_BACKENDS: readonly string[] = [WIREGUARD_BACKEND, OPENVPN_BACKEND];

/**
 * Directory where `wireguard-go` puts its control sockets (`<ifname>.sock`), shared by every
 * network namespace of the host (design brief, "Test network conventions").
 */
export const WIREGUARD_GO_SOCKET_DIR = '/var/run/wireguard';

/**
 * Profile of the reference WireGuard backend running on `wireguard-go` (no kernel module here).
 * @param socketDir where wireguard-go puts its control sockets, default {@link WIREGUARD_GO_SOCKET_DIR}.
 */
export function wireguardGoProfile(socketDir = WIREGUARD_GO_SOCKET_DIR): BackendProfile {
  return {
    tools: [['wg'], ['wireguard-go']],
    processNames: ['wireguard-go'],
    runtimeFiles: (ifname) => [`${socketDir}/${ifname}.sock`],
    runtimeDir: socketDir,
  };
}

/** Profile of the reference OpenVPN backend (the openvpn 2.6 binary). */
export function openvpnProfile(): BackendProfile {
  return {
    tools: [['openvpn']],
    processNames: ['openvpn'],
    runtimeFiles: () => [],
  };
}

/**
 * Profiles of the reference backends by package name. Third-party backends work without one
 * (fewer prerequisite and leftover checks); pass `MeshOptions.backendProfiles` to add theirs.
 */
export const REFERENCE_BACKEND_PROFILES: Readonly<Record<string, BackendProfile>> = {
  [WIREGUARD_BACKEND]: wireguardGoProfile(),
  [OPENVPN_BACKEND]: openvpnProfile(),
};

/** The policy plugin a mesh loads with `MeshOptions.policy` unless `MeshOptions.plugins` names another. */
export const POLICY_PLUGIN = '@rustynet/policy-nftables';
/** The Magic DNS plugin a mesh loads with `MeshOptions.dns` unless `MeshOptions.plugins` names another. */
export const DNS_PLUGIN = '@rustynet/dns-magic';
/** The relay client plugin a mesh loads with `MeshOptions.relay` unless `MeshOptions.plugins` names another. */
export const RELAY_PLUGIN = '@rustynet/relay';
/** nftables table of {@link POLICY_PLUGIN} in each node's namespace (its default). */
export const POLICY_TABLE = 'rustynet_policy';

/** The non-backend plugins of a mesh, see `MeshOptions.plugins`. */
export interface MeshPluginSet {
  /** Policy plugin (package name or path), loaded with `MeshOptions.policy`. */
  policy: string;
  /** nftables table the policy plugin owns in a node's namespace (counters, leftover checks). */
  policyTable: string;
  /** Magic DNS plugin, loaded with `MeshOptions.dns`. */
  dns: string;
  /** Relay client plugin, loaded with `MeshOptions.relay`. */
  relay: string;
}

/** The reference plugin set. */
export const REFERENCE_PLUGINS: Readonly<MeshPluginSet> = {
  policy: POLICY_PLUGIN,
  policyTable: POLICY_TABLE,
  dns: DNS_PLUGIN,
  relay: RELAY_PLUGIN,
};

/**
 * Default ping attempts per pair of `Mesh.pingMatrix` (1 s each). The first packet may wait for
 * a handshake, and when two peers initiate at the same moment (all pairs ping at once) both
 * handshakes can be lost; WireGuard then retries after REKEY_TIMEOUT (5 s + up to 333 ms
 * jitter, whitepaper section 6.4), so fewer than 6 attempts would make the matrix flaky.
 */
export const PING_MATRIX_ATTEMPTS = 8;
