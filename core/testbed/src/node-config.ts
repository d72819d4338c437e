/**
 * Node identities and configuration: each node's directory, keys (made by `rustynet keygen`, as
 * an operator would), overlay addresses, interface name, and the `rustynetd` config that loads
 * the mesh's plugins.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestHost, TestNetwork } from '@rustynet/conformance-kit/harness';
import { DNS_PORT, MESH_IF_PREFIX, PROBE_PORT } from './constants.js';
import type { ResolvedMeshOptions } from './options.js';
import { rustynet } from './programs.js';

/** One node of the mesh. */
export interface MeshNode {
  id: string;
  index: number;
  host: TestHost;
  /** Tunnel interface name (unique on the machine). */
  ifname: string;
  /** Overlay IPv4 and IPv6 host addresses without prefix length. */
  v4: string;
  v6: string;
  dir: string;
  keyDir: string;
  configFile: string;
  netmapFile: string;
  socket: string;
  logFile: string;
  /** stdout/stderr of the rustynetd process. */
  outFile: string;
  identityKey: string;
  /** Public key material by backend protocol (netmap `keys`). */
  keys: Record<string, string>;
}

interface KeygenJson {
  identity?: { publicKey: string };
  controlPlane?: { publicKey: string; privateKeyFile: string };
  backends: Record<string, { plugin: string; publicKey: string; directory: string }>;
}

/** What {@link generateMeshKeys} made. */
export interface MeshKeys {
  /** The nodes, in the order of `opts.nodes`. */
  nodes: MeshNode[];
  /** Control-plane private key file and public key. */
  cpKeyFile: string;
  cpPublicKey: string;
  /** Protocol id of each backend spec (as given and as keygen reports it). */
  protocols: Map<string, string>;
}

/**
 * Makes the control-plane key and, per node, a 0700 directory with its identity key and one key
 * pair per backend, all with `rustynet keygen`.
 */
export async function generateMeshKeys(net: TestNetwork, workDir: string, opts: ResolvedMeshOptions): Promise<MeshKeys> {
  const { log, backends, cwd } = opts;
  const cpDir = join(workDir, 'control-plane');
  log(`generating the control-plane key: rustynet keygen --out ${cpDir} --control-plane --no-identity`);
  const cp = JSON.parse(await rustynet(['keygen', '--out', cpDir, '--control-plane', '--no-identity', '--json'], { cwd })) as KeygenJson;
  if (!cp.controlPlane) throw new Error('rustynet keygen --control-plane reported no control-plane key');
  const protocols = new Map<string, string>();
  const nodes: MeshNode[] = [];
  const backendArgs = backends.flatMap((b) => ['--backend', b]);
  await Promise.all(
    opts.nodes.map(async (id, index) => {
      const host = net.host(id);
      const dir = join(workDir, id);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const keyDir = join(dir, 'keys');
      log(`node ${id}: rustynet keygen --out ${keyDir} ${backendArgs.join(' ')}`);
      const k = JSON.parse(await rustynet(['keygen', '--out', keyDir, ...backendArgs, '--json'], { cwd })) as KeygenJson;
      if (!k.identity) throw new Error(`rustynet keygen reported no identity key for node ${id}`);
      const keys: Record<string, string> = {};
      for (const [protocol, b] of Object.entries(k.backends)) {
        keys[protocol] = b.publicKey;
        protocols.set(b.plugin, protocol);
      }
      nodes[index] = {
        id,
        index,
        host,
        ifname: `${MESH_IF_PREFIX}${net.runId}${id}`,
        v4: `100.64.0.${index + 1}`,
        v6: `fd7a:115c:a1e0::${index + 1}`,
        dir,
        keyDir,
        configFile: join(dir, 'rustynetd.json'),
        netmapFile: join(dir, 'netmap.json'),
        socket: join(dir, 'rustynetd.sock'),
        logFile: join(dir, 'rustynetd.log'),
        outFile: join(dir, 'rustynetd.out'),
        identityKey: k.identity.publicKey,
        keys,
      };
    }),
  );
  // Map plugin specs (paths or names) to protocols via the keygen order.
  backends.forEach((b) => {
    if (!protocols.has(b)) {
      const p = [...protocols.entries()].find(([name]) => name === b || b.endsWith(name))?.[1];
      if (p) protocols.set(b, p);
    }
  });
  return { nodes, cpKeyFile: cp.controlPlane.privateKeyFile, cpPublicKey: cp.controlPlane.publicKey, protocols };
}

/**
 * The `rustynetd` config of node `n` running `backend` (whose keys are under `protocol`), with
 * the mesh's policy, DNS and relay plugins as its options ask.
 */
export function buildDaemonConfig(
  n: MeshNode,
  backend: string,
  protocol: string,
  cpPublicKey: string,
  opts: ResolvedMeshOptions,
): Record<string, unknown> {
  return {
    node: n.id,
    stateDir: join(n.dir, 'state', protocol),
    socket: n.socket,
    controlPlaneKey: cpPublicKey,
    identityKeyFile: join(n.keyDir, 'identity.key'),
    netmap: {
      file: n.netmapFile,
      ...(opts.netmapDeltaFile && { deltaFile: `${n.netmapFile}.delta` }),
      pollIntervalMs: opts.pollIntervalMs,
    },
    backend: {
      plugin: backend,
      interfaceName: n.ifname,
      keyDirectory: join(n.keyDir, protocol),
      listenPort: opts.listenPort,
      mtu: 1420,
      ...(opts.persistentKeepalive !== undefined && { persistentKeepalive: opts.persistentKeepalive }),
      options: {},
    },
    plugins: [
      ...(opts.policy ? [{ plugin: opts.plugins.policy, options: {} }] : []),
      ...(opts.dns ? [{ plugin: opts.plugins.dns, options: { port: DNS_PORT } }] : []),
      ...(opts.relay ? [{ plugin: opts.plugins.relay, options: { ...opts.relayClientOptions } }] : []),
    ],
    ...(opts.relay && { pathProbe: { port: PROBE_PORT, ...opts.pathProbe } }),
    log: { level: opts.logLevel, file: n.logFile },
    ...opts.nodeConfig[n.id],
  };
}
