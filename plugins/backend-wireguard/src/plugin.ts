/**
 * The WireGuard backend: one WireGuard device per instance, peers known by node id, driven by
 * `wg` and `ip` through the host's CommandRunner.
 */
import {
  RustynetError,
  formatEndpoint,
  invalidInput,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendPlugin,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type CallOptions,
  type Endpoint,
  type Logger,
  type NodeId,
  type PeerBatch,
  type PeerConfig,
  type PeerStats,
  type PluginContext,
  type RouteChange,
} from '@rustynet/plugin-api';
import { CallScope } from './call.js';
import { CAPABILITIES } from './capabilities.js';
import { cidrKey, prefixContains } from './cidr.js';
import { createDevice, destroyDevice, linkExists, type Device } from './device.js';
import { privateKeyPath, readPublicKey, writeKeyPair } from './keys.js';
import { parseOptions, type WireguardOptions } from './options.js';
import { batchScript, exitRouteLines, failedBatchLines, routeOps } from './routes.js';
import { Tools } from './tools.js';
import {
  updatePeerIndex,
  validateEndpoint,
  validatePeerBatch,
  validateRouteChange,
  validateStartConfig,
  type PeerIndex,
  type ValidRoute,
  type ValidStartConfig,
} from './validate.js';
import { packWgSet, planClauses, rollbackClauses } from './wg-commands.js';
import { parseWgDump } from './wg-dump.js';

/**
 * A handshake older than this (WireGuard's REJECT_AFTER_TIME, 180 s) means the session is gone;
 * used for the `state` word in stats.
 */
const SESSION_LIFETIME_MS = 180_000;

/** Time allowed to clean up after a failed call, independent of the failed call's deadline. */
const CLEANUP_TIMEOUT_MS = 15_000;

interface RunningState {
  config: ValidStartConfig;
  device: Device;
  publicKey: string;
  peers: Map<NodeId, PeerConfig>;
  /** Key and allowed-IP indexes of `peers` (a batch is validated against them). */
  index: PeerIndex;
  /** Routes this backend installed in the main table, by prefix key. */
  routes: Map<string, ValidRoute>;
  /** Exit-node (default) routes installed with policy routing, by address family. */
  exitRoutes: Map<4 | 6, ValidRoute>;
  /** Whether `wg set <if> fwmark <table>` was done. */
  fwmarkSet: boolean;
}

/**
 * The WireGuard {@link BackendPlugin}. Calls are serialised: one runs at a time, in call order.
 *
 * Errors: see {@link BackendPlugin}; tool failures are `BACKEND_FAILED` with `details.command`,
 * `details.exitCode` and `details.stderr`.
 */
export class WireguardBackend implements BackendPlugin {
  readonly kind = 'backend' as const;
  private readonly options: WireguardOptions;
  private readonly logger: Logger;
  private readonly tools: Tools;
  private state: RunningState | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** @throws RustynetError `CONFIG_INVALID` for bad plugin options. */
  constructor(private readonly context: PluginContext) {
    this.options = parseOptions(context.options);
    this.logger = context.logger;
    this.tools = new Tools(context.runner, this.options, this.logger);
  }

  /** Number of `wg`/`ip` processes this instance has run (diagnostics). */
  get commandCount(): number {
    return this.tools.invocations;
  }

  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** @see writeKeyPair */
  async generateKeyPair(directory: string, options?: CallOptions): Promise<BackendKeyPair> {
    new CallScope(this.context.clock, options).check();
    if (typeof directory !== 'string' || directory.length === 0) throw invalidInput('directory', 'must be a directory path');
    const pair = await writeKeyPair(directory);
    this.logger.info({ directory, publicKey: pair.publicKey }, 'generated WireGuard key pair');
    return pair;
  }

  /** @see readPublicKey */
  async publicKey(directory: string, options?: CallOptions): Promise<string> {
    new CallScope(this.context.clock, options).check();
    if (typeof directory !== 'string' || directory.length === 0) throw invalidInput('directory', 'must be a directory path');
    return readPublicKey(directory);
  }

