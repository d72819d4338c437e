/**
 * The WireGuard backend: one WireGuard device per instance, peers known by node id, driven by
 * `wg` and `ip` through the host's CommandRunner. State checks, call serialisation and
 * abort/deadline mapping come from plugin-kit's {@link BackendBase}; this class does the work.
 */
import {
  RustynetError,
  formatEndpoint,
  invalidInput,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type Endpoint,
  type Logger,
  type NodeId,
  type PeerBatch,
  type PeerConfig,
  type PluginContext,
  type RouteChange,
} from '@rustynet/plugin-api';
import { BackendBase, cidrContains, type CallScope } from '@rustynet/plugin-kit';
import { CAPABILITIES } from './capabilities.js';
import { createDevice, destroyDevice, exitedDuringSetup, linkExists, type Device } from './device.js';
import { removeDeviceRecord, replaceStaleDevice, writeDeviceRecord } from './stale-device.js';
import { privateKeyPath, readPublicKey, writeKeyPair } from './keys.js';
import { parseOptions, type WireguardOptions } from './options.js';
import { applyRouteChange, removeAllRoutes } from './route-apply.js';
import { CLEANUP_TIMEOUT_MS, type BackendDeps, type RunningState } from './running-state.js';
import { readStats } from './stats.js';
import { Tools } from './tools.js';
import {
  updatePeerIndex,
  validateEndpoint,
  validatePeerBatch,
  validateRouteChange,
  validateStartConfig,
  type ValidRoute,
  type ValidStartConfig,
} from './validate.js';
import { packWgSet, planClauses, rollbackClauses } from './wg-commands.js';

/**
 * The WireGuard backend plugin. Calls are serialised: one runs at a time, in call order.
 *
 * Errors: see `BackendPlugin`; tool failures are `BACKEND_FAILED` with `details.command`,
 * `details.exitCode` and `details.stderr`.
 */
export class WireguardBackend extends BackendBase<RunningState> {
  private readonly options: WireguardOptions;
  private readonly logger: Logger;
  private readonly tools: Tools;
  private readonly deps: BackendDeps;

  constructor(private readonly context: PluginContext) {
    super({ clock: context.clock, label: 'the WireGuard backend' });
    this.options = parseOptions(context.options);
    this.logger = context.logger;
    this.tools = new Tools(context.runner, this.options, this.logger);
    this.deps = {
      tools: this.tools,
      options: this.options,
      logger: this.logger,
      cleanupScope: () => this.cleanupScope(CLEANUP_TIMEOUT_MS),
    };
  }

  /** Number of `wg`/`ip` processes this instance has run (diagnostics). */
  get commandCount(): number {
    return this.tools.invocations;
  }

  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** @see writeKeyPair */
  protected override async _generateKeyPair(directory: string): Promise<BackendKeyPair> {
    if (typeof directory !== 'string' || directory.length === 0) throw invalidInput('directory', 'must be a directory path');
    const pair = await writeKeyPair(directory);
    this.logger.info({ directory, publicKey: pair.publicKey }, 'generated WireGuard key pair');
    return pair;
  }

  /** @see readPublicKey */
  protected override async _publicKey(directory: string): Promise<string> {
    if (typeof directory !== 'string' || directory.length === 0) throw invalidInput('directory', 'must be a directory path');
    return readPublicKey(directory);
  }

  protected override async _start(config: BackendStartConfig, scope: CallScope): Promise<RunningState> {
    const cfg = validateStartConfig(config);
    const publicKey = await readPublicKey(cfg.keyDirectory);
    // A device of our name left by a crashed instance (ours by its record) is replaced, with its
    // orphaned wireguard-go; anything else of that name is refused.
    await replaceStaleDevice(this.tools, this.context.state.dir, cfg.interfaceName, scope, this.logger);
    const device = await this.bringUp(cfg, scope);
    await writeDeviceRecord(
      this.context.state.dir,
      {
        interfaceName: cfg.interfaceName,
        nodeId: cfg.nodeId,
        kind: device.kind,
        pid: device.process?.pid ?? null,
        startedAt: new Date(this.context.clock.now()).toISOString(),
      },
      this.logger,
    );
    this.watchDevice(device, config.onFault);
    this.logger.info(
      {
        interfaceName: cfg.interfaceName,
        device: device.kind,
        listenPort: cfg.listenPort,
        addresses: cfg.addresses,
        mtu: cfg.mtu,
        publicKey,
      },
      'WireGuard backend started',
    );
    return {
      config: cfg,
      device,
      publicKey,
      peers: new Map(),
      index: { byKey: new Map(), byPrefix: new Map(), prefixesOf: new Map() },
      routes: new Map(),
      exitRoutes: new Map(),
      fwmarkSet: false,
    };
  }

