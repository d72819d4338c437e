/**
 * The setup shared by every suite (the kit's `TestSetup`): one fixture base class holding the
 * options, the deadline multiplier, lazy build, the work directory, plugin hosts for the plugin
 * under test (in any host's namespace, tracked for cleanup) and idempotent disposal. Each
 * suite's fixture extends it with its network layout and typed calls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginKind } from '@rustynet/plugin-api';
import type { TestHost, TestNetwork } from '../../harness/test-network.js';
import { PluginHost } from '../../host/plugin-host-client.js';
import type { FixtureBase } from '../define.js';
import type { SuiteOptions } from './options.js';
import { LogKeeper } from './keep-logs.js';
import { ResidueWatcher } from './residue.js';
import type { Snapshot } from './snapshot.js';

/** How long a failed test's calls still in flight get to settle before the next test, in ms (multiplied). */
const CALL_SETTLE_MS = 35_000;

/**
 * Base of the four suite fixtures. Built lazily on first {@link ready} (by the suite's
 * {@link build}); {@link dispose} tears down only what was built, once.
 *
 * @typeParam O - the suite's options.
 * @typeParam N - the host names {@link freshInstance} accepts.
 */
export abstract class SuiteFixture<O extends SuiteOptions = SuiteOptions, N extends string = string> implements FixtureBase {
  /** Where package names resolve from and relative paths start. */
  readonly cwd: string;
  /** Set when a test failed or left shared state changed: the next test rebuilds it. */
  dirty = true;
  /** This run's temporary directory (state, logs, keys), removed with the network. */
  workDir!: string;
  /** Snapshots namespaces before a start and finds what a test left after its stops. */
  readonly residue = new ResidueWatcher(() => this.residueIgnoreDirs());
  /** Every plugin host {@link startHost} made (for `--keep-logs`). */
  private readonly allHosts: PluginHost[] = [];
  private readonly logKeeper: LogKeeper | undefined;
  /** Plugin hosts made by {@link freshInstance}, closed by {@link dispose}. */
  protected readonly extraHosts: PluginHost[] = [];
  private readyP: Promise<void> | undefined;
  private disposed = false;

  /**
   * @param opts - the suite's options.
   * @param kind - the plugin kind under test (the loader refuses another kind).
   */
  constructor(
    readonly opts: O,
    protected readonly kind: PluginKind,
  ) {
    this.cwd = opts.cwd ?? process.cwd();
    this.logKeeper = opts.keepLogs !== undefined ? new LogKeeper(opts.keepLogs) : undefined;
  }

  /** With `--keep-logs`: writes what every plugin host did during test `testId` (see `LogKeeper`). */
  async keepLogs(testId: string): Promise<void> {
    await this.logKeeper?.save(testId, this.allHosts);
  }

  /** Multiplied deadline: `base` ms times the timeout multiplier. */
  ms(base: number): number {
    return Math.round(base * (this.opts.timeoutMultiplier ?? 1));
  }

  /** Builds the suite's network and plugin hosts once; later calls return the same promise. */
  ready(): Promise<void> {
    this.readyP ??= this.build();
    return this.readyP;
  }

  /** Builds what the suite's tests share (called once, by {@link ready}). */
  protected abstract build(): Promise<void>;

  /** The test network the plugin hosts run in (valid once {@link build} created it). */
  protected abstract testNetwork(): TestNetwork;

  /** Stops and closes what {@link build} made; called by {@link dispose} only after a build. */
  protected abstract teardown(): Promise<void>;

  /** Output tails, warnings and state of the plugin hosts, for failure reports. */
  abstract diagnostics(): Promise<string>;

  /** Creates {@link workDir} as `<tmp>/<run prefix>-<tag>-XXXXXX`, removed with the network. */
  protected makeWorkDir(tag: string): string {
    const net = this.testNetwork();
    const wd = mkdtempSync(join(tmpdir(), `${net.prefix}-${tag}-`));
    net.tracker.track('file', wd, () => rmSync(wd, { recursive: true, force: true }));
    this.workDir = wd;
    return wd;
  }

  /**
   * Starts a plugin host for the plugin under test in `host`'s namespace, with its state in
   * `<dir>/state` and its log in `<dir>/host.log`, tracked for cleanup by the network.
   * @param label - name in reports; default the host's name.
   */
  async startHost(host: TestHost, dir: string, label?: string): Promise<PluginHost> {
    const h = await PluginHost.start({
      host,
      spec: this.opts.plugin,
      cwd: this.cwd,
      stateDir: join(dir, 'state'),
      logFile: join(dir, 'host.log'),
      expectKind: this.kind,
      ...(label !== undefined && { label }),
      ...(this.opts.options && { options: this.opts.options }),
      tracker: this.testNetwork().tracker,
      observer: this.residue,
    });
    this.allHosts.push(h);
    return h;
  }

  /** Directories the residue check never counts (e.g. key directories the kit asked for). */
  protected residueIgnoreDirs(): readonly string[] {
    return [];
  }

  /**
   * Called after every test: when it passed, the residue of every namespace where the test left
   * no instance running (see `ResidueWatcher`); when it failed, the plugin calls it left in
   * flight settle first (see `PluginHost.idle`) and baselines are forgotten.
   * @returns residue per host name; empty when none.
   */
  async afterTest(passed: boolean): Promise<Record<string, Snapshot>> {
    if (!passed) {
      // A failed test may have left calls running (siblings of the one that failed): let them
      // settle before the next test, so their effects (a late start, a late apply) are not
      // blamed on it. Bounded by the longest plugin call deadline.
      await Promise.all(this.allHosts.map((h) => h.idle(this.ms(CALL_SETTLE_MS))));
      this.residue.reset();
      return {};
    }
    return this.residue.check();
  }

  /** A new, never-started instance of the plugin in `name`'s namespace (closed by {@link dispose}). */
  async freshInstance(name: N): Promise<PluginHost> {
    const host = this.testNetwork().host(name);
    const h = await this.startHost(host, this.freshDir(name, this.extraHosts.length), this.freshLabel(host));
    this.extraHosts.push(h);
    return h;
  }

  /** Directory of the `n`th fresh instance (on host `name`). */
  protected freshDir(name: N, n: number): string {
    return join(this.workDir, `${name}-fresh-${n}`);
  }

  /** Report label of a fresh instance on `host`: `<kind>@<host>`. */
  protected freshLabel(host: TestHost): string | undefined {
    return `${this.kind}@${host.name}`;
  }

  /** Tears down what was built (see {@link teardown}). Idempotent; safe before any build. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.readyP) return;
    await this.readyP.catch(() => undefined);
    await this.teardown();
  }
}

/** Calls `stop()` on every host (errors ignored, each bounded by `timeoutMs`). */
export async function stopAll(hosts: readonly PluginHost[], timeoutMs: number): Promise<void> {
  await Promise.all(hosts.map((h) => h.call('stop', [], timeoutMs).catch(() => undefined)));
}

/** Closes every plugin host. */
export async function closeAll(hosts: readonly PluginHost[]): Promise<void> {
  await Promise.all(hosts.map((h) => h.close()));
}