  start(config: BackendStartConfig, options?: CallOptions): Promise<void> {
    return this.serialize(async () => {
      if (this.state) {
        throw new RustynetError('ALREADY_RUNNING', `already running on ${this.state.config.interfaceName}`);
      }
      const cfg = validateStartConfig(config);
      const scope = new CallScope(this.context.clock, options);
      const publicKey = await readPublicKey(cfg.keyDirectory);
      if (await linkExists(this.tools, cfg.interfaceName, scope)) {
        throw new RustynetError('BACKEND_FAILED', `a network interface named ${cfg.interfaceName} exists already`, {
          field: 'interfaceName',
        });
      }
      let device: Device;
      try {
        device = await createDevice(this.tools, this.options, cfg.interfaceName, scope, this.logger);
      } catch (err) {
        // An abort can land after the kernel made the link but before `ip` exited: do not leave it.
        const cleanup = new CallScope(this.context.clock, { timeoutMs: CLEANUP_TIMEOUT_MS });
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
      } catch (err) {
        const cleanup = new CallScope(this.context.clock, { timeoutMs: CLEANUP_TIMEOUT_MS });
        const problems = await destroyDevice(this.tools, device, cleanup, this.logger).catch((e: unknown) => [String(e)]);
        if (problems.length > 0) this.logger.error({ problems }, 'cleanup after failed start was incomplete');
        throw err;
      }
      this.state = {
        config: cfg,
        device,
        publicKey,
        peers: new Map(),
        index: { byKey: new Map(), byPrefix: new Map(), prefixesOf: new Map() },
        routes: new Map(),
        exitRoutes: new Map(),
        fwmarkSet: false,
      };
      this.logger.info(
        { interfaceName: cfg.interfaceName, device: device.kind, listenPort: cfg.listenPort, addresses: cfg.addresses, mtu: cfg.mtu, publicKey },
        'WireGuard backend started',
      );
    });
  }

  stop(options?: CallOptions): Promise<void> {
    return this.serialize(async () => {
      const st = this.state;
      if (!st) return;
      const scope = new CallScope(this.context.clock, options);
      const problems: string[] = [];
      const ifname = st.config.interfaceName;
      for (const family of [...st.exitRoutes.keys()]) {
        // Policy rules outlive the link: remove them explicitly.
        const lines = exitRouteLines(ifname, this.options.exitNodeTable, 'del');
        const r = await this.tools.ip([`-${family}`, '-force', '-batch', '-'], scope, { input: lines.map((l) => `${l}\n`).join(''), reject: false });
        if (r.exitCode !== 0) this.logger.warn({ family, stderr: r.stderr.trim() }, 'some exit-node rules were gone already');
        st.exitRoutes.delete(family);
      }
      if (st.routes.size > 0) {
        const ops = routeOps(ifname, [], [...st.routes.values()], st.routes);
        const r = await this.tools.ip(['-force', '-batch', '-'], scope, { input: batchScript(ops), reject: false });
        if (r.exitCode !== 0) this.logger.debug({ stderr: r.stderr.trim() }, 'some routes were gone already');
      }
      problems.push(...(await destroyDevice(this.tools, st.device, scope, this.logger)));
      // Cleanup ran to its end (TIMEOUT/ABORTED would have thrown above and kept the state for a retry).
      this.state = undefined;
      if (problems.length > 0) {
        this.logger.error({ interfaceName: ifname, problems }, 'WireGuard backend stopped with problems');
        throw new RustynetError('BACKEND_FAILED', `stop of ${ifname} incomplete: ${problems.join('; ')}`, { details: { problems } });
      }
      this.logger.info({ interfaceName: ifname }, 'WireGuard backend stopped');
    });
  }

  applyPeers(batch: PeerBatch, options?: CallOptions): Promise<void> {
    return this.serialize(async () => {
      const st = this.requireRunning();
      const plan = validatePeerBatch(batch, st.peers, st.publicKey, st.index);
      const clauses = planClauses(plan);
      if (clauses.length === 0) return;
      const scope = new CallScope(this.context.clock, options);
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
      if (changed.size > 0) this.warnUnroutedRoutes(st, [...st.routes.values(), ...st.exitRoutes.values()].filter((r) => changed.has(r.peer)));
      this.logger.info(
        { upserted: plan.upserts.length, removed: plan.removals.length, peers: st.peers.size, wgCalls: commands.length },
        'applied peer batch',
      );
    });
  }

