import { mkdir, rm, rmdir } from 'node:fs/promises';
import { isIP, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { invalidInput, type CommandRunner, type Endpoint } from '@rustynet/plugin-api';
import { writeFileAtomic } from '@rustynet/plugin-kit';
import { normalizeZoneName } from './zone.js';

/**
 * Optional host resolver integration (see docs/dns.md, "Host resolver integration"). Nothing here
 * runs by itself: the operator or host picks one of two ways to send `*.<zone>` to Magic DNS.
 *
 * 1. resolv.conf inside the node's own network namespace: `ip netns exec <ns>` bind-mounts
 *    `/etc/netns/<ns>/resolv.conf` over `/etc/resolv.conf` for the processes it starts
 *    (ip-netns(8)). resolv.conf has no port syntax (resolv.conf(5)), so Magic DNS must serve on
 *    port 53 of that address, and it receives every query: configure a `forwarder`.
 * 2. systemd-resolved split DNS on the tunnel link: `resolvectl dns <link> <addr>:<port>` plus the
 *    routing-only domain `~<zone>` (resolvectl(1), systemd.network(5) Domains=), so only names in
 *    the zone go to Magic DNS; `resolvectl revert <link>` undoes it.
 */

/** What {@link renderResolvConf} writes. */
export interface ResolvConfOptions {
  /** Name servers (IP literals), tried in order; resolv.conf allows at most 3 (MAXNS). */
  nameservers: string[];
  /** Search domains, e.g. the mesh zone so `ping b` finds `b.rustynet`. */
  search?: string[];
  /** `options` words, e.g. `timeout:1`, `attempts:2`, `edns0`. */
  options?: string[];
}

/**
 * Renders a resolv.conf(5) file.
 * @throws RustynetError `INVALID_INPUT` (`nameservers`, `nameservers[i]`, `search[i]`, `options[i]`).
 */
export function renderResolvConf(o: ResolvConfOptions): string {
  if (!Array.isArray(o.nameservers) || o.nameservers.length === 0 || o.nameservers.length > 3) {
    throw invalidInput('nameservers', 'must list 1 to 3 IP addresses (resolv.conf MAXNS is 3)');
  }
  const lines = ['# Written by @rustynet/dns-magic. resolv.conf has no port: the server listens on 53.'];
  o.nameservers.forEach((ns, i) => {
    if (typeof ns !== 'string' || isIP(ns) === 0) throw invalidInput(`nameservers[${i}]`, 'must be an IP literal');
    lines.push(`nameserver ${ns}`);
  });
  if (o.search?.length) {
    const s = o.search.map((d, i) => normalizeZoneName(d, `search[${i}]`));
    lines.push(`search ${s.join(' ')}`);
  }
  if (o.options?.length) {
    o.options.forEach((w, i) => {
      if (!/^[a-z0-9-]+(:\d+)?$/.test(w)) throw invalidInput(`options[${i}]`, 'must be a resolv.conf option word');
    });
    lines.push(`options ${o.options.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

const NETNS_NAME = /^[A-Za-z0-9_.-]{1,255}$/;

function netnsDir(netns: string, etcNetnsDir: string): string {
  if (!NETNS_NAME.test(netns) || netns === '.' || netns === '..') throw invalidInput('netns', 'not a network namespace name');
  return join(etcNetnsDir, netns);
}

/**
 * Writes `/etc/netns/<netns>/resolv.conf` atomically (mode 0644: resolvers run as any user).
 * Only processes started with `ip netns exec <netns>` see it; the root namespace's
 * `/etc/resolv.conf` is never touched.
 * @returns the path written.
 * @throws RustynetError `INVALID_INPUT` (`netns`); fs errors as thrown by node:fs.
 */
export async function installNetnsResolvConf(netns: string, content: string, opts: { etcNetnsDir?: string } = {}): Promise<string> {
  const dir = netnsDir(netns, opts.etcNetnsDir ?? '/etc/netns');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, 'resolv.conf');
  await writeFileAtomic(path, content, { mode: 0o644 });
  return path;
}

/** Removes `/etc/netns/<netns>/resolv.conf` and the directory if it is then empty. Idempotent. */
export async function removeNetnsResolvConf(netns: string, opts: { etcNetnsDir?: string } = {}): Promise<void> {
  const dir = netnsDir(netns, opts.etcNetnsDir ?? '/etc/netns');
  await rm(join(dir, 'resolv.conf'), { force: true });
  await rmdir(dir).catch(() => undefined);
}

/** Split DNS settings for systemd-resolved. */
export interface SplitDnsOptions {
  /** The tunnel link (interface) the zone is routed to. */
  link: string;
  /** Where Magic DNS listens (typically the node's mesh address). */
  server: Endpoint;
  /** Zone apex, e.g. `rustynet`. */
  zone: string;
}

/** One command line (argument array, no shell). */
export type CommandLine = [file: string, args: string[]];

/**
 * The resolvectl(1) commands that route `*.<zone>` (and only that) to Magic DNS on `link`, and
 * the command that reverts them.
 * @throws RustynetError `INVALID_INPUT` (`link`, `server.host`, `server.port`, `zone`).
 */
export function splitDnsCommands(o: SplitDnsOptions): { apply: CommandLine[]; revert: CommandLine[] } {
  if (typeof o.link !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(o.link)) throw invalidInput('link', 'not an interface name');
  if (typeof o.server?.host !== 'string' || isIP(o.server.host) === 0) throw invalidInput('server.host', 'must be an IP literal');
  if (!Number.isInteger(o.server.port) || o.server.port < 1 || o.server.port > 65535) {
    throw invalidInput('server.port', 'must be an integer in 1..65535');
  }
  const zone = normalizeZoneName(o.zone, 'zone');
  const server = isIPv6(o.server.host) ? `[${o.server.host}]:${o.server.port}` : `${o.server.host}:${o.server.port}`;
  return {
    apply: [
      ['resolvectl', ['dns', o.link, server]],
      ['resolvectl', ['domain', o.link, `~${zone}`]],
      ['resolvectl', ['default-route', o.link, 'false']],
    ],
    revert: [['resolvectl', ['revert', o.link]]],
  };
}

/** Applies {@link splitDnsCommands} through the host's CommandRunner. */
export async function applySplitDns(runner: CommandRunner, o: SplitDnsOptions): Promise<void> {
  for (const [file, args] of splitDnsCommands(o).apply) await runner.run(file, args);
}

/** Reverts {@link applySplitDns} (`resolvectl revert <link>`). */
export async function revertSplitDns(runner: CommandRunner, o: Pick<SplitDnsOptions, 'link'>): Promise<void> {
  if (typeof o.link !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(o.link)) throw invalidInput('link', 'not an interface name');
  await runner.run('resolvectl', ['revert', o.link]);
}
