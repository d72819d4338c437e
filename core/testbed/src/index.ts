/**
 * @packageDocumentation
 * `@rustynet/testbed` (private, never published): real Rustynet meshes in network namespaces for
 * the integration tests, the benches and the three-node demo. Only tests, benches and examples
 * may import it (a dependency rule in .dependency-cruiser.cjs).
 *
 * The mechanism takes its plugins as parameters: `MeshOptions.backends` (always given),
 * `MeshOptions.plugins` (policy, DNS, relay) and `MeshOptions.backendProfiles` default to the
 * reference set exported from reference-defaults.ts, the one module that names them.
 */
export { Mesh } from './mesh.js';
export { resolveMeshOptions, type MeshOptions, type MeshPathProbe, type ResolvedMeshOptions } from './options.js';
export type { MeshNode, MeshKeys } from './node-config.js';
export { generateMeshKeys, buildDaemonConfig } from './node-config.js';
export { buildNetmap, buildNetmapNode, signNetmap, writeNetmapFile, type NetmapOptions, type NetmapShape } from './netmaps.js';
export { createUnderlay, installResolvConfs, renderResolvConf, resolvConfPath, blockPathBetween, unblockPathBetween } from './underlay.js';
export { DaemonProcesses, outputTail, type RelayServerStart } from './daemons.js';
export { waitForAll, waitForPeerPath, type StatusSource } from './status.js';
export {
  cleanStaleRuntimeFiles,
  collectSecrets,
  findLeftovers,
  removeRuntimeFilesSync,
  scanForSecrets,
  type LeftoverScope,
} from './cleanup.js';
export { listProcesses, pidRunning, sleep, sleepSync, socketLive, type ProcessExit } from './processes.js';
export { RUSTYNET_BIN, RUSTYNETD_BIN, RUSTYNETD_NODE_FLAGS, runNodeProgram, rustynet } from './programs.js';
export { checkPrerequisites, relayUnsupportedReason, type BackendProfile, type BackendProfiles } from './profiles.js';
export {
  pingMatrix,
  renderPingMatrix,
  startContinuousPing,
  pingName,
  digFrom,
  nftCounters,
  type ContinuousPing,
  type PingResult,
} from './traffic.js';
export { parsePcap, type PcapPacket } from './pcap.js';
export { backendPids, fillDisk, freeDisk, isMounted, killBackend, mountTmpfs, timeToTraffic } from './faults.js';
export {
  BASE_TOOLS,
  DNS_PORT,
  DNS_ZONE,
  MESH_IF_PREFIX,
  MESH_PROBE_INTERVAL_MS,
  NETNS_ETC,
  PROBE_PORT,
  RELAY_HOST,
  RELAY_ID,
  RELAY_PORT,
  relayHostName,
  relayIdOf,
} from './constants.js';
export type { MeshRelay } from './mesh-relays.js';
// The reference plugins and backend profiles, re-exported whole so that this file names none.
export * from './reference-defaults.js';
export { attachStubNetwork, type StubNetwork } from './stub-network.js';
export {
  ImpairmentShim,
  validateProfile,
  type DatagramTap,
  type ImpairmentCounters,
  type ImpairmentProfile,
  type ImpairmentShimOptions,
  type ImpairmentStats,
  type UdpAddress,
} from './impairment.js';
export { startShimInNamespace, type NamespaceShim, type NamespaceShimOptions } from './impairment-host.js';
