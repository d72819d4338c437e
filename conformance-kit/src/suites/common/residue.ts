/**
 * Residue after every test: the kit snapshots a namespace before the first `start()` of the plugin
 * there, and once a test has ended with no instance of the plugin running in that namespace
 * (every instance stopped, failed to start, or its host died), compares a new snapshot with it.
 * Whatever is new is residue, and fails the test that left it. Works for every suite kind: the
 * plugin hosts report their `start` and `stop` calls through {@link LifecycleObserver}.
 */
import type { TestHost } from '../../harness/test-host.js';
import { snapshotNamespace, snapshotNews, walk, type Snapshot } from './snapshot.js';

/** The part of a plugin host the watcher needs. */
export interface WatchedHost {
  readonly label: string;
  readonly pid: number | undefined;
  /** The test host whose namespace the plugin runs in (none: not watched). */
  readonly testHost: TestHost | undefined;
  /** The plugin's state directory (once loaded). */
  stateDir(): string | undefined;
}

/** Receives the lifecycle of plugin hosts (see `PluginHostOptions.observer`). */
export interface LifecycleObserver {
  /** Before a `start` call (with its arguments) is sent. */
  beforeStart(h: WatchedHost, args: readonly unknown[]): Promise<void>;
  /** A `start` or `stop` call settled; `running` is whether the instance now runs. */
  settled(h: WatchedHost, running: boolean): void;
  /** The host process exited. */
  exited(h: WatchedHost): void;
}

interface NsState {
  host: TestHost;
  hosts: Set<WatchedHost>;
  running: Set<WatchedHost>;
  names: Set<string>;
  /** State directories of every instance seen here, dead ones included. */
  stateDirs: Set<string>;
  baseline?: Snapshot;
}

/** Watches plugin hosts and finds what they left behind (see the module comment). */
export class ResidueWatcher implements LifecycleObserver {
  private readonly ns = new Map<string, NsState>();

  /** @param ignoreDirs - directories never counted (key directories the kit made). */
  constructor(private readonly ignoreDirs: () => readonly string[] = () => []) {}

  private state(h: WatchedHost): NsState | undefined {
    const host = h.testHost;
    if (!host) return undefined;
    let s = this.ns.get(host.netns);
    if (!s) {
      s = { host, hosts: new Set(), running: new Set(), names: new Set(), stateDirs: new Set() };
      this.ns.set(host.netns, s);
    }
    s.hosts.add(h);
    return s;
  }

  /** A snapshot of `netns` as it is now (the kit's helpers and live plugin hosts excluded). */
  async snapshot(netns: string): Promise<Snapshot | undefined> {
    const s = this.ns.get(netns);
    if (!s) return undefined;
    const live = [...s.hosts].map((h) => h.pid).filter((p): p is number => p !== undefined);
    return snapshotNamespace({
      netns,
      exec: (file, args) => s.host.exec(file, args, { reject: false }).then((r) => r.stdout),
      pluginHostPids: live,
      stateDirs: [...s.stateDirs],
      ignoreDirs: this.ignoreDirs(),
      names: [...s.names],
    });
  }

  async beforeStart(h: WatchedHost, args: readonly unknown[]): Promise<void> {
    const s = this.state(h);
    if (!s) return;
    const dir = h.stateDir();
    if (dir !== undefined && !s.stateDirs.has(dir)) {
      s.stateDirs.add(dir);
      // what a new instance's directory already holds is not its residue
      if (s.baseline) s.baseline['stateFiles'] = [...(s.baseline['stateFiles'] ?? []), ...(await walk(dir))];
    }
    const cfg = args[0];
    if (typeof cfg === 'object' && cfg !== null) {
      const ifname: unknown = Reflect.get(cfg, 'interfaceName');
      if (typeof ifname === 'string' && ifname.length >= 4) s.names.add(ifname);
    }
    if (s.running.size === 0 && !s.baseline) {
      const baseline = await this.snapshot(s.host.netns);
      if (baseline) s.baseline = baseline;
    }
  }

  settled(h: WatchedHost, running: boolean): void {
    const s = this.state(h);
    if (!s) return;
    if (running) s.running.add(h);
    else s.running.delete(h);
  }

  exited(h: WatchedHost): void {
    for (const s of this.ns.values()) {
      s.running.delete(h);
      s.hosts.delete(h);
    }
  }

  /**
   * Forgets the baseline of `netns`, so its next start takes a new one (a test calls this after
   * stopping every instance there, to be judged against the namespace as it is now).
   */
  forget(netns: string): void {
    const s = this.ns.get(netns);
    if (s) delete s.baseline;
  }

  /** Forgets every baseline (after a failed test: its leftovers are not the next test's). */
  reset(): void {
    for (const s of this.ns.values()) delete s.baseline;
  }

  /**
   * Compares every namespace that has a baseline and no running instance with its baseline,
   * retrying for up to `settleMs` while processes exit; forgets those baselines.
   * @returns the residue per host name (empty when nothing was left).
   */
  async check(settleMs = 2000): Promise<Record<string, Snapshot>> {
    const out: Record<string, Snapshot> = {};
    const due = [...this.ns.entries()].filter(([, s]) => s.baseline && s.running.size === 0);
    await Promise.all(
      due.map(async ([netns, s]) => {
        const before = s.baseline ?? {};
        delete s.baseline;
        const until = Date.now() + settleMs;
        for (;;) {
          const news = snapshotNews(before, (await this.snapshot(netns)) ?? {});
          if (Object.keys(news).length === 0) return;
          if (Date.now() >= until) {
            out[s.host.name] = news;
            return;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      }),
    );
    return out;
  }
}
