/**
 * Options of a test mesh ({@link MeshOptions}) and their defaults. Plugins are parameters: the
 * backends are always given; the policy, DNS and relay plugins and the backend profiles default
 * to the reference set of reference-defaults.ts.
 */
import type { AclPolicy } from '@rustynet/plugin-api';
import { MESH_PROBE_INTERVAL_MS, RELAY_HOST, relayHostName } from './constants.js';
import { CONTROL_HOST, type MeshControlOptions } from './control-plane.js';
import type { BackendProfiles } from './profiles.js';
import { REFERENCE_BACKEND_PROFILES, REFERENCE_PLUGINS, type MeshPluginSet } from './reference-defaults.js';

/** Settings of the daemons' direct-path probing (`DaemonConfig.pathProbe`, docs/path-controller.md). */
export interface MeshPathProbe {
  /** Probe interval, ms (daemon default 500). */
  intervalMs?: number;
  /** Unanswered probes before a peer goes to the relay (daemon default 3). */
  failuresToRelay?: number;
  /** Answered probes before a relayed peer returns to direct (daemon default 3). */
  successesToDirect?: number;
}

/** Options of `Mesh.create`. */
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
  /** Lifetime of netmaps made by `Mesh.netmap`, ms; default one hour. */
  ttlMs?: number;
  /**
   * How often the daemons re-read their netmap file, ms; default 1000. Tests that must tell
   * an explicit reload (API, SIGHUP) from polling set it high.
   */
  pollIntervalMs?: number;
  /**
   * File flow only: give each daemon a `netmap.deltaFile` (`<netmap file>.delta`) beside its
   * netmap file, for signed netmap deltas (docs/netmap-deltas.md). Default false.
   */
  netmapDeltaFile?: boolean;
  /**
   * Load the policy plugin ({@link MeshPluginSet.policy}) in every daemon (default false). The
   * ACL comes from the netmap: see {@link acl}; without one the policy denies all incoming mesh
   * traffic.
   */
  policy?: boolean;
  /** ACL put into every netmap made by `Mesh.netmap` unless it is given there (default none). */
  acl?: AclPolicy;
  /**
   * Load the DNS plugin ({@link MeshPluginSet.dns}) in every daemon (default false), listening on
   * port `DNS_PORT` of the node's mesh IPv4 address and 127.0.0.1, and give each node's namespace
   * a `/etc/netns/<ns>/resolv.conf` naming its own mesh address (removed by `Mesh.destroy`).
   */
  dns?: boolean;
  /**
   * Add a host `RELAY_HOST` running `rustynet relay serve` on `<its underlay>:RELAY_PORT`
   * (started by `Mesh.startDaemons`), list it in the netmap's `relays`, give every node a
   * `probePort`, and load the relay client plugin ({@link MeshPluginSet.relay}) with `pathProbe`
   * in every daemon (default false).
   */
  relay?: boolean;
  /**
   * With {@link relay}: this many further relay hosts (`relay2`, `relay3`, ...), each running its
   * own `rustynet relay serve` with its own identity key, listed after `relay-1` in the netmap as
   * `relay-2`, ... (default 0, at most 3). See `Mesh.relays`, `Mesh.startRelayServer`,
   * `Mesh.stopRelayServer`.
   */
  extraRelays?: number;
  /** Path probing settings when {@link relay} is on. */
  pathProbe?: MeshPathProbe;
  /** `backend.persistentKeepalive` (s) of every daemon; default none. */
  persistentKeepalive?: number;
  /** The policy, DNS and relay plugins to load; each one left out is the reference plugin (`REFERENCE_PLUGINS`). */
  plugins?: Partial<MeshPluginSet>;
  /**
   * Profiles of the backends (tools, processes, runtime files) for prerequisite, cleanup and
   * leftover checks, by plugin spec; default `REFERENCE_BACKEND_PROFILES`. A backend without a
   * profile still runs, with fewer checks.
   */
  backendProfiles?: BackendProfiles;
  /**
   * Run a control plane (`rustynet control serve` on host `CONTROL_HOST`, started by
   * `Mesh.startDaemons`): every node enrols with its own one-time pre-auth key and long-polls it
   * (`netmap.control`) instead of reading a netmap file; overlay addresses come from the control
   * plane. Default: off (netmap files).
   */
  control?: MeshControlOptions;
  /**
   * Extra top-level `rustynetd` config fields by node id, merged over the generated config
   * (e.g. `{ a: { exitNode: 'b', exitLanAccess: true } }`). Default none.
   */
  nodeConfig?: Record<string, Record<string, unknown>>;
  /**
   * Prefix of this mesh's namespace names (`<prefix>-<host>`, the test network's `prefix`);
   * default `rnt-<run id>`. Give a per-run unique one (e.g. `imp-<hex>`).
   */
  namePrefix?: string;
  /**
   * Extra arguments of `rustynet relay serve` (e.g. `['--metrics-listen', '127.0.0.1:9470']`).
   * Never put secrets here: they would be on a command line. Default none.
   */
  relayExtraArgs?: string[];
  /** Options of the relay client plugin on every node (e.g. `{ fastPath: true }`, docs/relay.md). Default `{}`. */
  relayClientOptions?: Record<string, unknown>;
}

