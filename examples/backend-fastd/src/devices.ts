/**
 * Names of the peers' tun devices. fastd in TUN mode gives every peer its own device, named in
 * the peer's file; a name must fit IFNAMSIZ (15 bytes) and stay the same while the peer stays,
 * so routes through it stay valid. The name is the node's device name (cut to 11 bytes), `p`,
 * and a small index that is kept per public key and reused by a later apply after the peer leaves.
 */

/** Device names by public key, for one node device. */
export class PeerDevices {
  private readonly byKey = new Map<string, number>();
  private readonly prefix: string;

  constructor(device: string) {
    this.prefix = `${device.slice(0, 11)}p`;
  }

  /** Keeps the index of keys that stay, frees the others, gives new keys the lowest free index. */
  assign(keys: readonly string[]): void {
    const want = new Set(keys);
    // a name freed here is not given out again in the same apply: fastd may create the new
    // peer's device before it has removed the old one
    const used = new Set(this.byKey.values());
    for (const k of [...this.byKey.keys()]) if (!want.has(k)) this.byKey.delete(k);
    let next = 0;
    for (const k of keys) {
      if (this.byKey.has(k)) continue;
      while (used.has(next)) next++;
      this.byKey.set(k, next);
      used.add(next);
    }
  }

  /** The device of the peer holding `key`, if it has one. */
  of(key: string): string | undefined {
    const i = this.byKey.get(key);
    return i === undefined ? undefined : `${this.prefix}${i}`;
  }
}
