/**
 * `rustynet ip [peer]` and `rustynet whois <ip>`: overlay addresses and the node behind one, from
 * the daemon's applied netmap (in the manner of `tailscale ip` and `tailscale whois`).
 */
import type { Command } from 'commander';
import { RustynetError, invalidInput, type Netmap, type NetmapNode } from '@rustynet/plugin-api';
import { cidrContains, parseCidr, parseIp } from '@rustynet/plugin-kit';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';

interface IpOpts {
  socket?: string;
  json?: boolean;
  '4'?: boolean;
  '6'?: boolean;
}

const bare = (cidr: string): string => cidr.replace(/\/\d+$/, '');

function applied(nm: Netmap | null): Netmap {
  if (!nm) throw new RustynetError('NOT_RUNNING', 'the daemon has applied no netmap yet (see rustynet status)');
  return nm;
}

/**
 * The node `query` names: node id, name, overlay IP or key (identity or backend key).
 * @throws RustynetError `INVALID_INPUT` (field `peer`) when none or several match.
 */
export function lookupNode(nm: Netmap, query: string): NetmapNode {
  const byId = nm.nodes.find((n) => n.id === query);
  if (byId) return byId;
  const hits = nm.nodes.filter(
    (n) =>
      n.name === query ||
      n.addresses.some((a) => bare(a) === query || a === query) ||
      n.identityKey === query ||
      Object.values(n.keys).includes(query),
  );
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) throw invalidInput('peer', `"${query}" names several nodes (${hits.map((n) => n.id).join(', ')}); use a node id`);
  throw invalidInput('peer', `no node "${query}" in the applied netmap (give a node id, name, overlay IP or key)`);
}

/** What `whois` reports about the node owning (or routing) an address. */
export interface WhoisResult {
  address: string;
  /** `address`: one of the node's overlay addresses; `route`: inside a prefix the node routes for. */
  match: 'address' | 'route';
  /** The matching route prefix (`match: route`). */
  route?: string;
  node: {
    id: string;
    name: string;
    addresses: string[];
    tags: string[];
    routes: string[];
    endpoints: string[];
    identityKey: string;
    keys: Record<string, string>;
  };
}

/**
 * The node behind `ip`: the one holding it as an overlay address, else the one routing the most
 * specific prefix that contains it.
 * @throws RustynetError `INVALID_INPUT` (field `ip`) when `ip` is not an address or no node has it.
 */
export function whois(nm: Netmap, ip: string): WhoisResult {
  const addr = parseIp(ip);
  if (!addr) throw invalidInput('ip', `"${ip}" is not an IPv4 or IPv6 address`);
  const describe = (n: NetmapNode): WhoisResult['node'] => ({
    id: n.id,
    name: n.name ?? n.id,
    addresses: n.addresses.map(bare),
    tags: n.tags ?? [],
    routes: n.routes ?? [],
    endpoints: n.endpoints.map((e) => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`)),
    identityKey: n.identityKey,
    keys: { ...n.keys },
  });
  for (const n of nm.nodes) {
    if (n.addresses.some((a) => parseIp(bare(a))?.value === addr.value && parseIp(bare(a))?.family === addr.family)) {
      return { address: ip, match: 'address', node: describe(n) };
    }
  }
  let best: { n: NetmapNode; route: string; len: number } | undefined;
  for (const n of nm.nodes) {
    for (const r of n.routes ?? []) {
      const c = parseCidr(r);
      if (c && cidrContains(c, addr) && (!best || c.prefixLength > best.len)) best = { n, route: r, len: c.prefixLength };
    }
  }
  if (best) return { address: ip, match: 'route', route: best.route, node: describe(best.n) };
  throw invalidInput('ip', `no node in the applied netmap has or routes ${ip}`);
}

/** Registers `ip` and `whois`. */
export function register(program: Command): void {
  const ip = program
    .command('ip')
    .description("show this node's overlay addresses, or a peer's")
    .argument('[peer]', 'node id, name, overlay IP or key (default: this node)')
    .option('-4', 'only IPv4 addresses')
    .option('-6', 'only IPv6 addresses');
  addSocketOption(addJsonOption(ip));
  addExamples(ip, ['rustynet ip', 'rustynet ip -4', 'rustynet ip b --json']);
  ip.action(async (peer: string | undefined, opts: IpOpts) => {
    const report = await apiClient(opts).netmap();
    const nm = applied(report.netmap);
    const node = lookupNode(nm, peer ?? report.node);
    let addrs = node.addresses.map(bare);
    if (opts['4'] && !opts['6']) addrs = addrs.filter((a) => !a.includes(':'));
    if (opts['6'] && !opts['4']) addrs = addrs.filter((a) => a.includes(':'));
    if (opts.json) printJson({ node: node.id, name: node.name ?? node.id, addresses: addrs });
    else io().out(addrs.map((a) => `${a}\n`).join(''));
  });

  const who = program
    .command('whois')
    .description('show which node an overlay address (or routed address) belongs to')
    .argument('<ip>', 'IPv4 or IPv6 address');
  addSocketOption(addJsonOption(who));
  addExamples(who, ['rustynet whois 100.64.0.2', 'rustynet whois 100.64.0.2 --json | jq .node.id']);
  who.action(async (addr: string, opts: IpOpts) => {
    const nm = applied((await apiClient(opts).netmap()).netmap);
    const r = whois(nm, addr);
    if (opts.json) return printJson(r);
    const n = r.node;
    const lines = [
      `Machine:`,
      `  Name:       ${n.name}`,
      `  ID:         ${n.id}`,
      `  Addresses:  ${n.addresses.join(', ')}`,
      ...(r.route !== undefined ? [`  Routes for:  ${r.route} (contains ${r.address})`] : []),
      `  Tags:       ${n.tags.join(', ') || '-'}`,
      `  Routes:     ${n.routes.join(', ') || '-'}`,
      `  Endpoints:  ${n.endpoints.join(', ') || '-'}`,
      `  Identity:   ${n.identityKey}`,
    ];
    io().out(`${lines.join('\n')}\n`);
  });
}
