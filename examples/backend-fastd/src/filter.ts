/**
 * Cryptokey routing on top of fastd: fastd hands the kernel every packet a peer sends on that
 * peer's own tun device, and sends whatever the kernel routes into it, without looking at inner
 * addresses. One nftables table `inet rnfastd_<device>` drops a packet arriving on a peer's
 * device unless its source is one of that peer's allowed IPs (ingress), and a packet leaving
 * through it unless its destination is (egress, so a shrunk allowed IP stops at once even while
 * a route still points at the device), as WireGuard does. Every change is one `nft -f -`
 * transaction.
 */
import { RustynetError, type CommandRunner, type PeerConfig } from '@rustynet/plugin-api';

/** The nftables table name for a device (`[A-Za-z0-9_]`). */
export function tableName(device: string): string {
  return `rnfastd_${device.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** nftables-backed source filter over the peers' devices. */
export class SourceFilter {
  private readonly table: string;

  constructor(
    private readonly runner: CommandRunner,
    device: string,
  ) {
    this.table = tableName(device);
  }

  /** Deletes the table (ours, or one a crashed earlier instance left). Idempotent. */
  async remove(): Promise<void> {
    await this.nft(`add table inet ${this.table}\ndelete table inet ${this.table}\n`);
  }

  /**
   * Makes the rules match `peers`, each on its device (`devices`: peer id -> device).
   * @throws RustynetError `BACKEND_FAILED` when nft refuses the transaction.
   */
  async set(peers: readonly PeerConfig[], devices: ReadonlyMap<string, string>): Promise<void> {
    const t = `inet ${this.table}`;
    const lines = [
      `add table ${t}`,
      `add chain ${t} rx { type filter hook prerouting priority -150; policy accept; }`,
      `add chain ${t} tx { type filter hook postrouting priority 0; policy accept; }`,
      `flush chain ${t} rx`,
      `flush chain ${t} tx`,
    ];
    for (const p of peers) {
      const dev = devices.get(p.id);
      if (!dev) continue;
      const v4 = p.allowedIps.filter((c) => !c.includes(':'));
      const v6 = p.allowedIps.filter((c) => c.includes(':'));
      const name = JSON.stringify(dev);
      lines.push(
        v4.length
          ? `add rule ${t} rx iifname ${name} meta nfproto ipv4 ip saddr != { ${v4.join(', ')} } drop`
          : `add rule ${t} rx iifname ${name} meta nfproto ipv4 drop`,
      );
      lines.push(
        v6.length
          ? `add rule ${t} rx iifname ${name} meta nfproto ipv6 ip6 saddr != { ${v6.join(', ')} } drop`
          : `add rule ${t} rx iifname ${name} meta nfproto ipv6 drop`,
      );
      lines.push(
        v4.length
          ? `add rule ${t} tx oifname ${name} meta nfproto ipv4 ip daddr != { ${v4.join(', ')} } drop`
          : `add rule ${t} tx oifname ${name} meta nfproto ipv4 drop`,
      );
      lines.push(
        v6.length
          ? `add rule ${t} tx oifname ${name} meta nfproto ipv6 ip6 daddr != { ${v6.join(', ')} } drop`
          : `add rule ${t} tx oifname ${name} meta nfproto ipv6 drop`,
      );
    }
    await this.nft(`${lines.join('\n')}\n`);
  }

  private async nft(script: string): Promise<void> {
    const r = await this.runner.run('nft', ['-f', '-'], { input: script, reject: false });
    if (r.exitCode !== 0)
      throw new RustynetError('BACKEND_FAILED', `nft refused the source filter update (table inet ${this.table})`, {
        details: { stderr: r.stderr },
      });
  }
}
