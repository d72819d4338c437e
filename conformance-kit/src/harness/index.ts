/**
 * @packageDocumentation
 * `@rustynet/conformance-kit/harness`: hosts in network namespaces on a shared underlay, with
 * helpers to run commands, ping, echo over UDP/TCP, capture, and block or degrade paths.
 * Requires root (CAP_NET_ADMIN, CAP_SYS_ADMIN); never touches the root namespace.
 */
export {
  TestNetwork,
  TestHost,
  cleanStaleNetworks,
  HARNESS_PREFIX,
  RUN_DIR,
  UNDERLAY_PREFIX,
  type TestNetworkOptions,
  type ExecOptions,
  type ExecResult,
  type PingOptions,
  type Capture,
  type EchoServer,
} from './test-network.js';
export { ResourceTracker, type TrackedResource } from './tracker.js';
export { ip4Packets, udpPackets, type Ip4Packet, type UdpPacket } from './pcap.js';
