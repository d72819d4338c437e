/**
 * Builds the netmap a node receives from a {@link Snapshot}: every active node (expired ones
 * left out) with its addresses, reported endpoints and opaque backend keys, the ACL (the canary
 * one for nodes carrying the canary tag), the DNS zone and the relays of the server config.
 */
import type { Netmap, NetmapNode, NetmapRelay } from '@rustynet/plugin-api';
import { netmapAddresses } from '../addresses.js';
import { netmapAcl } from '../acl/document.js';
import type { Snapshot } from '../store/types.js';
import { signingKeysOf } from '../keys/announce.js';

/** Which ACL a node gets. */
export type AclVariant = 'stable' | 'canary';

/** Netmap settings from the server config. */
export interface NetmapSettings {
  /** Human name of the network. */
  network?: string;
  /** DNS zone (default `rustynet`). */
  dnsZone?: string;
  relays?: NetmapRelay[];
  /** Netmap lifetime in ms (expiresAt = issuedAt + lifetime). */
  lifetimeMs: number;
}

/** Builds the netmap of `variant` at the snapshot's version. Does not validate. */
export function buildNetmap(s: Snapshot, settings: NetmapSettings, variant: AclVariant): Netmap {
  const nodes: NetmapNode[] = s.nodes
    .filter((n) => n.expiredAt === null)
    .map((n) => ({
      id: n.id,
      ...(n.name !== n.id && { name: n.name }),
      addresses: netmapAddresses(n),
      endpoints: n.endpoints,
      keys: n.keys,
      identityKey: n.identityKey,
      ...(n.tags.length > 0 && { tags: n.tags }),
      ...(n.probePort !== undefined && { probePort: n.probePort }),
    }));
  const doc = variant === 'canary' && s.canary ? s.canary.acl : s.acl;
  return {
    version: s.version,
    issuedAt: new Date(s.issuedAt).toISOString(),
    expiresAt: new Date(s.issuedAt + settings.lifetimeMs).toISOString(),
    ...(settings.network !== undefined && { network: settings.network }),
    nodes,
    ...(doc !== null && { acl: netmapAcl(doc) }),
    dns: { zone: settings.dnsZone ?? 'rustynet' },
    ...(settings.relays !== undefined && settings.relays.length > 0 && { relays: settings.relays }),
    ...signingKeysOf(s),
  };
}

/** The ACL variant of a node with `tags` in snapshot `s`. */
export function variantOf(s: Snapshot, tags: readonly string[]): AclVariant {
  return s.canary !== null && tags.includes(s.canary.tag) ? 'canary' : 'stable';
}
