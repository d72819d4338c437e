/**
 * Conflicts between peers that per-peer validation cannot see: two ids with one public key
 * (one fastd peer), and one allowed IP owned by two peers (the kernel would route it to one of
 * them). The field names follow `backend.bad-input.conflicting-peers`.
 */
import { invalidInput, type Cidr, type NodeId, type PeerConfig } from '@rustynet/plugin-api';
import { cidrsOverlap, parseCidr } from '@rustynet/plugin-kit';

function overlaps(a: Cidr, b: Cidr): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x !== undefined && y !== undefined && cidrsOverlap(x, y);
}

/**
 * Checks the upserted peers against the peer set after the batch (`next`).
 * @throws RustynetError `INVALID_INPUT` naming `upsert[i].publicKey` or `upsert[i].allowedIps[j]`.
 */
export function checkConflicts(upsert: readonly PeerConfig[], next: ReadonlyMap<NodeId, PeerConfig>): void {
  upsert.forEach((p, i) => {
    // Compare with peers that stay and with earlier upserts: the later of two clashing peers is named.
    const later = new Set(upsert.slice(i).map((u) => u.id));
    const others = [...next.values()].filter((q) => !later.has(q.id));
    for (const q of others) {
      if (q.publicKey === p.publicKey) throw invalidInput(`upsert[${i}].publicKey`, `peer ${q.id} has the same public key`);
    }
    p.allowedIps.forEach((c, j) => {
      for (const q of others) {
        const hit = q.allowedIps.find((d) => overlaps(c, d));
        if (hit) throw invalidInput(`upsert[${i}].allowedIps[${j}]`, `overlaps ${hit}, an allowed IP of peer ${q.id}`);
      }
    });
  });
}
