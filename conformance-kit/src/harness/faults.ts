/**
 * Underlay faults of one host (blocked paths, dropped shares) as one nftables table in the
 * host's namespace, re-rendered whole on every change. `tc netem` is not available on the test
 * machines: loss is `numgen random` in nftables.
 */

/** The fault rules of one host; every change re-renders the table through `apply`. */
export class UnderlayFaults {
  private readonly rules = new Map<string, string>();

  /**
   * @param table - name of the `inet` table holding the rules.
   * @param apply - runs an `nft -f -` script in the host's namespace.
   */
  constructor(
    private readonly table: string,
    private readonly apply: (script: string) => Promise<void>,
  ) {}

  private async render(): Promise<void> {
    const rules = [...this.rules.values()];
    const table = this.table;
    const script =
      `add table inet ${table}\ndelete table inet ${table}\n` +
      (rules.length === 0
        ? ''
        : `table inet ${table} {\n` +
          ` chain in { type filter hook input priority -10; policy accept;\n${rules.map((r) => `  ${r.replace(/DIR/g, 'saddr')}`).join('\n')}\n }\n` +
          ` chain out { type filter hook output priority -10; policy accept;\n${rules.map((r) => `  ${r.replace(/DIR/g, 'daddr')}`).join('\n')}\n }\n}\n`);
    await this.apply(script);
  }

  /** Drops all traffic to and from the IPv4 address `ip`. */
  async block(ip: string): Promise<void> {
    this.rules.set(`block:${ip}`, `ip DIR ${ip} drop`);
    await this.render();
  }

  /** Removes a {@link block} rule. */
  async unblock(ip: string): Promise<void> {
    this.rules.delete(`block:${ip}`);
    await this.render();
  }

  /**
   * Drops `percent` % of packets to and from `ip`, or of all IPv4 traffic when `ip` is
   * undefined. `percent` 0 removes the rule. @throws RangeError unless 0..100.
   */
  async dropShare(percent: number, ip: string | undefined): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`percent must be 0..100: ${percent}`);
    const key = `drop:${ip === undefined ? '*' : ip}`;
    if (percent === 0) this.rules.delete(key);
    else {
      const share = percent === 100 ? 'drop' : `numgen random mod 100 < ${percent} drop`;
      this.rules.set(key, ip === undefined ? `meta nfproto ipv4 ${share}` : `ip DIR ${ip} ${share}`);
    }
    await this.render();
  }

  /** Removes every rule. */
  async clear(): Promise<void> {
    this.rules.clear();
    await this.render();
  }
}
