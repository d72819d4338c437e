/**
 * A real Rustynet mesh for the demo and the integration tests: one network namespace per node
 * on a shared underlay (the conformance kit's `TestNetwork`), keys and signed netmaps made with
 * the `rustynet` CLI, and one real `rustynetd` process per node inside its namespace.
 *
 * Needs root. Nothing is created in the root network namespace; every name carries the run's
 * random id; {@link Mesh.destroy} removes daemons, namespaces, files and leftover runtime
 * sockets, and {@link Mesh.emergencyStopSync} does the same synchronously from a signal handler.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AclPolicy, Netmap, NetmapNode, SignedNetmap } from '@rustynet/plugin-api';
import { TestNetwork, type TestHost } from '@rustynet/conformance-kit/harness';
import { LocalApiClient, type DaemonStatus } from '../api-client.js';

export { parsePcap, type PcapPacket } from './pcap.js';

/** The compiled `rustynet` program. */
export const RUSTYNET_BIN = fileURLToPath(new URL('../bin/rustynet.js', import.meta.url));
/** The compiled `rustynetd` program. */
export const RUSTYNETD_BIN = fileURLToPath(new URL('../bin/rustynetd.js', import.meta.url));

/** What the mesh needs to know about a backend plugin beyond its manifest (for checks and cleanup). */
export interface BackendProfile {
  /** Programs that must be on PATH; each inner list is a set of alternatives (any one will do). */
  tools: string[][];
  /** Process names (`/proc/<pid>/comm`) the backend starts; none may survive shutdown. */
  processNames: string[];
  /** Runtime files the backend creates per interface; none may survive shutdown. */
  runtimeFiles(ifname: string): string[];
  /** Glob-free directory + name prefix of runtime files, for stale-file cleanup at start. */
  runtimeDir?: string;
}

/** Profiles of the reference backends. Third-party backends work without one (fewer checks). */
export const BACKEND_PROFILES: Record<string, BackendProfile> = {
  '@rustynet/backend-wireguard': {
    tools: [['wg'], ['wireguard-go']],
    processNames: ['wireguard-go'],
    runtimeFiles: (ifname) => [`/var/run/wireguard/${ifname}.sock`],
    runtimeDir: '/var/run/wireguard',
  },
  '@rustynet/backend-openvpn': {
    tools: [['openvpn']],
    processNames: ['openvpn'],
    runtimeFiles: () => [],
  },
};

/** Tools every mesh needs whatever the backend. */
export const BASE_TOOLS = ['ip', 'ping', 'nft', 'tcpdump'];

/** Prefix of interface names made by meshes: `rnm<run hex><node>`. */
export const MESH_IF_PREFIX = 'rnm';

/** The policy plugin loaded with {@link MeshOptions.policy}. */
export const POLICY_PLUGIN = '@rustynet/policy-nftables';
/** The Magic DNS plugin loaded with {@link MeshOptions.dns}. */
export const DNS_PLUGIN = '@rustynet/dns-magic';
/** The relay client plugin loaded with {@link MeshOptions.relay}. */
export const RELAY_PLUGIN = '@rustynet/relay';
/** Name of the extra test-network host that runs `rustynet relay serve` (not a mesh node). */
export const RELAY_HOST = 'relay';
/** Relay id in the netmap's `relays`. */
export const RELAY_ID = 'relay-1';
/** UDP port of the relay server on its underlay address. */
export const RELAY_PORT = 3478;
/** UDP port of every daemon's direct-path probe socket (`pathProbe.port`, netmap `probePort`). */
export const PROBE_PORT = 41641;
/** Magic DNS zone of the mesh's netmaps (the daemon's default). */
export const DNS_ZONE = 'rustynet';
/** Port Magic DNS listens on (mesh address and loopback); resolv.conf has no port syntax, so 53. */
export const DNS_PORT = 53;
/** Table of the policy plugin in each node's namespace (its default). */
export const POLICY_TABLE = 'rustynet_policy';
/** Directory whose `<netns>/resolv.conf` `ip netns exec` bind-mounts over `/etc/resolv.conf` (ip-netns(8)). */
export const NETNS_ETC = '/etc/netns';

/** Probe interval the mesh gives its daemons unless {@link MeshOptions.pathProbe} says otherwise, ms. */
export const MESH_PROBE_INTERVAL_MS = 300;

/** Settings of the daemons' direct-path probing (`DaemonConfig.pathProbe`, docs/path-controller.md). */
export interface MeshPathProbe {
  /** Probe interval, ms (daemon default 500). */
  intervalMs?: number;
  /** Unanswered probes before a peer goes to the relay (daemon default 3). */
  failuresToRelay?: number;
  /** Answered probes before a relayed peer returns to direct (daemon default 3). */
  successesToDirect?: number;
}

/** Options of {@link Mesh.create}. */
export interface MeshOptions {
  /** Backend plugins (package names or paths); the netmap carries key material for all of them. */
  backends: string[];
  /** Node ids (DNS labels, at most 8 characters), default `['a', 'b', 'c']`. */
  nodes?: string[];
  /** Directory plugin specs resolve from (and the daemons' working directory); default `process.cwd()`. */
  cwd?: string;
  /** Progress sink, one line per call. */
  log?: (line: string) => void;
  /** Daemon log level, default `debug` (more logs make the secret scan stronger). */
  logLevel?: string;
  /** Underlay UDP port of every node, default 51820. */
  listenPort?: number;
  /** Lifetime of netmaps made by {@link Mesh.netmap}, ms; default one hour. */
  ttlMs?: number;
  /**
   * How often the daemons re-read their netmap file, ms; default 1000. Tests that must tell
   * an explicit reload (API, SIGHUP) from polling set it high.
   */
  pollIntervalMs?: number;
  /**
   * Load {@link POLICY_PLUGIN} in every daemon (default false). The ACL comes from the netmap:
   * see {@link acl}; without one the policy denies all incoming mesh traffic.
   */
  policy?: boolean;
  /** ACL put into every netmap made by {@link Mesh.netmap} unless it is given there (default none). */
  acl?: AclPolicy;
  /**
   * Load {@link DNS_PLUGIN} in every daemon (default false), listening on port {@link DNS_PORT}
   * of the node's mesh IPv4 address and 127.0.0.1, and give each node's namespace a
   * `/etc/netns/<ns>/resolv.conf` naming its own mesh address (removed by {@link Mesh.destroy}).
   */
  dns?: boolean;
  /**
   * Add a host {@link RELAY_HOST} running `rustynet relay serve` on `<its underlay>:RELAY_PORT`
   * (started by {@link Mesh.startDaemons}), list it in the netmap's `relays`, give every node a
   * `probePort`, and load {@link RELAY_PLUGIN} with `pathProbe` in every daemon (default false).
   */
  relay?: boolean;
  /** Path probing settings when {@link relay} is on. */
  pathProbe?: MeshPathProbe;
  /** `backend.persistentKeepalive` (s) of every daemon; default none. */
  persistentKeepalive?: number;
}

