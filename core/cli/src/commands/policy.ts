/**
 * `rustynet policy explain <src> <dst> <proto>[/<port>]`: which ACL rule of a netmap decides a
 * flow, and why. Loads the policy plugin through the daemon's loader (`loadPlugin`) and calls
 * its pure `explain` on the netmap's ACL, so the answer comes from the same evaluator that the
 * plugin compiles into the data path. Nothing on the system is touched (the plugin is never
 * started).
 */
import type { Command } from 'commander';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RustynetError, type FlowQuery, type Netmap, type PolicyDecision, type PolicyInput, type PolicyPlugin } from '@rustynet/plugin-api';
import { daemonModule } from '../daemon-api.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption } from '../program.js';

/** Default policy plugin. */
export const DEFAULT_POLICY_PLUGIN = '@rustynet/policy-nftables';

/**
 * Parses `tcp/22`, `udp/53` or `icmp`.
 * @throws RustynetError `INVALID_INPUT` (field `<proto>`).
 */
export function parseProtoPort(text: string): Pick<FlowQuery, 'proto' | 'port'> {
  const m = /^(tcp|udp|icmp)(?:\/(\d{1,5}))?$/.exec(text.trim().toLowerCase());
  if (!m) throw new RustynetError('INVALID_INPUT', `expected tcp/<port>, udp/<port> or icmp, got "${text}"`, { field: '<proto>' });
  const proto = m[1] as FlowQuery['proto'];
  if (proto === 'icmp') {
    if (m[2] !== undefined) throw new RustynetError('INVALID_INPUT', 'icmp has no ports', { field: '<proto>' });
    return { proto };
  }
  if (m[2] === undefined) throw new RustynetError('INVALID_INPUT', `${proto} needs a port: ${proto}/<port>`, { field: '<proto>' });
  return { proto, port: Number(m[2]) };
}

/**
 * Reads a netmap file: a bare netmap or a signed envelope (`{ netmap, signature }`). The
 * signature is not checked here: explain is a read-only debugging aid.
 * @throws RustynetError `INVALID_INPUT` (unreadable), `NETMAP_INVALID` (not a netmap).
 */
export async function readNetmapFile(path: string): Promise<Netmap> {
  let text: string;
  try {
    text = path === '-' ? await io().readStdin() : await readFile(path, 'utf8');
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `cannot read ${path}: ${(cause as Error).message}`, { field: '--netmap', cause });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new RustynetError('NETMAP_INVALID', `${path} is not valid JSON: ${(cause as Error).message}`, { field: '--netmap', cause });
  }
  const o = doc as Record<string, unknown> | null;
  const netmap = (o && typeof o === 'object' && 'signature' in o && 'netmap' in o ? o['netmap'] : o) as Netmap | null;
  if (!netmap || typeof netmap !== 'object' || !Array.isArray(netmap.nodes)) {
    throw new RustynetError('NETMAP_INVALID', `${path} holds no netmap (no "nodes" array)`, { field: '--netmap' });
  }
  return netmap;
}

/** Result of {@link explainPolicy}. */
export interface ExplainResult {
  flow: FlowQuery;
  decision: PolicyDecision;
  plugin: { name: string; version: string };
  netmapVersion: number | undefined;
}

/**
 * Loads the policy plugin and explains `flow` under the netmap's ACL (absent ACL: empty, i.e.
 * default deny).
 * @throws RustynetError loader errors (`PLUGIN_NOT_FOUND`, ...), `INVALID_INPUT` from explain
 *   (unknown node, bad ACL, ...).
 */
export async function explainPolicy(opts: {
  netmap: Netmap;
  flow: FlowQuery;
  plugin?: string;
  self?: string;
  cwd?: string;
}): Promise<ExplainResult> {
  const d = await daemonModule();
  const scratch = await mkdtemp(join(tmpdir(), 'rustynet-policy-'));
  try {
    const services = d.createHostServices({ stateDir: scratch, logLevel: 'silent', processMetrics: false });
    const loaded = await d.loadPlugin(opts.plugin ?? DEFAULT_POLICY_PLUGIN, {
      services,
      expectKind: 'policy',
      cwd: opts.cwd ?? process.cwd(),
      options: { counterPollIntervalMs: 0 },
    });
    const policy = loaded.instance as PolicyPlugin;
    const nodes = opts.netmap.nodes.map((n) => ({ id: n.id, addresses: n.addresses, ...(n.tags && { tags: n.tags }) }));
    const dstNode = opts.flow.dst.replace(/^node:/, '');
    const self = opts.self ?? (nodes.some((n) => n.id === dstNode) ? dstNode : (nodes[0]?.id ?? ''));
    const input: PolicyInput = {
      self,
      nodes,
      acl: opts.netmap.acl ?? { rules: [] },
      // explain does not look at interfaces; validation wants one.
      interfaces: ['rn0'],
    };
    const decision = policy.explain(input, opts.flow);
    return {
      flow: opts.flow,
      decision,
      plugin: { name: loaded.manifest.name, version: loaded.manifest.version },
      netmapVersion: opts.netmap.version,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Registers `policy explain`. */
export function register(program: Command): void {
  const policy = program.command('policy').description('inspect the ACL of a netmap');
  const explain = policy
    .command('explain')
    .description('say which ACL rule decides a flow <src> -> <dst> and why (default deny when none)')
    .argument('<src>', 'source: node id (b, node:b) or IP address')
    .argument('<dst>', 'destination: node id or IP address')
    .argument('<proto>', 'tcp/<port>, udp/<port> or icmp')
    .option('--netmap <file>', 'netmap (signed or bare JSON), or - for stdin (env RUSTYNET_NETMAP)')
    .option('--plugin <spec>', 'policy plugin package or path', DEFAULT_POLICY_PLUGIN)
    .option('--self <node>', 'node enforcing the policy (default: <dst> when it is a node id)');
  addJsonOption(explain);
  addExamples(explain, [
    'rustynet policy explain b a tcp/22 --netmap /var/lib/rustynet/netmap.json',
    'rustynet policy explain 100.64.0.3 a icmp --netmap netmap.json --json',
  ]);
  explain.action(
    async (src: string, dst: string, protoText: string, opts: { netmap?: string; plugin: string; self?: string; json?: boolean }) => {
      const file = opts.netmap ?? io().env['RUSTYNET_NETMAP'];
      if (!file)
        throw new RustynetError('INVALID_INPUT', 'give the netmap with --netmap <file> (or RUSTYNET_NETMAP)', { field: '--netmap' });
      const flow: FlowQuery = { src, dst, ...parseProtoPort(protoText) };
      const result = await explainPolicy({
        netmap: await readNetmapFile(file),
        flow,
        plugin: opts.plugin,
        ...(opts.self !== undefined && { self: opts.self }),
      });
      if (opts.json) printJson(result);
      else io().out(`${result.decision.action.padEnd(6)}  ${result.decision.reason}\n`);
    },
  );
}