  /**
   * Creates the device and gives it its key, port, addresses and MTU. wireguard-go can die after
   * its control socket appeared and before it serves it (the socket file removed under it, which
   * it watches): the first `wg set` then fails. That start is tried once more; any other failure,
   * or a second one, throws with nothing left behind.
   */
  private async bringUp(cfg: ValidStartConfig, scope: CallScope): Promise<Device> {
    for (let attempt = 1; ; attempt++) {
      let device: Device;
      try {
        device = await createDevice(this.tools, this.options, cfg.interfaceName, scope, this.logger);
      } catch (err) {
        // An abort can land after the kernel made the link but before `ip` exited: do not leave it.
        const cleanup = this.deps.cleanupScope();
        if (await linkExists(this.tools, cfg.interfaceName, cleanup).catch(() => false)) {
          await this.tools.ip(['link', 'del', 'dev', cfg.interfaceName], cleanup, { reject: false }).catch(() => undefined);
        }
        throw err;
      }
      try {
        await this.tools.wg(
          ['set', cfg.interfaceName, 'listen-port', String(cfg.listenPort), 'private-key', privateKeyPath(cfg.keyDirectory)],
          scope,
        );
        const lines = [
          ...cfg.addresses.map((a) => `address add ${a} dev ${cfg.interfaceName}`),
          `link set dev ${cfg.interfaceName} mtu ${cfg.mtu} up`,
        ];
        await this.tools.ip(['-batch', '-'], scope, { input: lines.map((l) => `${l}\n`).join('') });
        return device;
      } catch (err) {
        const died = await exitedDuringSetup(device, 1000);
        const problems = await destroyDevice(this.tools, device, this.deps.cleanupScope(), this.logger).catch((e: unknown) => [String(e)]);
        if (problems.length > 0) this.logger.error({ problems }, 'cleanup after failed start was incomplete');
        if (!died) throw err;
        const output = device.process?.outputTail().slice(-4096) ?? '';
        if (attempt >= 2) {
          throw new RustynetError('BACKEND_FAILED', `wireguard-go of ${cfg.interfaceName} exited during setup twice: ${lastLine(output)}`, {
            details: { command: this.options.wireguardGoPath, exitCode: device.exited?.exitCode ?? null, output },
          });
        }
        this.logger.warn(
          { interfaceName: cfg.interfaceName, exitCode: device.exited?.exitCode ?? null, output: lastLine(output) },
          'wireguard-go exited during setup; starting it once more',
        );
      }
    }
  }

  /**
   * Removes routes, rules and the device. A thrown `TIMEOUT`/`ABORTED` keeps the instance running
   * for a retry; anything left behind otherwise is returned as `BACKEND_FAILED`, and the instance
   * counts as stopped.
   */
  protected override async _stop(st: RunningState, scope: CallScope): Promise<RustynetError | undefined> {
    const ifname = st.config.interfaceName;
    await removeAllRoutes(this.deps, st, scope);
    const problems = await destroyDevice(this.tools, st.device, scope, this.logger);
    if (problems.length === 0) await removeDeviceRecord(this.context.state.dir, ifname);
    if (problems.length > 0) {
      this.logger.error({ interfaceName: ifname, problems }, 'WireGuard backend stopped with problems');
      return new RustynetError('BACKEND_FAILED', `stop of ${ifname} incomplete: ${problems.join('; ')}`, { details: { problems } });
    }
    this.logger.info({ interfaceName: ifname }, 'WireGuard backend stopped');
    return undefined;
  }

  protected override async _applyPeers(st: RunningState, batch: PeerBatch, scope: CallScope): Promise<void> {
    const plan = validatePeerBatch(batch, st.peers, st.publicKey, st.index);
    const clauses = planClauses(plan);
    if (clauses.length === 0) return;
    const commands = packWgSet(st.config.interfaceName, clauses);
    try {
      for (const args of commands) await this.tools.wg(args, scope);
    } catch (err) {
      await this.rollback(st, plan);
      throw err;
    }
    for (const r of plan.removals) st.peers.delete(r.id);
    for (const u of plan.upserts) st.peers.set(u.config.id, u.config);
    updatePeerIndex(st.index, plan);
    // Only routes of peers whose allowed IPs changed can have become unrouted. Routes of peers
    // removed here are not checked: the daemon removes peers before their routes.
    const changed = new Set(plan.upserts.filter((u) => u.previous && !sameAllowedIps(u.previous, u.config)).map((u) => u.config.id));
    if (changed.size > 0)
      this.warnUnroutedRoutes(
        st,
        [...st.routes.values(), ...st.exitRoutes.values()].filter((r) => changed.has(r.peer)),
      );
    this.logger.info(
      { upserted: plan.upserts.length, removed: plan.removals.length, peers: st.peers.size, wgCalls: commands.length },
      'applied peer batch',
    );
  }

