// Synthetic peers and a signing publisher for the daemon benches (file netmap flow).
import { signNetmap, signNetmapDelta, computeNetmapDelta } from '../../core/daemon/dist/src/index.js';
import { writeNetmap } from './daemon.mjs';
import { ed25519PublicB64, x25519Pair } from './keys.mjs';

/**
 * `n` netmap nodes, each with two allowed IPs (a /32 in 100.65.0.0/16, a /128 in
 * fd7a:115c:a1e1::/48), an endpoint in 198.19.0.0/16 (no route in the bench namespaces; no
 * keepalive, so nothing is sent), a real X25519 key for `protocol` and an Ed25519 identity key.
 * At most 65 535 (the /16).
 */
export function syntheticPeers(n, protocol = 'wireguard') {
  if (n > 65535) throw new Error(`syntheticPeers: at most 65535 peers, asked for ${n}`);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: `p${i}`,
      addresses: [`100.65.${(i >> 8) & 255}.${i & 255}/32`, `fd7a:115c:a1e1::${(i + 1).toString(16)}/128`],
      endpoints: [{ host: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 51820 }],
      keys: { [protocol]: x25519Pair().publicKey },
      identityKey: ed25519PublicB64(),
    });
  }
  return out;
}

/** The netmap delta file of a node (`netmap.deltaFile` of the bench's daemon config). */
export function deltaFileOf(node) {
  return `${node.netmapFile}.delta`;
}

/** Signs netmaps of a Mesh (core/testbed) with its control-plane key and writes them to nodes' files. */
export class Publisher {
  constructor(mesh, cpPem) {
    this.mesh = mesh;
    this.cpPem = cpPem;
    this.version = 0;
  }
  /** Signs a netmap of `nodes` with the next version and writes it to each node's netmap file. */
  async publish(nodes, to = this.mesh.nodes) {
    const version = ++this.version;
    const issued = new Date(Date.now() - 5_000);
    const netmap = {
      version,
      issuedAt: issued.toISOString(),
      expiresAt: new Date(issued.getTime() + 3_600_000).toISOString(),
      network: `rustynet-bench-${this.mesh.runId}`,
      nodes,
    };
    const signed = signNetmap(netmap, this.cpPem);
    for (const n of to) await writeNetmap(n, signed);
    this.last = structuredClone(netmap); // the caller mutates its node objects afterwards
    return version;
  }
  /**
   * Like {@link publish}, and also signs the delta from the last published netmap and writes it
   * to each node's delta file (after the full file: the daemon prefers a new delta).
   */
  async publishDelta(nodes, to = this.mesh.nodes) {
    const base = this.last;
    const version = await this.publish(nodes, to);
    const delta = computeNetmapDelta(base, this.last);
    if (!delta) throw new Error('no delta between consecutive bench netmaps');
    const signed = signNetmapDelta(delta, this.cpPem);
    for (const n of to) await writeNetmap(n, signed, deltaFileOf(n));
    return version;
  }
}
