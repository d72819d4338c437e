import type { CallOptions } from '../call-options.js';
import type { DnsCapabilities } from '../types/capabilities.js';
import type { Endpoint } from '../types/endpoint.js';
import type { NodeId } from '../types/node-id.js';

/** One node's records: `<name>.<zone>` A/AAAA for each address (bare IPs, no prefix length). */
export interface DnsNodeRecord {
  id: NodeId;
  name: string;
  addresses: string[];
}

/** The zone data a DNS plugin serves, derived from the netmap. */
export interface DnsZoneData {
  /** Zone apex without trailing dot, e.g. `rustynet`. */
  zone: string;
  nodes: DnsNodeRecord[];
}

/** Configuration for {@link DnsPlugin.start}. */
export interface DnsStartConfig {
  /** Addresses and ports to serve on (UDP and TCP), e.g. the node's mesh address and loopback. */
  listen: Endpoint[];
}

/** Serves the mesh zone authoritatively. Updates take effect without restart. */
export interface DnsPlugin {
  readonly kind: 'dns';
  capabilities(): DnsCapabilities;
  /** @throws RustynetError `ALREADY_RUNNING`, `INVALID_INPUT`, `DNS_FAILED` (e.g. port in use). */
  start(config: DnsStartConfig, options?: CallOptions): Promise<void>;
  /** Closes every socket. Idempotent. */
  stop(options?: CallOptions): Promise<void>;
  /** Replaces the served zone data atomically. @throws `NOT_RUNNING`, `INVALID_INPUT`. */
  update(zone: DnsZoneData, options?: CallOptions): Promise<void>;
}
