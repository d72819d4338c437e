/**
 * {@link TestNetwork}: hosts in network namespaces joined by a bridge in a switch namespace, with
 * everything created tracked and removed. The host, agent, capture, fault and namespace helpers
 * live in their own modules and are re-exported here.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { HARNESS_PREFIX, RUN_DIR, UNDERLAY_PREFIX, cleanStaleNetworks, killAndDeleteNetnsSync } from './netns.js';
import { TestHost } from './test-host.js';
import { ResourceTracker, runSyncQuiet } from './tracker.js';

export { HARNESS_PREFIX, RUN_DIR, UNDERLAY_PREFIX, cleanStaleNetworks } from './netns.js';
export { TestHost, type ExecOptions, type ExecResult, type PingOptions, type EchoServer, type Capture } from './test-host.js';

/** Options of {@link TestNetwork.create}. */
export interface TestNetworkOptions {
  /** Host names, or a count (names `h0`, `h1`, ...). At most 250 hosts. */
  hosts: string[] | number;
  /**
   * Name prefix of this run's namespaces; default `rnt-<4 random hex>`. Namespaces are named
   * `<prefix>-<host>` and `<prefix>-sw` (the switch).
   */
  prefix?: string;
}

/**
 * A set of hosts, each in its own network namespace, joined by a bridge in a switch
 * namespace: the underlay `198.18.0.0/24`, host i at `198.18.0.<i+1>` on `eth0`.
 * Nothing is created in the root namespace: veth pairs are created inside the switch
 * namespace with their peer end placed directly into the host namespace.
 *
 * Everything created is recorded by a {@link ResourceTracker} and removed by
 * {@link destroy}, on process exit, on SIGINT/SIGTERM/SIGHUP, and by the next run's pre-clean
 * if this process died hard.
 */
export class TestNetwork {
  readonly tracker = new ResourceTracker();
  readonly hosts: TestHost[] = [];
  /** Name of the switch namespace holding the bridge `br0`. */
  readonly switchNetns: string;
  /** Name of the nftables table the fault helpers use in each host namespace. */
  readonly faultTable = 'rnt_faults';
  private destroyed = false;

  private constructor(
    /** This run's prefix, e.g. `rnt-3fa1`. */
    readonly prefix: string,
    /** Random hex of this run (for building other unique names, e.g. interface names). */
    readonly runId: string,
  ) {
    this.switchNetns = `${prefix}-sw`;
  }

  /**
   * Creates the network. Removes stale namespaces of dead earlier runs first.
   * @throws Error when a namespace or link cannot be created (everything made so far is removed).
   */
  static async create(opts: TestNetworkOptions): Promise<TestNetwork> {
    const names = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `h${i}`) : [...opts.hosts];
    if (names.length < 1 || names.length > 250) throw new RangeError('hosts: 1..250 hosts');
    for (const n of names) if (!/^[a-z0-9][a-z0-9-]{0,15}$/.test(n) || n === 'sw') throw new RangeError(`hosts: bad host name ${n}`);
    if (new Set(names).size !== names.length) throw new RangeError('hosts: duplicate host name');
    cleanStaleNetworks();
    const existing = runSyncQuiet('ip', ['netns', 'list']).stdout;
    let runId = randomBytes(2).toString('hex');
    // re-roll on a collision with a live run (its namespaces or its owner file)
    for (
      let i = 0;
      i < 20 && (existing.includes(`${HARNESS_PREFIX}-${runId}-`) || existsSync(join(RUN_DIR, `${HARNESS_PREFIX}-${runId}.pid`)));
      i++
    ) {
      runId = randomBytes(2).toString('hex');
    }
    const prefix = opts.prefix ?? `${HARNESS_PREFIX}-${runId}`;
    const net = new TestNetwork(prefix, runId);
    try {
      mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
      const pidFile = join(RUN_DIR, `${prefix}.pid`);
      writeFileSync(pidFile, String(process.pid));
      net.tracker.track('file', pidFile, () => rmSync(pidFile, { force: true }));
      await net.addNetns(net.switchNetns);
      const swBatch = ['link set lo up', 'link add br0 type bridge', 'link set br0 up'];
      const hostNs = names.map((n) => `${prefix}-${n}`);
      await Promise.all(hostNs.map((ns) => net.addNetns(ns)));
      names.forEach((n, i) => {
        swBatch.push(`link add p${i} type veth peer name eth0 netns ${hostNs[i]}`, `link set p${i} master br0`, `link set p${i} up`);
      });
      await execa('ip', ['-n', net.switchNetns, '-batch', '-'], { input: swBatch.join('\n') + '\n' });
      await Promise.all(
        names.map(async (n, i) => {
          const ns = hostNs[i];
          const addr = `${UNDERLAY_PREFIX}.${i + 1}`;
          await execa('ip', ['-n', ns, '-batch', '-'], { input: `link set lo up\naddr add ${addr}/24 dev eth0\nlink set eth0 up\n` });
          net.hosts.push(new TestHost(n, i, ns, addr, net));
        }),
      );
      net.hosts.sort((a, b) => a.index - b.index);
      return net;
    } catch (err) {
      net.tracker.cleanupSync();
      throw err;
    }
  }

  private async addNetns(ns: string): Promise<void> {
    await execa('ip', ['netns', 'add', ns]);
    this.tracker.track('netns', ns, () => killAndDeleteNetnsSync(ns));
  }

  /** The host named `name`. @throws Error if there is none. */
  host(name: string): TestHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in test network ${this.prefix}`);
    return h;
  }

  /** Namespaces of this network (hosts and switch). */
  get namespaces(): string[] {
    return [...this.hosts.map((h) => h.netns), this.switchNetns];
  }

  /**
   * Removes every namespace, process and file of this network, in reverse order of creation.
   * Idempotent; never throws (errors are collected in `tracker.errors`).
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.hosts.map((h) => h.closeAgent().catch(() => undefined)));
    this.tracker.cleanupSync();
  }
}
