/**
 * The IPv6 ingress filter of the OpenVPN backend: cryptokey routing for IPv6.
 *
 * OpenVPN in p2p mode writes whatever its peer sends to the tun device; nothing checks the
 * source address. For IPv4 the per-device strict `rp_filter` (see {@link IpTool.setRpFilter})
 * drops a packet whose source is not routed back out of the device it came in on. Linux has no
 * `rp_filter` for IPv6, so each running instance owns one nftables table doing the same check:
 * `fib saddr . iif oif missing drop` (nft(8), "FIB EXPRESSIONS": the reverse-path lookup of the
 * source, restricted to the incoming interface) for IPv6 packets arriving on this instance's tun
 * devices (`<prefix>p<index>`). The routes of a peer's device are its allowed IPs, so the filter
 * follows every allowed-IPs change, like the IPv4 one.
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { CommandRunner, Logger } from '@rustynet/plugin-api';
import { DEVICE_SEPARATOR } from './rules.js';
import type { OpenVpnOptions } from './options.js';

/** Name of the nftables table (family `inet`) of the instance with device prefix `prefix`. */
export function ingressTable(prefix: string): string {
  return `rustynet_ovpn_${prefix.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The `nft -f -` script installing the filter: one transaction that adds the table (a no-op if a
 * dead instance left it), deletes it and adds it with its chain, so a stale table is replaced.
 */
export function ingressScript(prefix: string): string {
  const t = ingressTable(prefix);
  return [
    `table inet ${t}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
    `\tchain ingress6 {`,
    `\t\ttype filter hook prerouting priority -300; policy accept;`,
    `\t\tmeta nfproto ipv6 iifname "${prefix}${DEVICE_SEPARATOR}*" fib saddr . iif oif missing counter drop comment "IPv6 source not routed to this peer"`,
    `\t}`,
    `}`,
    '',
  ].join('\n');
}

/**
 * Installs (or replaces) the filter of `prefix`.
 * @throws RustynetError `BACKEND_FAILED` naming `nft` when it cannot: without the filter a peer
 *   could send from any IPv6 address, so the backend does not start (fail closed).
 */
export async function installIngress6(runner: CommandRunner, opts: OpenVpnOptions, prefix: string, signal?: AbortSignal): Promise<void> {
  const r = await runner.run(opts.nftPath, ['-f', '-'], { input: ingressScript(prefix), reject: false, ...(signal ? { signal } : {}) });
  if (r.exitCode !== 0)
    throw new RustynetError('BACKEND_FAILED', `${opts.nftPath} could not install the IPv6 ingress filter: ${r.stderr.trim()}`, {
      details: { table: ingressTable(prefix), stderr: r.stderr },
    });
}

/** Removes the filter of `prefix`; a missing table is no error, other failures are logged. */
export async function removeIngress6(runner: CommandRunner, opts: OpenVpnOptions, prefix: string, log: Logger): Promise<void> {
  const r = await runner.run(opts.nftPath, ['delete', 'table', 'inet', ingressTable(prefix)], { reject: false });
  if (r.exitCode !== 0 && !/No such file or directory/.test(r.stderr))
    log.warn({ stderr: r.stderr }, 'could not remove the IPv6 ingress filter');
}