interface ResolvedMeshOptions {
  backends: string[];
  nodes: string[];
  cwd: string;
  log: (line: string) => void;
  logLevel: string;
  listenPort: number;
  ttlMs: number;
  pollIntervalMs: number;
  policy: boolean;
  acl: AclPolicy | undefined;
  dns: boolean;
  relay: boolean;
  pathProbe: MeshPathProbe;
  persistentKeepalive: number | undefined;
}

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

interface Running {
  child: ReturnType<TestHost['spawn']>;
  pid: number;
  out: WriteStream;
  exit?: { code: number | null; signal: string | null };
  exited: Promise<void>;
}

/** A running `ping -D -i ...`, see {@link Mesh.continuousPing}. */
export interface ContinuousPing {
  /** Reply times (ms since the epoch), in order; grows while the ping runs. */
  readonly replies: number[];
  /** Waits up to `timeoutMs` for a reply later than `t`; @returns its time, or null. */
  firstReplyAfter(t: number, timeoutMs: number): Promise<number | null>;
  /** Stops ping (SIGINT) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Result of one ping in {@link Mesh.pingMatrix}. */
export interface PingResult {
  from: string;
  to: string;
  family: 4 | 6;
  address: string;
  ok: boolean;
}

interface KeygenJson {
  identity?: { publicKey: string };
  controlPlane?: { publicKey: string; privateKeyFile: string };
  backends: Record<string, { plugin: string; publicKey: string; directory: string }>;
}

/** Runs a compiled CLI program with node; resolves with its output, rejects with its stderr. */
export function runNodeProgram(
  bin: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string; env?: Record<string, string> } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr), code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs the `rustynet` CLI; throws with its error line on a non-zero exit. */