/** {@link MeshOptions} with every default filled in. */
export interface ResolvedMeshOptions {
  backends: string[];
  nodes: string[];
  cwd: string;
  log: (line: string) => void;
  logLevel: string;
  listenPort: number;
  ttlMs: number;
  pollIntervalMs: number;
  netmapDeltaFile: boolean;
  policy: boolean;
  acl: AclPolicy | undefined;
  dns: boolean;
  relay: boolean;
  pathProbe: MeshPathProbe;
  persistentKeepalive: number | undefined;
  plugins: MeshPluginSet;
  backendProfiles: BackendProfiles;
  control: MeshControlOptions | undefined;
  nodeConfig: Record<string, Record<string, unknown>>;
  namePrefix: string | undefined;
  relayExtraArgs: string[];
  relayClientOptions: Record<string, unknown>;
  extraRelays: number;
}

/** `o` without its undefined-valued properties (so they do not hide a default when spread). */
function definedEntries<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Fills in the defaults of `options` and checks them.
 * @throws RangeError for no backend, a bad node id, or a node named like the relay or control host.
 */
export function resolveMeshOptions(options: MeshOptions): ResolvedMeshOptions {
  const opts: ResolvedMeshOptions = {
    nodes: options.nodes ?? ['a', 'b', 'c'],
    cwd: options.cwd ?? process.cwd(),
    logLevel: options.logLevel ?? 'debug',
    listenPort: options.listenPort ?? 51820,
    ttlMs: options.ttlMs ?? 3_600_000,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    netmapDeltaFile: options.netmapDeltaFile ?? false,
    backends: options.backends,
    log: options.log ?? (() => undefined),
    policy: options.policy ?? false,
    acl: options.acl,
    dns: options.dns ?? false,
    relay: options.relay ?? false,
    // 300 ms probes (daemon default 500): a blocked path is noticed after ~0.9-1.2 s, which
    // leaves a backend that must restart its session on an endpoint change a safe margin under
    // the 3 s fallback bound. See docs/path-controller.md, "Timing".
    pathProbe: { intervalMs: MESH_PROBE_INTERVAL_MS, ...options.pathProbe },
    persistentKeepalive: options.persistentKeepalive,
    plugins: { ...REFERENCE_PLUGINS, ...definedEntries(options.plugins ?? {}) },
    backendProfiles: options.backendProfiles ?? REFERENCE_BACKEND_PROFILES,
    control: options.control,
    nodeConfig: options.nodeConfig ?? {},
    namePrefix: options.namePrefix,
    relayExtraArgs: options.relayExtraArgs ?? [],
    relayClientOptions: options.relayClientOptions ?? {},
    extraRelays: options.relay ? (options.extraRelays ?? 0) : 0,
  };
  if (opts.backends.length === 0) throw new RangeError('backends: at least one backend plugin');
  for (const id of opts.nodes) if (!/^[a-z0-9]{1,8}$/.test(id)) throw new RangeError(`nodes: bad node id ${id}`);
  if (opts.relay && opts.nodes.includes(RELAY_HOST)) throw new RangeError(`nodes: ${RELAY_HOST} is the relay host's name`);
  if (!Number.isInteger(opts.extraRelays) || opts.extraRelays < 0 || opts.extraRelays > 3) {
    throw new RangeError('extraRelays: an integer 0..3');
  }
  for (let i = 1; i <= opts.extraRelays; i++) {
    if (opts.nodes.includes(relayHostName(i))) throw new RangeError(`nodes: ${relayHostName(i)} is a relay host's name`);
  }
  if (opts.control && opts.nodes.includes(CONTROL_HOST)) throw new RangeError(`nodes: ${CONTROL_HOST} is the control host's name`);
  return opts;
}
