import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  AclRule,
  FlowQuery,
  PluginManifest,
  PolicyCapabilities,
  PolicyDecision,
  PolicyInput,
  RuleCounter,
} from '@rustynet/plugin-api';
import type { ResultPromise } from 'execa';
import type { TestHost, TestNetwork } from '../../harness/test-network.js';
import type { PluginHost } from '../../host/plugin-host-client.js';
import { BackendFixture, type NodeName, type SuiteNode } from '../backend/fixture.js';
import { lastLines, logWarnings } from '../common/diagnostics.js';
import { closeAll, stopAll, SuiteFixture } from '../common/fixture.js';
import type { SuiteOptions } from '../common/options.js';

/** The backend the policy suite runs on when none is given: the WireGuard reference backend. */
export const DEFAULT_POLICY_BACKEND = '@rustynet/backend-wireguard';

/** Options the policy suite is created with. */
export interface PolicySuiteOptions extends SuiteOptions {
  /**
   * The backend underneath (package name or path), loaded at run time through the plugin host
   * exactly like the backend suite loads it. Default: env `RUSTYNET_KIT_POLICY_BACKEND`, else
   * {@link DEFAULT_POLICY_BACKEND}. A package name that does not resolve from `cwd` is resolved
   * from the kit's own location.
   */
  backend?: string;
  /** Options of the backend plugin. */
  backendOptions?: Record<string, unknown>;
}

/**
 * A policy input whose rules are of type `R`: {@link PolicyInput} when `R` is `AclRule`; with
 * `unknown` rules it carries the hostile input of the bad-input tests (the plugin host passes it
 * on as JSON, exactly like any other input).
 */
export type PolicyInputOf<R> = Omit<PolicyInput, 'acl'> & { acl: { rules: R[] } };

/** TCP ports served by the echo server on the protected host a. */
export const POLICY_TCP_PORTS = [22, 80, 8080, 8081, 8082, 8443, 9000] as const;
/** UDP ports served by the echo server on the protected host a. */
export const POLICY_UDP_PORTS = [53, 5000, 5001, 5002, 6000] as const;
/** Tags of the suite's nodes (ACL selectors `tag:<tag>`). */
export const NODE_TAGS: Record<NodeName, string[]> = { a: ['server'], b: ['ops'], c: ['dev'], d: [] };

const ECHO_PATH = fileURLToPath(new URL('./echo-server.js', import.meta.url));
const KIT_DIR = fileURLToPath(new URL('../../../../', import.meta.url));

/** One policy plugin host and whether its instance runs. */
export interface PolicyNode {
  name: NodeName;
  host: TestHost;
  plugin: PluginHost;
  logFile: string;
  running: boolean;
}

/**
 * Where a backend package name resolves from: `cwd` when a `node_modules/<name>` exists in it or
 * a parent, else the kit's own directory (the kit's workspace holds the reference backends).
 */
function backendCwd(spec: string, cwd: string): string {
  if (spec.startsWith('.') || spec.startsWith('/')) return cwd;
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules', spec))) return cwd;
    if (dirname(d) === d) break;
  }
  return KIT_DIR;
}

/**
 * Shared state of one policy suite run. Underneath: a {@link BackendFixture} (hosts a, b, c, d in
 * namespaces; mesh a<->b, a<->c over the real backend loaded by package name at run time). On
 * top: the policy plugin in its own plugin host in a's namespace (the protected node, tags
 * `server`), peers b (`ops`) and c (`dev`) send real TCP/UDP/ICMP to a dual-stack echo server on
 * a. Fresh policy instances on d serve the state tests.
 */
export class PolicyFixture extends SuiteFixture<PolicySuiteOptions, NodeName> {
  readonly backend: BackendFixture;
  manifest!: PluginManifest;
  caps!: PolicyCapabilities;
  /** The policy instance on a (the protected node). */
  a!: PolicyNode;
  /** `nft -s list ruleset` in a's namespace before the policy plugin ever started there. */
  baselineRuleset!: string;
  private echo: ResultPromise | undefined;
  private dStarted = false;

  constructor(opts: PolicySuiteOptions) {
    super(opts, 'policy');
    const spec = opts.backend ?? process.env['RUSTYNET_KIT_POLICY_BACKEND'] ?? DEFAULT_POLICY_BACKEND;
    this.backend = new BackendFixture({
      plugin: spec,
      cwd: backendCwd(spec, this.cwd),
      ...(opts.backendOptions && { options: opts.backendOptions }),
      timeoutMultiplier: opts.timeoutMultiplier ?? 1,
      ...(opts.seed !== undefined && { seed: opts.seed }),
      profile: opts.profile ?? 'full',
    });
  }

  protected testNetwork(): TestNetwork {
    return this.backend.net;
  }

  /** True when both the policy plugin and the backend claim IPv6. */
  get ipv6(): boolean {
    return this.caps.ipv6 && this.backend.caps.ipv6;
  }

  /** Builds the network, the backend mesh, the echo server and the policy host on a (once, see {@link ready}). */
  protected async build(): Promise<void> {
    await this.backend.ready();
    this.makeWorkDir('policy');
    const a = this.backend.nodes.a;
    const dir = join(this.workDir, 'a');
    const [plugin] = await Promise.all([this.startHost(a.host, dir, `policy@${a.host.name}`), this.backend.mesh(), this.startEcho(a.host)]);
    this.a = { name: 'a', host: a.host, plugin, logFile: join(dir, 'host.log'), running: false };
    this.manifest = plugin.loaded.manifest;
    this.caps = this.manifest.capabilities as PolicyCapabilities;
    this.baselineRuleset = await this.ruleset(a.host);
    this.dirty = false;
  }