  updatePeerEndpoint(peer: NodeId, endpoint: Endpoint, options?: CallOptions): Promise<void> {
    return this.serialize(async () => {
      const st = this.requireRunning();
      if (typeof peer !== 'string') throw invalidInput('peer', 'must be a node id');
      const ep = validateEndpoint(endpoint, 'endpoint');
      const cfg = st.peers.get(peer);
      if (!cfg) throw new RustynetError('UNKNOWN_PEER', `peer: no peer ${peer}`, { field: 'peer', details: { peer } });
      const scope = new CallScope(this.context.clock, options);
      const [args] = packWgSet(st.config.interfaceName, [['peer', cfg.publicKey, 'endpoint', formatEndpoint(ep)]]);
      await this.tools.wg(args!, scope);
      cfg.endpoint = ep;
      this.logger.info({ peer, endpoint: formatEndpoint(ep) }, 'updated peer endpoint');
    });
  }

  applyRoutes(change: RouteChange, options?: CallOptions): Promise<void> {
    return this.serialize(async () => {
      const st = this.requireRunning();
      const v = validateRouteChange(change, st.peers);
      const ifname = st.config.interfaceName;
      const isExit = (r: ValidRoute): boolean => r.parsed.prefixLength === 0;
      const exitAdd = v.add.filter(isExit);
      const exitRemove = v.remove.filter((r) => isExit(r) && st.exitRoutes.has(r.parsed.family) && !exitAdd.some((a) => a.parsed.family === r.parsed.family));
      const scope = new CallScope(this.context.clock, options);
      for (const r of exitRemove) await this.exitRoute(st, r, 'del', scope);
      const ops = routeOps(ifname, v.add.filter((r) => !isExit(r)), v.remove.filter((r) => !isExit(r)), st.routes);
      if (ops.length > 0) await this.mainTableRoutes(st, ops, scope);
      for (const r of exitAdd) await this.exitRoute(st, r, 'add', scope);
      this.warnUnroutedRoutes(st, v.add);
      this.logger.info(
        { added: v.add.length, removed: ops.filter((o) => o.op === 'del').length + exitRemove.length, routes: st.routes.size + st.exitRoutes.size },
        'applied route change',
      );
    });
  }

  /** Adds or removes an exit-node (default) route with policy routing (see {@link exitRouteLines}). */
  private async exitRoute(st: RunningState, route: ValidRoute, op: 'add' | 'del', scope: CallScope): Promise<void> {
    const family = route.parsed.family;
    const ifname = st.config.interfaceName;
    const table = this.options.exitNodeTable;
    if (op === 'add' && st.exitRoutes.has(family)) {
      st.exitRoutes.set(family, route);
      return;
    }
    if (op === 'add' && !st.fwmarkSet) {
      await this.tools.wg(['set', ifname, 'fwmark', String(table)], scope);
      st.fwmarkSet = true;
    }
    const script = exitRouteLines(ifname, table, op).map((l) => `${l}\n`).join('');
    if (op === 'del') {
      const r = await this.tools.ip([`-${family}`, '-force', '-batch', '-'], scope, { input: script, reject: false });
      st.exitRoutes.delete(family);
      if (r.exitCode !== 0) this.logger.warn({ family, stderr: r.stderr.trim() }, 'exit-node route removal reported errors');
      return;
    }
    try {
      await this.tools.ip([`-${family}`, '-batch', '-'], scope, { input: script });
    } catch (err) {
      const cleanup = new CallScope(this.context.clock, { timeoutMs: CLEANUP_TIMEOUT_MS });
      const undo = exitRouteLines(ifname, table, 'del').map((l) => `${l}\n`).join('');
      await this.tools.ip([`-${family}`, '-force', '-batch', '-'], cleanup, { input: undo, reject: false }).catch(() => undefined);
      throw err;
    }
    st.exitRoutes.set(family, route);
  }

