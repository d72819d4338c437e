import type { CallOptions } from '../call-options.js';
import type { DnsCapabilities } from '../types/capabilities.js';
import type { Endpoint } from '../types/endpoint.js';
import type { NodeId } from '../types/node-id.js';

/** One node's records: `<name>.<zone>` A/AAAA for each address (bare IPs, no prefix length). */
export interface DnsNodeRecord {
  /** Node id from the netmap. */
  id: NodeId;
  /** Host name of the node inside the zone (one DNS label). */
  name: string;
  /** Overlay addresses of the node (IPv4 for A, IPv6 for AAAA records). */
  addresses: string[];
}

/** The zone data a DNS plugin serves, derived from the netmap. */
export interface DnsZoneData {
  /** Zone apex without trailing dot, e.g. `rustynet`. */
  zone: string;
  /** Every node of the netmap with its name and overlay addresses. */
  nodes: DnsNodeRecord[];
}

/** Configuration for {@link DnsPlugin.start}. */
export interface DnsStartConfig {
  /** Addresses and ports to serve on (UDP and TCP), e.g. the node's mesh address and loopback. */
  listen: Endpoint[];
}

/** Serves the mesh zone authoritatively. Updates take effect without restart. */
export interface DnsPlugin {
  /** Always `dns`. */
  readonly kind: 'dns';
  /** The capabilities this instance really has; equal to the manifest's. */
  capabilities(): DnsCapabilities;
  /** @throws RustynetError `ALREADY_RUNNING`, `INVALID_INPUT`, `DNS_FAILED` (e.g. port in use). */
  start(config: DnsStartConfig, options?: CallOptions): Promise<void>;
  /** Closes every socket. Idempotent. */
  stop(options?: CallOptions): Promise<void>;
  /** Replaces the served zone data atomically. @throws `NOT_RUNNING`, `INVALID_INPUT`. */
  update(zone: DnsZoneData, options?: CallOptions): Promise<void>;
}
