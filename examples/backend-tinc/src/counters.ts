/**
 * Per-peer byte counters. tinc 1.0 keeps no per-node byte counts (only device totals), so the
 * plugin counts at the tun device with nftables: one table `inet rntinc_<device>` with a named
 * counter per peer and direction, matched on the peer's allowed IPs as destination (tx,
 * postrouting out of the device) or source (rx, prerouting into it). Bytes are the inner IP
 * packets' lengths, as the kernel counted them. Every change is one `nft -f -` transaction;
 * named counters of peers that stay keep their values. The same table drops packets arriving
 * from the device whose source is no peer's allowed IP.
 */
import { RustynetError, type CommandRunner, type PeerConfig, type RunOptions } from '@rustynet/plugin-api';
import { tincName } from './key-format.js';

/** The nftables table name for a device (`[A-Za-z0-9_]`). */
export function tableName(device: string): string {
  return `rntinc_${device.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** Byte counts per tinc node name. */
export type ByteCounts = Map<string, { rx: number; tx: number }>;

/** nftables-backed per-peer counters on one device. */
export class PeerCounters {
  private readonly table: string;

  constructor(
    private readonly runner: CommandRunner,
    private readonly device: string,
  ) {
    this.table = tableName(device);
  }

  /** Deletes the table (ours, or one a crashed earlier instance left). Idempotent. */
  async remove(opts?: RunOptions): Promise<void> {
    await this.nft(`add table inet ${this.table}\ndelete table inet ${this.table}\n`, opts);
  }

  /**
   * Makes the rules and counters match `peers`; counters of `gone` tinc names are deleted.
   * @throws RustynetError `BACKEND_FAILED` when nft refuses the transaction.
   */
  async set(peers: readonly PeerConfig[], gone: readonly string[], opts?: RunOptions): Promise<void> {
    const t = `inet ${this.table}`;
    const dev = JSON.stringify(this.device);
    const lines = [
      `add table ${t}`,
      `add chain ${t} tx { type filter hook postrouting priority 0; policy accept; }`,
      `add chain ${t} rx { type filter hook prerouting priority 0; policy accept; }`,
      `flush chain ${t} tx`,
      `flush chain ${t} rx`,
    ];
    for (const p of peers) {
      const n = tincName(p.publicKey);
      const set = `{ ${p.allowedIps.join(', ')} }`;
      lines.push(`add counter ${t} tx_${n}`, `add counter ${t} rx_${n}`);
      lines.push(`add rule ${t} tx oifname ${dev} ip daddr ${set} counter name "tx_${n}"`);
      lines.push(`add rule ${t} rx iifname ${dev} ip saddr ${set} counter name "rx_${n}"`);
    }
    // tinc 1.0 does not check a packet's source against the sending node's subnets: drop at least
    // what no peer may send from (a removed or shrunk allowed IP, an address no peer owns).
    const all = peers.flatMap((p) => p.allowedIps);
    lines.push(
      all.length ? `add rule ${t} rx iifname ${dev} ip saddr != { ${all.join(', ')} } drop` : `add rule ${t} rx iifname ${dev} drop`,
    );
    const keep = new Set(peers.map((p) => tincName(p.publicKey)));
    for (const n of new Set(gone)) if (!keep.has(n)) lines.push(`delete counter ${t} tx_${n}`, `delete counter ${t} rx_${n}`);
    await this.nft(`${lines.join('\n')}\n`, opts);
  }

  /**
   * Reads every counter of the table.
   * @throws RustynetError `BACKEND_FAILED` when the table is gone or nft fails.
   */
  async read(opts?: RunOptions): Promise<ByteCounts> {
    const r = await this.runner.run('nft', ['-j', 'list', 'counters', 'table', 'inet', this.table], { ...opts, reject: false });
    if (r.exitCode !== 0)
      throw new RustynetError('BACKEND_FAILED', `nft could not list the counters of table inet ${this.table}`, {
        details: { stderr: r.stderr },
      });
    const out: ByteCounts = new Map();
    const doc = JSON.parse(r.stdout) as { nftables?: { counter?: { name: string; bytes: number } }[] };
    for (const item of doc.nftables ?? []) {
      const c = item.counter;
      const m = c ? /^(tx|rx)_(\w+)$/.exec(c.name) : null;
      if (!c || !m?.[1] || !m[2]) continue;
      const e = out.get(m[2]) ?? { rx: 0, tx: 0 };
      e[m[1] as 'rx' | 'tx'] = c.bytes;
      out.set(m[2], e);
    }
    return out;
  }

  private async nft(script: string, opts?: RunOptions): Promise<void> {
    const r = await this.runner.run('nft', ['-f', '-'], { ...opts, input: script, reject: false });
    if (r.exitCode !== 0)
      throw new RustynetError('BACKEND_FAILED', `nft refused the counter table update for ${this.device}`, {
        details: { stderr: r.stderr },
      });
  }
}