  protected override async _updatePeerEndpoint(st: RunningState, peer: NodeId, endpoint: Endpoint, scope: CallScope): Promise<void> {
    if (typeof peer !== 'string') throw invalidInput('peer', 'must be a node id');
    const ep = validateEndpoint(endpoint, 'endpoint');
    const cfg = st.peers.get(peer);
    if (!cfg) throw new RustynetError('UNKNOWN_PEER', `peer: no peer ${peer}`, { field: 'peer', details: { peer } });
    const [args] = packWgSet(st.config.interfaceName, [['peer', cfg.publicKey, 'endpoint', formatEndpoint(ep)]]);
    if (args) await this.tools.wg(args, scope);
    cfg.endpoint = ep;
    this.logger.info({ peer, endpoint: formatEndpoint(ep) }, 'updated peer endpoint');
  }

  protected override async _applyRoutes(st: RunningState, change: RouteChange, scope: CallScope): Promise<void> {
    const v = validateRouteChange(change, st.peers);
    const removed = await applyRouteChange(this.deps, st, v, scope);
    this.warnUnroutedRoutes(st, v.add);
    this.logger.info({ added: v.add.length, removed, routes: st.routes.size + st.exitRoutes.size }, 'applied route change');
  }

  protected override _stats(st: RunningState, scope: CallScope): Promise<BackendRuntimeStats> {
    return readStats(this.tools, st, this.context.clock.now(), scope);
  }

  /**
   * Reports an exit of wireguard-go that nobody asked for (kill -9, crash) through the host's
   * `onFault`: the device is gone with it, so the host must restore the data plane.
   */
  private watchDevice(device: Device, onFault: BackendStartConfig['onFault']): void {
    const proc = device.process;
    if (!proc) return;
    void proc.exited.then((e) => {
      if (device.stopping) return;
      const message = `wireguard-go (pid ${proc.pid}) of ${device.interfaceName} exited (code ${e.exitCode}, signal ${e.signal})`;
      this.logger.error({ interfaceName: device.interfaceName, pid: proc.pid, exitCode: e.exitCode, signal: e.signal }, message);
      if (typeof onFault !== 'function') return;
      try {
        onFault({
          code: 'BACKEND_FAILED',
          message,
          details: { interfaceName: device.interfaceName, pid: proc.pid, exitCode: e.exitCode, signal: e.signal },
        });
      } catch (err) {
        this.logger.error({ err: String(err) }, 'the host fault callback threw');
      }
    });
  }

  /** Best effort after a failed `wg set`: put the peers touched by `plan` back as they were. */
  private async rollback(st: RunningState, plan: Parameters<typeof rollbackClauses>[0]): Promise<void> {
    const scope = this.deps.cleanupScope();
    try {
      for (const args of packWgSet(st.config.interfaceName, rollbackClauses(plan))) await this.tools.wg(args, scope);
      this.logger.warn({ peers: plan.upserts.length + plan.removals.length }, 'peer batch failed; restored the previous peers');
    } catch (err) {
      this.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'peer batch failed and the rollback failed too');
    }
  }

  /**
   * Logs each of `routes` whose destination no allowed IP of its peer covers (WireGuard would
   * drop that traffic). Uses the parsed allowed IPs kept in the peer index: no parsing.
   */
  private warnUnroutedRoutes(st: RunningState, routes: Iterable<ValidRoute>): void {
    for (const r of routes) {
      const prefixes = st.index.prefixesOf.get(r.peer);
      // a covering route (routesByAllowedIps) contains its peer's allowed IPs instead
      const covered = prefixes?.some((a) => cidrContains(a, r.parsed) || cidrContains(r.parsed, a)) ?? false;
      if (!covered)
        this.logger.warn({ destination: r.destination, peer: r.peer }, 'route destination is not within the allowed IPs of its peer');
    }
  }
}

/** True when two configs have the same allowed IPs (as a set). */
function sameAllowedIps(a: PeerConfig, b: PeerConfig): boolean {
  if (a.allowedIps.length !== b.allowedIps.length) return false;
  const set = new Set(a.allowedIps);
  return b.allowedIps.every((x) => set.has(x));
}

/** The last non-empty line of a process's output ('' when none). */
function lastLine(output: string): string {
  return output.trim().split('\n').pop()?.trim() ?? '';
}