export async function rustynet(args: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  const r = await runNodeProgram(RUSTYNET_BIN, args, opts);
  if (r.code !== 0) throw new Error(`rustynet ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

function which(tool: string): boolean {
  const path = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const dir of [...path.split(':'), '/usr/sbin', '/sbin']) {
    try {
      if (dir && statSync(join(dir, tool)).isFile()) return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/**
 * Checks what a mesh run needs: root, the base tools and each backend's tools (and `dig` with
 * `opts.dns`), and a build.
 * @returns readable problems; empty when everything is there.
 */
export function checkPrerequisites(backends: readonly string[], opts: { dns?: boolean } = {}): string[] {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('must run as root (it creates network namespaces and tunnel devices): use sudo');
  }
  const missing = [...BASE_TOOLS, ...(opts.dns ? ['dig'] : [])].filter((t) => !which(t));
  for (const b of backends) {
    for (const alternatives of BACKEND_PROFILES[b]?.tools ?? []) {
      if (!alternatives.some(which)) missing.push(alternatives.join(' or '));
    }
  }
  if (missing.length > 0) {
    problems.push(`missing tools: ${[...new Set(missing)].join(', ')} (sudo bash scripts/bootstrap.sh installs them)`);
  }
  for (const bin of [RUSTYNET_BIN, RUSTYNETD_BIN]) {
    if (!existsSync(bin)) problems.push(`${bin} is missing: build first (npm run build)`);
  }
  return problems;
}

/**
 * Why a mesh with {@link MeshOptions.relay} cannot move `backend`'s traffic through the relay, or
 * null when it can: the plugin must be found and built (its manifest's `entry` exists) and claim
 * the `udpTransport` and `roaming` capabilities, without which the daemon's path controller never
 * switches a peer (docs/path-controller.md).
 */
export async function relayUnsupportedReason(backend: string, cwd = process.cwd()): Promise<string | null> {
  let found: { manifest: { entry: string; capabilities?: Record<string, unknown> }; dir: string };
  try {
    const d = (await import('@rustynet/daemon')) as unknown as {
      readManifest(spec: string, cwd?: string): Promise<{ manifest: { entry: string; capabilities?: Record<string, unknown> }; dir: string }>;
    };
    found = await d.readManifest(backend, cwd);
  } catch (err) {
    return `${backend}: manifest not readable: ${(err as Error).message}`;
  }
  if (!existsSync(join(found.dir, found.manifest.entry))) return `${backend} is not built (${join(found.dir, found.manifest.entry)} is missing)`;
  const caps = found.manifest.capabilities ?? {};
  const missing = ['udpTransport', 'roaming'].filter((c) => caps[c] !== true);
  if (missing.length > 0) {
    return `${backend} does not claim ${missing.join(' and ')} in its manifest (the path controller only relays backends that claim udpTransport and roaming)`;
  }
  return null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True when something accepts connections on the unix socket `path`. */
function socketLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Removes runtime sockets of earlier mesh runs (`rnm*`) that nothing listens on any more. */
export async function cleanStaleRuntimeFiles(): Promise<string[]> {
  const removed: string[] = [];
  for (const profile of Object.values(BACKEND_PROFILES)) {
    const dir = profile.runtimeDir;
    if (!dir || !existsSync(dir)) continue;
    for (const f of await readdir(dir)) {
      if (!f.startsWith(MESH_IF_PREFIX)) continue;
      const p = join(dir, f);
      if (!(await socketLive(p))) {
        await rm(p, { force: true });
        removed.push(p);
      }
    }
  }
  // resolv.conf directories of test-network namespaces that no longer exist.
  if (existsSync(NETNS_ETC)) {
    for (const d of await readdir(NETNS_ETC)) {
      if (!/^rnt-[0-9a-f]+-/.test(d) || existsSync(join('/run/netns', d))) continue;
      const dir = join(NETNS_ETC, d);
      const files = await readdir(dir).catch(() => ['?']);
      if (files.every((f) => f === 'resolv.conf')) {
        await rm(dir, { recursive: true, force: true });
        removed.push(dir);
      }
    }
  }
  return removed;
}

/** Text of a resolv.conf (resolv.conf(5)) naming `nameserver`, searching `zone`. */
export function renderResolvConf(nameserver: string, zone = DNS_ZONE): string {
  return `# written by the Rustynet test mesh; removed with the namespace\nnameserver ${nameserver}\nsearch ${zone}\noptions timeout:1 attempts:2\n`;
}

function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** True while `pid` exists and is not a zombie. */
function pidRunning(pid: number): boolean {
  const s = procState(pid);
  return s !== null && s !== 'Z';
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Every live process: pid, comm and cmdline (NULs as spaces). */
export function listProcesses(): Array<{ pid: number; comm: string; cmdline: string }> {
  const out: Array<{ pid: number; comm: string; cmdline: string }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${d}/cmdline`).toString('utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(d), comm, cmdline });
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * A running test mesh. Create with {@link Mesh.create}, then {@link startDaemons}; always
 * {@link destroy} (also on failure).
 */
export class Mesh {
  readonly nodes: MeshNode[] = [];
  private readonly running = new Map<string, Running>();
  private relayRun: Running | undefined;
  private destroyed = false;
  /** The host running the relay server ({@link MeshOptions.relay}), else undefined. */
  readonly relayHost: TestHost | undefined;
  /** Control-plane key files. */
  cpKeyFile = '';
  cpPublicKey = '';
  /** Protocol id of each backend spec, from keygen. */
  readonly protocols = new Map<string, string>();

  private constructor(
    readonly net: TestNetwork,
    readonly workDir: string,
    readonly opts: ResolvedMeshOptions,
  ) {
    this.relayHost = opts.relay ? net.host(RELAY_HOST) : undefined;
  }

  /** The signed netmap file the relay server reads (kept current by {@link publish}). */
  get relayNetmapFile(): string {
    return join(this.workDir, RELAY_HOST, 'netmap.json');
  }

  /** stdout/stderr of the relay server. */
  get relayOutFile(): string {
    return join(this.workDir, RELAY_HOST, 'relay.out');
  }

  /** `/etc/netns/<ns>/resolv.conf` of a node (present while the mesh runs with {@link MeshOptions.dns}). */
  resolvConfFile(n: MeshNode): string {
    return join(NETNS_ETC, n.host.netns, 'resolv.conf');
  }

  /** Run id (hex) shared by the namespaces and interface names of this mesh. */
  get runId(): string {
    return this.net.runId;
  }

  /**
   * Builds the underlay, the working directory and every key (with the `rustynet` CLI).
   * Does not start daemons. On failure everything made so far is removed.
   */
  static async create(options: MeshOptions): Promise<Mesh> {
    const opts: ResolvedMeshOptions = {
      nodes: options.nodes ?? ['a', 'b', 'c'],
      cwd: options.cwd ?? process.cwd(),
      logLevel: options.logLevel ?? 'debug',
      listenPort: options.listenPort ?? 51820,
      ttlMs: options.ttlMs ?? 3_600_000,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      backends: options.backends,
      log: options.log ?? (() => undefined),
      policy: options.policy ?? false,
      acl: options.acl,
      dns: options.dns ?? false,
      relay: options.relay ?? false,
      // 300 ms probes (daemon default 500): a blocked path is noticed after ~0.9-1.2 s, which
      // leaves a backend that must restart its session on an endpoint change (OpenVPN) a safe
      // margin under the 3 s fallback bound. See docs/path-controller.md, "Timing".
      pathProbe: { intervalMs: MESH_PROBE_INTERVAL_MS, ...options.pathProbe },
      persistentKeepalive: options.persistentKeepalive,
    };
    if (opts.backends.length === 0) throw new RangeError('backends: at least one backend plugin');
    for (const id of opts.nodes) if (!/^[a-z0-9]{1,8}$/.test(id)) throw new RangeError(`nodes: bad node id ${id}`);
    if (opts.relay && opts.nodes.includes(RELAY_HOST)) throw new RangeError(`nodes: ${RELAY_HOST} is the relay host's name`);
    await cleanStaleRuntimeFiles();
    const hosts = opts.relay ? [...opts.nodes, RELAY_HOST] : opts.nodes;
    opts.log(`creating ${hosts.length} network namespaces on underlay 198.18.0.0/24${opts.relay ? ` (${opts.nodes.length} nodes + the relay host)` : ''}`);
    const net = await TestNetwork.create({ hosts });
    let workDir = '';
    try {
      workDir = await mkdtemp(join(tmpdir(), `rustynet-mesh-${net.runId}-`));
      await chmod(workDir, 0o700);
      const wd = workDir;
      net.tracker.track('file', workDir, () => rmSync(wd, { recursive: true, force: true }));
      const mesh = new Mesh(net, workDir, opts);
      await mesh.makeKeys();
      if (opts.relay) await mkdir(join(workDir, RELAY_HOST), { recursive: true, mode: 0o700 });
      if (opts.dns) mesh.installResolvConfs();
      return mesh;
    } catch (err) {
      await net.destroy();
      if (workDir) await rm(workDir, { recursive: true, force: true });
      throw err;
    }
  }

  private async makeKeys(): Promise<void> {
    const { log, backends, cwd } = this.opts;
    const cpDir = join(this.workDir, 'control-plane');
    log(`generating the control-plane key: rustynet keygen --out ${cpDir} --control-plane --no-identity`);
    const cp = JSON.parse(await rustynet(['keygen', '--out', cpDir, '--control-plane', '--no-identity', '--json'], { cwd })) as KeygenJson;
    this.cpKeyFile = cp.controlPlane!.privateKeyFile;
    this.cpPublicKey = cp.controlPlane!.publicKey;
    const backendArgs = backends.flatMap((b) => ['--backend', b]);
    await Promise.all(
      this.opts.nodes.map(async (id, index) => {
        const host = this.net.host(id);
        const dir = join(this.workDir, id);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const keyDir = join(dir, 'keys');
        log(`node ${id}: rustynet keygen --out ${keyDir} ${backendArgs.join(' ')}`);
        const k = JSON.parse(await rustynet(['keygen', '--out', keyDir, ...backendArgs, '--json'], { cwd })) as KeygenJson;
        const keys: Record<string, string> = {};
        for (const [protocol, b] of Object.entries(k.backends)) {
          keys[protocol] = b.publicKey;
          this.protocols.set(b.plugin, protocol);
        }
        this.nodes[index] = {
          id,
          index,
          host,
          ifname: `${MESH_IF_PREFIX}${this.net.runId}${id}`,
          v4: `100.64.0.${index + 1}`,
          v6: `fd7a:115c:a1e0::${index + 1}`,
          dir,
          keyDir,
          configFile: join(dir, 'rustynetd.json'),
          netmapFile: join(dir, 'netmap.json'),
          socket: join(dir, 'rustynetd.sock'),
          logFile: join(dir, 'rustynetd.log'),
          outFile: join(dir, 'rustynetd.out'),
          identityKey: k.identity!.publicKey,
          keys,
        };
      }),
    );
    // Map plugin specs (paths or names) to protocols via the keygen order.
    backends.forEach((b) => {
      if (!this.protocols.has(b)) {
        const p = [...this.protocols.entries()].find(([name]) => name === b || b.endsWith(name))?.[1];
        if (p) this.protocols.set(b, p);
      }
    });
  }

  /**
   * Writes `/etc/netns/<ns>/resolv.conf` for every node (its own mesh IPv4 address as the only
   * nameserver, search {@link DNS_ZONE}); `ip netns exec` bind-mounts it over `/etc/resolv.conf`
   * for programs started in that namespace. The root namespace's resolver is never touched.
   * Each file and directory is tracked and removed with the test network (also on signals).
   */
  private installResolvConfs(): void {
    if (!existsSync(NETNS_ETC)) {
      mkdirSync(NETNS_ETC, { recursive: true, mode: 0o755 });
      this.net.tracker.track('file', NETNS_ETC, () => {
        try {
          rmdirSync(NETNS_ETC);
        } catch {
          /* not empty: other namespaces use it */
        }
      });
    }
    for (const n of this.nodes) {
      const dir = join(NETNS_ETC, n.host.netns);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      this.net.tracker.track('file', dir, () => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, 'resolv.conf'), renderResolvConf(n.v4), { mode: 0o644 });
      this.opts.log(`node ${n.id}: ${join(dir, 'resolv.conf')}: nameserver ${n.v4} (its own Magic DNS), search ${DNS_ZONE}`);
    }
  }

  /** The node with id `id`. */
  node(id: string): MeshNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** The netmap entry of one node. */
  netmapNode(n: MeshNode): NetmapNode {
    return {
      id: n.id,
      addresses: [`${n.v4}/32`, `${n.v6}/128`],
      endpoints: [{ host: n.host.underlayAddress, port: this.opts.listenPort }],
      keys: { ...n.keys },
      identityKey: n.identityKey,
      ...(this.opts.relay && { probePort: PROBE_PORT }),
    };
  }

  /**
   * An unsigned netmap of the whole mesh. With {@link MeshOptions.relay} it lists the relay and
   * every node's `probePort`.
   * @param opts.without node ids left out; `issuedAt`/`expiresAt` override the default window;
   *   `acl` replaces {@link MeshOptions.acl} (`null`: no ACL); `names` sets node names (DNS) by id.
   */
  netmap(
    version: number,
    opts: { without?: string[]; issuedAt?: Date; expiresAt?: Date; acl?: AclPolicy | null; names?: Record<string, string> } = {},
  ): Netmap {
    const issued = opts.issuedAt ?? new Date(Date.now() - 5_000);
    const expires = opts.expiresAt ?? new Date(issued.getTime() + this.opts.ttlMs);
    const acl = opts.acl === null ? undefined : (opts.acl ?? this.opts.acl);
    return {
      version,
      issuedAt: issued.toISOString(),
      expiresAt: expires.toISOString(),
      network: `rustynet-mesh-${this.runId}`,
      nodes: this.nodes
        .filter((n) => !(opts.without ?? []).includes(n.id))
        .map((n) => ({ ...this.netmapNode(n), ...(opts.names?.[n.id] !== undefined && { name: opts.names[n.id] }) })),
      ...(acl && { acl: structuredClone(acl) }),
      ...(this.relayHost && { relays: [{ id: RELAY_ID, endpoint: { host: this.relayHost.underlayAddress, port: RELAY_PORT } }] }),
    };
  }

  /** Signs `netmap` with the control-plane key through `rustynet netmap sign`. */
  async sign(netmap: Netmap): Promise<SignedNetmap> {
    const text = await rustynet(['netmap', 'sign', '--key', this.cpKeyFile, '--in', '-'], { input: JSON.stringify(netmap), cwd: this.opts.cwd });
    return JSON.parse(text) as SignedNetmap;
  }

  /**
   * Writes a (signed, possibly tampered) netmap document to the nodes' netmap files atomically
   * and asks each running daemon to reload it. With a relay, the relay server's copy is written
   * too (it re-reads it every second and keeps its last good map when this one fails to verify).
   * @returns the reload error per node (`undefined` when accepted).
   */
  async publish(
    doc: unknown,
    nodeIds: readonly string[] = this.nodes.map((n) => n.id),
    opts: { reload?: boolean } = {},
  ): Promise<Record<string, Error | undefined>> {
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const out: Record<string, Error | undefined> = {};
    if (this.relayHost) {
      // The relay server re-reads its copy (it refuses maps that fail verification or are older).
      const tmp = `${this.relayNetmapFile}.tmp`;
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, this.relayNetmapFile);
    }
    for (const id of nodeIds) {
      const n = this.node(id);
      const tmp = `${n.netmapFile}.tmp`;
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, n.netmapFile);
      if (this.running.has(id) && opts.reload !== false) {
        out[id] = await new LocalApiClient(n.socket).reloadNetmap().then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      }
    }
    return out;
  }

  /** The daemon config of node `n` for `backend`. */
  daemonConfig(n: MeshNode, backend: string): Record<string, unknown> {
    const protocol = this.protocols.get(backend);
    if (!protocol) throw new Error(`no keys generated for backend ${backend}`);
    return {
      node: n.id,
      stateDir: join(n.dir, 'state', protocol),
      socket: n.socket,
      controlPlaneKey: this.cpPublicKey,
      identityKeyFile: join(n.keyDir, 'identity.key'),
      netmap: { file: n.netmapFile, pollIntervalMs: this.opts.pollIntervalMs },
      backend: {
        plugin: backend,
        interfaceName: n.ifname,
        keyDirectory: join(n.keyDir, protocol),
        listenPort: this.opts.listenPort,
        mtu: 1420,
        ...(this.opts.persistentKeepalive !== undefined && { persistentKeepalive: this.opts.persistentKeepalive }),
        options: {},
      },
      plugins: [
        ...(this.opts.policy ? [{ plugin: POLICY_PLUGIN, options: {} }] : []),
        ...(this.opts.dns ? [{ plugin: DNS_PLUGIN, options: { port: DNS_PORT } }] : []),
        ...(this.opts.relay ? [{ plugin: RELAY_PLUGIN, options: {} }] : []),
      ],
      ...(this.opts.relay && { pathProbe: { port: PROBE_PORT, ...this.opts.pathProbe } }),
      log: { level: this.opts.logLevel, file: n.logFile },
    };
  }

  /**
   * Writes each node's config and starts one `rustynetd` per node inside its namespace
   * (`ip netns exec <ns> node rustynetd.js --config <file>`), then waits until every daemon
   * reports `up` with `netmapVersion` applied and all peers present. With a relay, the relay
   * server is started first ({@link startRelayServer}).
   * @throws Error with the daemon's output tail when one exits or does not come up in time.
   */
  async startDaemons(backend: string, netmapVersion: number, timeoutMs = 60_000): Promise<void> {
    if (this.relayHost && !this.relayRun) await this.startRelayServer();
    for (const n of this.nodes) {
      await mkdir(join(n.dir, 'state'), { recursive: true, mode: 0o700 });
      await writeFile(n.configFile, `${JSON.stringify(this.daemonConfig(n, backend), null, 2)}\n`, { mode: 0o600 });
    }
    for (const n of this.nodes) {
      this.opts.log(`node ${n.id}: ip netns exec ${n.host.netns} node ${RUSTYNETD_BIN} --config ${n.configFile}`);
      const out = createWriteStream(n.outFile, { flags: 'a', mode: 0o600 });
      const child = n.host.spawn(process.execPath, [RUSTYNETD_BIN, '--config', n.configFile], {
        cwd: this.opts.cwd,
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: false,
      });
      child.stdout?.pipe(out, { end: false });
      child.stderr?.pipe(out, { end: false });
      const run: Running = {
        child,
        pid: child.pid ?? -1,
        out,
        exited: Promise.resolve(child).then(
          (r) => {
            run.exit = { code: r.exitCode ?? null, signal: r.signal ?? null };
          },
          () => {
            run.exit = { code: null, signal: null };
          },
        ),
      };
      this.running.set(n.id, run);
    }
    await this.waitFor(
      (id, s) => s.state === 'up' && s.netmap?.version === netmapVersion && s.peers.length === this.nodes.length - 1,
      `up with netmap version ${netmapVersion} and ${this.nodes.length - 1} peers`,
      timeoutMs,
    );
  }

  /**
   * Starts `rustynet relay serve --listen <relay underlay>:RELAY_PORT` inside the relay host's
   * namespace, reading {@link relayNetmapFile} (publish a netmap first). Resolves once it listens.
   * @throws Error with its output when it exits or does not listen within `timeoutMs`.
   */
  async startRelayServer(timeoutMs = 20_000): Promise<void> {
    const host = this.relayHost;
    if (!host) throw new Error('this mesh has no relay (MeshOptions.relay)');
    if (this.relayRun && !this.relayRun.exit) return;
    if (!existsSync(this.relayNetmapFile)) throw new Error('publish a signed netmap before starting the relay server');
    const args = [
      RUSTYNET_BIN, 'relay', 'serve',
      '--listen', `${host.underlayAddress}:${RELAY_PORT}`,
      '--netmap', this.relayNetmapFile,
      '--control-plane-key', this.cpPublicKey,
      '--relay-id', RELAY_ID,
      '--poll-interval', '1000',
    ];
    this.opts.log(`relay: ip netns exec ${host.netns} rustynet relay serve --listen ${host.underlayAddress}:${RELAY_PORT} --netmap ${this.relayNetmapFile} --relay-id ${RELAY_ID}`);
    const out = createWriteStream(this.relayOutFile, { flags: 'a', mode: 0o600 });
    const child = host.spawn(process.execPath, args, { cwd: this.opts.cwd, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false });
    let text = '';
    let listening!: () => void;
    const ready = new Promise<void>((r) => (listening = r));
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (/listening on/.test(text)) listening();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    const run: Running = {
      child,
      pid: child.pid ?? -1,
      out,
      exited: Promise.resolve(child).then(
        (r) => void (run.exit = { code: r.exitCode ?? null, signal: r.signal ?? null }),
        () => void (run.exit = { code: null, signal: null }),
      ),
    };
    this.relayRun = run;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      run.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ready') {
      if (outcome === 'timeout') child.kill('SIGKILL');
      throw new Error(`relay server ${outcome === 'exited' ? `exited (${JSON.stringify(run.exit)})` : `not listening after ${timeoutMs} ms`}:\n${text.trim()}`);
    }
    this.opts.log(`relay: ${text.trim().split('\n').find((l) => l.includes('listening on'))?.replace(/^rustynet relay: /, '') ?? 'listening'}`);
  }

  /**
   * Stops the relay server (SIGTERM, SIGKILL after `timeoutMs`).
   * @returns its exit and its output (the last line counts the datagrams it forwarded), or null
   *   when none was running.
   */
  async stopRelayServer(timeoutMs = 10_000): Promise<{ exit: { code: number | null; signal: string | null }; output: string } | null> {
    const run = this.relayRun;
    if (!run) return null;
    this.relayRun = undefined;
    if (!run.exit) {
      this.opts.log('relay: stopping the relay server (SIGTERM)');
      run.child.kill('SIGTERM');
      const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
      await run.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((r) => run.out.end(r));
    return { exit: run.exit ?? { code: null, signal: null }, output: await readFile(this.relayOutFile, 'utf8').catch(() => '') };
  }

  /** Last lines of a node's daemon output and log, for error messages. */
  async tail(id: string, lines = 15): Promise<string> {
    const n = this.node(id);
    const parts: string[] = [];
    for (const f of [n.outFile, n.logFile]) {
      const text = await readFile(f, 'utf8').catch(() => '');
      if (text) parts.push(`--- ${f}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /** Status of node `id` from its local API. */
  status(id: string): Promise<DaemonStatus> {
    return new LocalApiClient(this.node(id).socket, 5_000).status();
  }

  /** Human `rustynet status` output of node `id` (through the CLI program). */
  statusText(id: string): Promise<string> {
    return rustynet(['status', '--socket', this.node(id).socket]);
  }

  /**
   * Polls every node's status until `pred` holds for all of them.
   * @throws Error naming the nodes that did not get there, with their output tails.
   */
  async waitFor(pred: (id: string, s: DaemonStatus) => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const last = new Map<string, string>();
    for (;;) {
      const pending: string[] = [];
      for (const n of this.nodes) {
        const run = this.running.get(n.id);
        if (run?.exit) {
          throw new Error(`rustynetd on node ${n.id} exited (${JSON.stringify(run.exit)}) before it was ${what}\n${await this.tail(n.id)}`);
        }
        try {
          const s = await this.status(n.id);
          last.set(n.id, `state ${s.state}, netmap ${s.netmap?.version ?? 'none'}, ${s.peers.length} peers${s.lastRejection ? `, last rejection ${s.lastRejection.code}` : ''}`);
          if (!pred(n.id, s)) pending.push(n.id);
        } catch (err) {
          last.set(n.id, (err as Error).message);
          pending.push(n.id);
        }
      }
      if (pending.length === 0) return;
      if (Date.now() > deadline) {
        const tails = await Promise.all(pending.map((id) => this.tail(id)));
        throw new Error(
          `nodes ${pending.join(', ')} not ${what} after ${timeoutMs} ms: ${pending.map((id) => `${id}: ${last.get(id)}`).join('; ')}\n${tails.join('\n')}`,
        );
      }
      await sleep(250);
    }
  }

  /**
   * Pings every node from every other over the mesh, IPv4 and IPv6 (in parallel).
   * @param attempts ping attempts per pair (1 s each), default 8. The first packet may wait for a
   *   handshake, and when two peers initiate at the same moment (all pairs ping at once) both
   *   handshakes can be lost; WireGuard then retries after REKEY_TIMEOUT (5 s + up to 333 ms
   *   jitter, whitepaper section 6.4), so fewer than 6 attempts would make the matrix flaky.
   */
  async pingMatrix(attempts = 8, pairs?: Array<[string, string]>): Promise<PingResult[]> {
    const todo: Array<Omit<PingResult, 'ok'>> = [];
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b) continue;
        if (pairs && !pairs.some(([x, y]) => x === a.id && y === b.id)) continue;
        todo.push({ from: a.id, to: b.id, family: 4, address: b.v4 }, { from: a.id, to: b.id, family: 6, address: b.v6 });
      }
    }
    return Promise.all(todo.map(async (t) => ({ ...t, ok: await this.node(t.from).host.ping(t.address, { attempts, timeoutS: 1 }) })));
  }

  /** Renders a ping matrix as text: rows are sources, columns destinations, cells `v4 / v6`. */
  static renderMatrix(results: PingResult[], nodeIds: string[]): string {
    const cell = (from: string, to: string): string => {
      if (from === to) return '-';
      const r4 = results.find((r) => r.from === from && r.to === to && r.family === 4);
      const r6 = results.find((r) => r.from === from && r.to === to && r.family === 6);
      const f = (r: PingResult | undefined): string => (r === undefined ? 'n/a' : r.ok ? 'ok' : 'FAIL');
      return `${f(r4)} / ${f(r6)}`;
    };
    const width = 14;
    const lines = [['from \\ to', ...nodeIds].map((c) => c.padEnd(width)).join('').trimEnd()];
    for (const a of nodeIds) lines.push([a, ...nodeIds.map((b) => cell(a, b))].map((c) => c.padEnd(width)).join('').trimEnd());
    return lines.join('\n') + '\n';
  }

  /**
   * Blocks all underlay traffic between nodes `x` and `y` with nftables in both namespaces
   * (the harness's `blockPath`). Traffic through other hosts (the relay) is not affected.
   * @returns `Date.now()` when the first block was in place (from then on the path is cut).
   */
  async blockDirect(x: string, y: string): Promise<number> {
    const [a, b] = [this.node(x).host, this.node(y).host];
    await a.blockPath(b);
    const t = Date.now();
    await b.blockPath(a);
    return t;
  }

  /**
   * Removes the blocks of {@link blockDirect} in both namespaces (in parallel).
   * @returns `Date.now()` when both were removed (from then on the path is open).
   */
  async unblockDirect(x: string, y: string): Promise<number> {
    const [a, b] = [this.node(x).host, this.node(y).host];
    await Promise.all([a.unblockPath(b), b.unblockPath(a)]);
    return Date.now();
  }

  /**
   * Polls the status of each `[node, peer]` pair (every `pollMs`) until that node reports the
   * peer on `path`.
   * @returns `Date.now()` at the first poll where all pairs held.
   * @throws Error naming the pairs still on the other path after `timeoutMs`.
   */
  async waitForPath(pairs: Array<[string, string]>, path: 'direct' | 'relay', timeoutMs = 20_000, pollMs = 100): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pending: string[] = [];
      await Promise.all(
        pairs.map(async ([id, peer]) => {
          const s = await this.status(id).catch(() => null);
          const p = s?.peers.find((x) => x.id === peer);
          if (p?.path !== path) pending.push(`${id}->${peer} ${p?.path ?? 'missing'}`);
        }),
      );
      if (pending.length === 0) return Date.now();
      if (Date.now() > deadline) throw new Error(`peers not on the ${path} path after ${timeoutMs} ms: ${pending.join(', ')}`);
      await sleep(pollMs);
    }
  }

  /**
   * Starts `ping -D -i <intervalS>` from node `from` to `address` (one echo request per
   * interval until stopped) and records the time of every reply (ping's own `-D` timestamps,
   * gettimeofday, comparable with `Date.now()`).
   */
  continuousPing(from: string, address: string, intervalS = 0.1): ContinuousPing {
    const host = this.node(from).host;
    const child = host.spawn('ping', [...(address.includes(':') ? ['-6'] : []), '-D', '-n', '-i', String(intervalS), '-W', '1', address], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'ignore',
      buffer: false,
    });
    const replies: number[] = [];
    let rest = '';
    child.stdout?.on('data', (d: Buffer) => {
      rest += d.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        const m = /^\[(\d+\.\d+)\] \d+ bytes from /.exec(l);
        if (m) replies.push(Math.round(Number(m[1]) * 1000));
      }
    });
    const exited = Promise.resolve(child).then(() => undefined);
    return {
      replies,
      async firstReplyAfter(t: number, timeoutMs: number): Promise<number | null> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const r = replies.find((x) => x > t);
          if (r !== undefined) return r;
          if (Date.now() > deadline) return null;
          await sleep(20);
        }
      },
      async stop(): Promise<void> {
        if (child.exitCode === null) child.kill('SIGINT');
        await exited;
      },
    };
  }

  /**
   * `ping -c1 -W1 <name>` from node `from`, resolving the name through the namespace's
   * resolv.conf (Magic DNS), up to `attempts` times.
   * @returns whether a reply came and the address ping resolved the name to.
   */
  async pingByName(from: string, name: string, attempts = 3): Promise<{ ok: boolean; address: string | null; output: string }> {
    let last = { ok: false, address: null as string | null, output: '' };
    for (let i = 0; i < attempts; i++) {
      const r = await this.node(from).host.exec('ping', ['-n', '-c', '1', '-W', '1', name], { reject: false, timeoutMs: 15_000 });
      const output = `${r.stdout}${r.stderr}`.trim();
      last = { ok: r.exitCode === 0, address: /^PING [^\s(]+ ?\(([^)]+)\)/m.exec(r.stdout)?.[1] ?? null, output };
      if (last.ok) return last;
    }
    return last;
  }

  /**
   * `dig @<server> <name> <type>` from node `from` (1 s timeout, 2 tries).
   * @returns the RCODE (`NOERROR`, `NXDOMAIN`, ...; `TIMEOUT` when no answer came) and the
   *   answer section's record data (e.g. addresses).
   */
  async dig(from: string, server: string, name: string, type = 'A'): Promise<{ status: string; answers: string[] }> {
    const r = await this.node(from).host.exec('dig', [`@${server}`, '-p', String(DNS_PORT), name, type, '+time=1', '+tries=2', '+noall', '+comments', '+answer'], {
      reject: false,
      timeoutMs: 15_000,
    });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? 'TIMEOUT';
    const answers = r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(';'))
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 5 && f[3] === type)
      .map((f) => f.slice(4).join(' '));
    return { status, answers };
  }

  /**
   * The policy plugin's named counters in node `id`'s namespace
   * (`nft -j list counters table inet rustynet_policy`): the counter of each ACL rule carries
   * the rule id as its comment; `default_drop` counts the default deny.
   */
  async policyCounters(id: string): Promise<Array<{ name: string; rule: string; packets: number; bytes: number }>> {
    const r = await this.node(id).host.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', POLICY_TABLE]);
    const doc = JSON.parse(r.stdout) as { nftables: Array<Record<string, { name?: string; comment?: string; packets?: number; bytes?: number } | undefined>> };
    return doc.nftables
      .map((e) => e['counter'])
      .filter((c): c is NonNullable<typeof c> => c !== undefined)
      .map((c) => ({ name: c.name ?? '', rule: c.comment ?? c.name ?? '', packets: c.packets ?? 0, bytes: c.bytes ?? 0 }));
  }

  /** pids of the running daemons by node id. */
  daemonPids(): Record<string, number> {
    return Object.fromEntries([...this.running.entries()].map(([id, r]) => [id, r.pid]));
  }

  /**
   * Stops every daemon with SIGTERM (clean stop), waiting up to `timeoutMs`, then SIGKILL.
   * @returns each daemon's exit (code, signal) by node id.
   */
  async stopDaemons(timeoutMs = 30_000): Promise<Record<string, { code: number | null; signal: string | null }>> {
    const exits: Record<string, { code: number | null; signal: string | null }> = {};
    await Promise.all(
      [...this.running.entries()].map(async ([id, run]) => {
        if (!run.exit) {
          this.opts.log(`node ${id}: stopping rustynetd (SIGTERM)`);
          run.child.kill('SIGTERM');
          const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
          await run.exited;
          clearTimeout(timer);
        }
        await new Promise<void>((r) => run.out.end(r));
        exits[id] = run.exit ?? { code: null, signal: null };
      }),
    );
    this.running.clear();
    return exits;
  }

  /**
   * For signal handlers: SIGTERM to every daemon, then waits synchronously (up to
   * `timeoutMs`) for them to finish their clean stop, SIGKILL for the rest.
   */
  emergencyStopSync(timeoutMs = 10_000): void {
    const runs = [...this.running.values(), ...(this.relayRun ? [this.relayRun] : [])];
    const pids = runs.filter((r) => !r.exit && r.pid > 0).map((r) => r.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    const deadline = Date.now() + timeoutMs;
    while (pids.some(pidRunning) && Date.now() < deadline) sleepSync(50);
    for (const pid of pids.filter(pidRunning)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.removeRuntimeFilesSync();
  }

  private removeRuntimeFilesSync(): void {
    for (const n of this.nodes) {
      for (const profile of Object.values(BACKEND_PROFILES)) {
        for (const f of profile.runtimeFiles(n.ifname)) rmSync(f, { force: true });
      }
    }
  }

  /**
   * What survived: tunnel interfaces named like this mesh's in its namespaces, runtime files
   * of the backends, daemon/backend processes of this run, API sockets.
   */
  async leftovers(opts: { namespacesGone?: boolean } = {}): Promise<string[]> {
    const found: string[] = [];
    if (!opts.namespacesGone) {
      for (const n of this.nodes) {
        const r = await n.host.exec('ip', ['-o', 'link', 'show'], { reject: false });
        for (const line of r.stdout.split('\n')) {
          const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
          if (name && name.startsWith(`${MESH_IF_PREFIX}${this.runId}`)) found.push(`interface ${name} in ${n.host.netns}`);
        }
        if (this.opts.policy) {
          const t = await n.host.exec('nft', ['list', 'tables'], { reject: false });
          if (t.stdout.includes(POLICY_TABLE)) found.push(`nftables table ${POLICY_TABLE} in ${n.host.netns}`);
        }
      }
    } else {
      const ns = await new Promise<string>((resolve) => execFile('ip', ['netns', 'list'], (_e, so) => resolve(String(so))));
      for (const line of ns.split('\n')) {
        const name = line.split(' ')[0];
        if (name && name.startsWith(this.net.prefix)) found.push(`namespace ${name}`);
      }
    }
    for (const n of this.nodes) {
      for (const profile of Object.values(BACKEND_PROFILES)) {
        for (const f of profile.runtimeFiles(n.ifname)) if (existsSync(f)) found.push(`file ${f}`);
      }
      if (existsSync(n.socket)) found.push(`socket ${n.socket}`);
      if (opts.namespacesGone && existsSync(join(NETNS_ETC, n.host.netns))) found.push(`directory ${join(NETNS_ETC, n.host.netns)}`);
    }
    const names = new Set(Object.values(BACKEND_PROFILES).flatMap((p) => p.processNames));
    for (const p of listProcesses()) {
      if (p.pid === process.pid) continue;
      const mine = p.cmdline.includes(this.workDir) || this.nodes.some((n) => p.cmdline.includes(n.ifname));
      if (mine && (names.has(p.comm) || p.cmdline.includes('rustynetd') || p.cmdline.includes('relay serve'))) {
        found.push(`process ${p.pid} ${p.comm}: ${p.cmdline}`);
      }
    }
    return found;
  }

  /** Private key material of every node and of the control plane (from the 0600 key files). */
  async secrets(): Promise<Array<{ file: string; token: string }>> {
    const out: Array<{ file: string; token: string }> = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && ((await stat(p)).mode & 0o077) === 0) {
          const text = await readFile(p, 'utf8');
          for (const line of text.split('\n')) {
            const t = line.trim();
            if (t.length >= 16 && !t.startsWith('-----')) out.push({ file: p, token: t });
          }
        }
      }
    };
    for (const n of this.nodes) await walk(n.keyDir);
    await walk(join(this.workDir, 'control-plane'));
    return out;
  }

  /**
   * Searches every process's `/proc/<pid>/cmdline` and `/proc/<pid>/environ` and every daemon
   * log and output file for private key material.
   * @returns where each secret was found (empty when none leaked).
   */
  async findLeakedSecrets(): Promise<string[]> {
    const secrets = await this.secrets();
    if (secrets.length === 0) throw new Error('no private key material found in the key directories: the scan would prove nothing');
    const hits: string[] = [];
    const scan = (where: string, text: string): void => {
      for (const s of secrets) if (text.includes(s.token)) hits.push(`${where} contains the key of ${s.file}`);
    };
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      for (const f of ['cmdline', 'environ']) {
        try {
          scan(`/proc/${d}/${f}`, readFileSync(`/proc/${d}/${f}`).toString('utf8'));
        } catch {
          /* gone or not readable */
        }
      }
    }
    for (const n of this.nodes) {
      for (const f of [n.logFile, n.outFile]) {
        const text = await readFile(f, 'utf8').catch(() => '');
        scan(f, text);
      }
    }
    return hits;
  }

  /** Stops the daemons, removes namespaces, files and runtime sockets. Idempotent; never throws. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.stopDaemons().catch(() => undefined);
    await this.stopRelayServer().catch(() => undefined);
    await this.net.destroy();
    this.removeRuntimeFilesSync();
    await rm(this.workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