  private async startEcho(host: TestHost): Promise<void> {
    const child = host.spawn(process.execPath, [ECHO_PATH, POLICY_TCP_PORTS.join(','), POLICY_UDP_PORTS.join(',')], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
    });
    this.echo = child;
    await new Promise<void>((res, rej) => {
      let out = '';
      const timer = setTimeout(() => rej(new Error(`echo server did not start in ${host.netns}: ${out}`)), 10_000);
      const on = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('ready')) {
          clearTimeout(timer);
          res();
        }
      };
      child.stdout?.on('data', on);
      child.stderr?.on('data', on);
      void Promise.resolve(child).then(() => {
        clearTimeout(timer);
        rej(new Error(`echo server exited in ${host.netns}: ${out}`));
      });
    });
  }

  /** The backend node `name`. */
  node(name: NodeName): SuiteNode {
    return this.backend.nodes[name];
  }

  /**
   * The tunnel interfaces the backend on `name` reports (what the daemon passes to the policy).
   * A backend with one device per peer reports none while it has no peers (d in the state
   * tests): then the start config's interface name stands in, so the input stays valid.
   */
  async interfaces(name: NodeName): Promise<string[]> {
    const n = this.backend.nodes[name];
    const st = await this.backend.stats(n);
    return st.interfaces.length > 0 ? st.interfaces : [n.ifname];
  }

  /** Starts the backend on d (no peers) once, for policy instances on d. */
  async backendOnD(): Promise<void> {
    if (this.dStarted && this.backend.nodes.d.running) return;
    await this.backend.stop(this.backend.nodes.d).catch(() => undefined);
    await this.backend.start(this.backend.nodes.d);
    this.dStarted = true;
  }

  /** The netmap nodes as the policy sees them: a, b, c, d with their overlay addresses and tags. */
  policyNodes(): PolicyInput['nodes'] {
    return (['a', 'b', 'c', 'd'] as NodeName[]).map((n) => {
      const s = this.backend.nodes[n];
      return { id: n, addresses: this.ipv6 ? [`${s.ip4}/32`, `${s.ip6}/128`] : [`${s.ip4}/32`], tags: NODE_TAGS[n] };
    });
  }

  /** A policy input for node `self` with `rules`, on the backend's interfaces of `self`. */
  async input<R = AclRule>(rules: R[], self: NodeName = 'a'): Promise<PolicyInputOf<R>> {
    return { self, nodes: this.policyNodes(), acl: { rules }, interfaces: await this.interfaces(self) };
  }

  /**
   * Ensures the mesh is up and the policy on a is started (rebuilding the mesh after a failed
   * test). Does not apply anything.
   */
  async protectedNode(): Promise<PolicyNode> {
    await this.ready();
    if (this.dirty) this.backend.dirty = true;
    await this.backend.mesh();
    if (!this.a.running) await this.start(this.a.plugin).then(() => void (this.a.running = true));
    this.dirty = false;
    return this.a;
  }

  // ---- typed calls ------------------------------------------------------------------------
  start(p: PluginHost): Promise<void> {
    return p.call<void>('start', [], this.ms(30_000));
  }
  stop(p: PluginHost): Promise<void> {
    return p.call<void>('stop', [], this.ms(30_000)).then(() => {
      if (p === this.a?.plugin) this.a.running = false;
    });
  }
  apply(p: PluginHost, input: PolicyInputOf<unknown>): Promise<void> {
    return p.call<void>('apply', [input], this.ms(30_000));
  }
  validate(p: PluginHost, input: PolicyInputOf<unknown>): Promise<void> {
    return p.call<void>('validate', [input], this.ms(10_000));
  }
  explain(p: PluginHost, input: PolicyInput, flow: FlowQuery): Promise<PolicyDecision> {
    return p.call<PolicyDecision>('explain', [input, flow], this.ms(10_000));
  }
  counters(p: PluginHost): Promise<RuleCounter[]> {
    return p.call<RuleCounter[]>('counters', [], this.ms(30_000));
  }

  /** `nft -s list ruleset` (stateless: no counter values) in `host`'s namespace. */
  async ruleset(host: TestHost): Promise<string> {
    const r = await host.exec('nft', ['-s', 'list', 'ruleset'], { reject: false });
    return r.stdout.trim();
  }

  /** Output tails, warnings, a's ruleset and the backend's diagnostics, for failure reports. */
  async diagnostics(): Promise<string> {
    if (!this.a) return this.backend.diagnostics();
    const parts: string[] = [];
    for (const p of [this.a.plugin, ...this.extraHosts]) {
      const tail = lastLines(p.outputTail(), 15);
      if (tail) parts.push(`--- policy plugin output (${p.label}, last lines) ---\n${tail}`);
    }
    const errLines = await logWarnings(this.a.logFile, 8);
    if (errLines) parts.push(`--- policy plugin warnings/errors on a ---\n${errLines}`);
    const rs = await this.ruleset(this.a.host).catch(() => '');
    parts.push(`--- nft -s list ruleset on a ---\n${rs.split('\n').slice(0, 80).join('\n')}`);
    parts.push(await this.backend.diagnostics());
    return parts.join('\n');
  }

  /** Stops and closes every policy host and the echo server. */
  protected async teardown(): Promise<void> {
    const hosts = [...(this.a ? [this.a.plugin] : []), ...this.extraHosts];
    await stopAll(hosts, 15_000);
    await closeAll(hosts);
    if (this.echo && this.echo.exitCode === null) this.echo.kill('SIGTERM');
  }

  /** Tears down the policy hosts (when built), then disposes the backend fixture (and the network). Idempotent. */
  override async dispose(): Promise<void> {
    await super.dispose();
    await this.backend.dispose();
  }
}