  /** Applies main-table route operations with one `ip -force -batch -`. */
  private async mainTableRoutes(st: RunningState, ops: ReturnType<typeof routeOps>, scope: CallScope): Promise<void> {
    {
      const ifname = st.config.interfaceName;
      const installedBefore = new Set(st.routes.keys());
      const r = await this.tools.ip(['-force', '-batch', '-'], scope, { input: batchScript(ops), reject: false });
      const failed = new Set(failedBatchLines(r.stderr));
      if (r.exitCode !== 0 && failed.size === 0) {
        throw new RustynetError('BACKEND_FAILED', `ip -batch failed: ${r.stderr.trim()}`, {
          details: { command: 'ip -batch', exitCode: r.exitCode, stderr: r.stderr.slice(-4096) },
        });
      }
      // A `route del` of a route the kernel already dropped is fine; a failed `replace` is not.
      const hardFailures = ops.filter((o, i) => failed.has(i + 1) && o.op === 'replace');
      ops.forEach((o, i) => {
        const key = cidrKey(o.route.parsed);
        if (o.op === 'del') st.routes.delete(key);
        else if (!failed.has(i + 1)) st.routes.set(key, o.route);
      });
      if (hardFailures.length > 0) {
        // Undo the additions that did succeed so the change is all or nothing for additions.
        const undo = ops.filter((o, i) => o.op === 'replace' && !failed.has(i + 1) && !installedBefore.has(cidrKey(o.route.parsed))).map((o) => ({ ...o, op: 'del' as const, line: `route del ${o.route.destination} dev ${ifname}` }));
        if (undo.length > 0) {
          const cleanup = new CallScope(this.context.clock, { timeoutMs: CLEANUP_TIMEOUT_MS });
          await this.tools.ip(['-force', '-batch', '-'], cleanup, { input: batchScript(undo), reject: false }).catch(() => undefined);
          for (const o of undo) st.routes.delete(cidrKey(o.route.parsed));
        }
        throw new RustynetError('BACKEND_FAILED', `ip route replace failed for ${hardFailures.map((o) => o.route.destination).join(', ')}: ${r.stderr.trim()}`, {
          details: { command: 'ip -batch', exitCode: r.exitCode, stderr: r.stderr.slice(-4096) },
        });
      }
    }
  }

  stats(options?: CallOptions): Promise<BackendRuntimeStats> {
    return this.serialize(async () => {
      const st = this.requireRunning();
      const scope = new CallScope(this.context.clock, options);
      const r = await this.tools.wg(['show', st.config.interfaceName, 'dump'], scope);
      const dump = parseWgDump(r.stdout);
      const idByKey = new Map<string, NodeId>();
      for (const p of st.peers.values()) idByKey.set(p.publicKey, p.id);
      const now = this.context.clock.now();
      const peers: PeerStats[] = [];
      for (const p of dump.peers) {
        const id = idByKey.get(p.publicKey);
        if (id === undefined) continue; // not ours (added behind our back): not reported
        const lastHandshakeAt = p.latestHandshake === null ? null : p.latestHandshake * 1000;
        const s: PeerStats = {
          id,
          lastHandshakeAt,
          rxBytes: p.rxBytes,
          txBytes: p.txBytes,
          state: lastHandshakeAt !== null && now - lastHandshakeAt < SESSION_LIFETIME_MS ? 'up' : 'connecting',
        };
        if (p.endpoint) s.endpoint = p.endpoint;
        peers.push(s);
      }
      return { interfaces: [st.config.interfaceName], peers, listenPort: dump.listenPort };
    });
  }

  private requireRunning(): RunningState {
    if (!this.state) throw new RustynetError('NOT_RUNNING', 'the WireGuard backend is not running');
    return this.state;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(
      () => fn(),
      () => fn(),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Best effort after a failed `wg set`: put the peers touched by `plan` back as they were. */
  private async rollback(st: RunningState, plan: Parameters<typeof rollbackClauses>[0]): Promise<void> {
    const scope = new CallScope(this.context.clock, { timeoutMs: CLEANUP_TIMEOUT_MS });
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
      const covered = prefixes?.some((a) => prefixContains(a, r.parsed)) ?? false;
      if (!covered) this.logger.warn({ destination: r.destination, peer: r.peer }, 'route destination is not within the allowed IPs of its peer');
    }
  }
}

/** True when two configs have the same allowed IPs (as a set). */
function sameAllowedIps(a: PeerConfig, b: PeerConfig): boolean {
  if (a.allowedIps.length !== b.allowedIps.length) return false;
  const set = new Set(a.allowedIps);
  return b.allowedIps.every((x) => set.has(x));
}
