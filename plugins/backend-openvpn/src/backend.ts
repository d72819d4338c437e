/**
 * The OpenVPN backend: a mesh of point-to-point TLS tunnels, one supervised `openvpn` 2.6
 * process and one tun device per peer. See docs/backends/openvpn.md. State checks, call
 * serialisation and abort mapping come from plugin-kit's {@link BackendBase}.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isRustynetError,
  RustynetError,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type Counter,
  type Endpoint,
  type Logger,
  type NodeId,
  type PeerBatch,
  type PluginContext,
  type RouteChange,
} from '@rustynet/plugin-api';
import { BackendBase, type CallScope } from '@rustynet/plugin-kit';
import { OpenVpnInstance } from './instance.js';
import { addressLines, deviceLines, exitRuleLines, instanceConfig, routeLine, routeLinesFor } from './ip-lines.js';
import { IpTool } from './ip-tool.js';
import { generateKeyPair, loadKeyPair } from './keys.js';
import { resolveOptions, type OpenVpnOptions } from './options.js';
import { CAPABILITIES, DEFAULT_BASE_PORT, deviceName, isProxyEndpoint, portOffset } from './rules.js';
import type { PeerEntry, Running } from './running.js';
import { removeStaleDevices, removeStaleExitRules, removeStaleProcesses } from './stale.js';
import { installIngress6, removeIngress6 } from './ingress6.js';
import { readStats } from './stats.js';
import { checkEndpoint, normalPrefix, validateBatch, validateRoutes, validateStart, type ValidPeer } from './validate.js';

/**
 * How long the tunnel is watched (not waited for) after a switch to a loopback proxy endpoint:
 * the peer's own switch follows on its own schedule (its path controller, up to a probe round
 * later), then one TLS handshake, then openvpn's next one-second coarse tick.
 */
const PROXY_WATCH_MS = 5000;

/** Longest UNIX socket path we use (sun_path is 108 bytes on Linux). */
const MAX_SOCKET_PATH = 100;

/** Implementation of the backend contract on top of openvpn 2.6. `stats` does not wait for queued calls. */
export class OpenVpnBackend extends BackendBase<Running> {
  private readonly opts: OpenVpnOptions;
  private readonly log: Logger;
  private readonly restarts: Counter;
  private readonly ip: IpTool;

  constructor(private readonly ctx: PluginContext) {
    super({ clock: ctx.clock, label: 'the OpenVPN backend', concurrentStats: true });
    this.opts = resolveOptions(ctx.options);
    this.log = ctx.logger.child({ plugin: ctx.pluginName });
    this.restarts = ctx.metrics.counter('openvpn_instance_restarts_total', 'openvpn instances restarted after an unexpected exit', [
      'peer',
    ]);
    this.ip = new IpTool(ctx.runner, this.opts, this.log);
  }

  /** {@inheritDoc BackendPlugin.capabilities} */
  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** Writes `openvpn.key` (0600) and `openvpn.crt`. */
  protected override _generateKeyPair(directory: string): Promise<BackendKeyPair> {
    return generateKeyPair(directory);
  }

  /** Returns the certificate's SHA-256 fingerprint. */
  protected override async _publicKey(directory: string): Promise<string> {
    return (await loadKeyPair(directory)).fingerprint;
  }

  /** Devices are created per peer by applyPeers. */
  protected override async _start(config: BackendStartConfig, scope: CallScope): Promise<Running> {
    const v = validateStart(config, this.opts.portSpan, DEFAULT_BASE_PORT);
    const keys = await loadKeyPair(config.keyDirectory);
    await this.ip.checkBinary(scope.signal);
    const configDir = join(this.ctx.state.dir, 'openvpn');
    await mkdir(configDir, { recursive: true, mode: 0o700 });
    let socketDir = join(configDir, 'mgmt');
    let ownSocketDir = false;
    if (join(socketDir, `${v.prefix}p000.sock`).length > MAX_SOCKET_PATH) {
      const tag = createHash('sha256').update(this.ctx.state.dir).digest('hex').slice(0, 12);
      socketDir = join(tmpdir(), `rustynet-ovpn-${tag}`);
      ownSocketDir = true;
    }
    await mkdir(socketDir, { recursive: true, mode: 0o700 });
    await removeStaleProcesses(configDir, this.log);
    await removeStaleDevices(this.ip, v.prefix, this.log, scope.signal);
    await removeStaleExitRules(this.ip, this.opts, this.log);
    await installIngress6(this.ctx.runner, this.opts, v.prefix, scope.signal);
    this.log.info({ nodeId: v.nodeId, basePort: v.basePort, prefix: v.prefix, fingerprint: keys.fingerprint }, 'OpenVPN backend started');
    return {
      v,
      keys,
      configDir,
      socketDir,
      ownSocketDir,
      peers: new Map(),
      routes: new Map(),
      exitRules: new Set(),
      ...(typeof config.onFault === 'function' && { onFault: config.onFault }),
    };
  }

  /** Stops every instance and removes devices, rules and files; failures are logged, not thrown. */
  protected override async _stop(run: Running): Promise<void> {
    const entries = [...run.peers.values()];
    await Promise.all(entries.map((e) => e.instance.stop()));
    const devices = entries.map((e) => `tuntap del dev ${e.device} mode tun`);
    await this.ip
      .batch(devices, undefined, true)
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not delete every tun device'));
    if (run.exitRules.has(4)) await this.ip.batch(exitRuleLines(this.opts, 'del'), undefined, true).catch(() => undefined);
    if (run.exitRules.has(6)) await this.ip.batch(exitRuleLines(this.opts, 'del'), undefined, true, ['-6']).catch(() => undefined);
    run.exitRules.clear();
    await removeIngress6(this.ctx.runner, this.opts, run.v.prefix, this.log);
    await Promise.all(entries.map((e) => e.instance.removeFiles()));
    await rm(run.configDir, { recursive: true, force: true });
    if (run.ownSocketDir) await rm(run.socketDir, { recursive: true, force: true });
    run.peers.clear();
    run.routes.clear();
    this.log.info('OpenVPN backend stopped');
  }

  /**
   * Installs or removes the exit-route rules of each family so that they exist exactly while an
   * exit route of that family does. IPv4 rules join `v4Lines`; IPv6 rules need their own
   * `ip -6 -batch` (family options are not allowed inside a batch).
   */
  private async syncExitRules(run: Running, v4Lines: string[], signal?: AbortSignal): Promise<void> {
    for (const fam of [4, 6] as const) {
      const want = [...run.routes.values()].some((r) => r.exit && r.family === fam);
      const have = run.exitRules.has(fam);
      if (want === have) continue;
      const lines = exitRuleLines(this.opts, want ? 'add' : 'del');
      if (fam === 4) v4Lines.push(...lines);
      else await this.ip.batch(lines, signal, !want, ['-6']);
      if (want) run.exitRules.add(fam);
      else run.exitRules.delete(fam);
    }
  }

  private makeInstance(run: Running, p: ValidPeer, device: string): OpenVpnInstance {
    return new OpenVpnInstance(p.config.id, instanceConfig(this.opts, run, p, device), join(run.configDir, `${device}.conf`), {
      runner: this.ctx.runner,
      logger: this.log.child({ peer: p.config.id, device }),
      clock: this.ctx.clock,
      openvpnPath: this.opts.openvpnPath,
      restartBackoffMs: this.opts.restartBackoffMs,
      restartBackoffMaxMs: this.opts.restartBackoffMaxMs,
      readyTimeoutMs: this.opts.readyTimeoutMs,
      restarts: this.restarts,
      beforeRestart: () => this.ensureDevice(p.config.id),
      // The instance restarts itself: the host only records the fault (selfHealing).
      onUnexpectedExit: (x) =>
        run.onFault?.({
          code: 'BACKEND_FAILED',
          message: `openvpn for peer ${p.config.id} (${device}) exited (code ${x.exitCode}, signal ${x.signal}); restarting in ${x.restartInMs} ms`,
          selfHealing: true,
          details: { peer: p.config.id, device, exitCode: x.exitCode, signal: x.signal, restartInMs: x.restartInMs },
        }),
    });
  }

  /** Re-creates a peer's device (with addresses and routes) if it vanished while its process was down. */
  private async ensureDevice(peerId: string): Promise<void> {
    const run = this.runningState;
    const e = run?.peers.get(peerId);
    if (!run || !e) return;
    const r = await this.ip.ip(['link', 'show', 'dev', e.device]);
    if (r.exitCode === 0) return;
    this.log.warn({ peer: peerId, device: e.device }, 'tun device vanished; re-creating it');
    await this.ip.batch([...deviceLines(run, e.peer, e.device), ...routeLinesFor(this.opts, run, peerId, e.device)]);
    await this.ip.setRpFilter([e.device]);
  }

  /** New peers start concurrently; changed peers restart. */
  protected override async _applyPeers(run: Running, batch: PeerBatch, scope: CallScope): Promise<void> {
    const { signal } = scope;
    const known = new Map(
      [...run.peers].map(([id, e]) => [
        id,
        { id, offset: e.peer.offset, publicKey: e.peer.config.publicKey, allowedIps: e.peer.config.allowedIps.map(normalPrefix) },
      ]),
    );
    const upserts = validateBatch(batch, known, run.v, this.opts.portSpan);
    const removals = [...(batch.remove ?? [])];

    // Plan.
    const removedEntries = removals.map((id) => run.peers.get(id)).filter((e): e is PeerEntry => e !== undefined);
    const used = new Set([...run.peers.values()].filter((e) => !removals.includes(e.peer.config.id)).map((e) => e.index));
    const created: PeerEntry[] = [];
    const changed: Array<{ entry: PeerEntry; next: ValidPeer; readdress: boolean; restart: boolean }> = [];
    for (const p of upserts) {
      const existing = run.peers.get(p.config.id);
      if (existing) {
        const readdress = existing.peer.overlayV4 !== p.overlayV4 || existing.peer.overlayV6 !== p.overlayV6;
        const restart =
          JSON.stringify(instanceConfig(this.opts, run, existing.peer, existing.device)) !==
          JSON.stringify(instanceConfig(this.opts, run, p, existing.device));
        changed.push({ entry: existing, next: p, readdress, restart });
        continue;
      }
      let index = 0;
      while (used.has(index)) index += 1;
      used.add(index);
      const device = deviceName(run.v.prefix, index);
      created.push({ peer: p, index, device, instance: this.makeInstance(run, p, device) });
    }

    // 1. Stop removed instances, then delete their devices (their routes go with them).
    await Promise.all(removedEntries.map((e) => e.instance.stop()));
    for (const e of removedEntries) {
      run.peers.delete(e.peer.config.id);
      for (const [dest, r] of run.routes) if (r.peer === e.peer.config.id) run.routes.delete(dest);
    }
    const lines = removedEntries.map((e) => `tuntap del dev ${e.device} mode tun`);
    await this.syncExitRules(run, lines, signal);
    // 2. Create new devices; re-address changed ones. One `ip` process for the whole batch.
    for (const c of created) lines.push(...deviceLines(run, c.peer, c.device));
    // A prefix dropped from a peer's allowed IPs stops routing to that peer at once, and with no
    // route left the device's strict rp_filter drops packets the peer sends from it.
    for (const c of changed) {
      const kept = new Set(c.next.config.allowedIps.map(normalPrefix));
      const was = new Set(c.entry.peer.config.allowedIps.map(normalPrefix));
      for (const [dest, r] of run.routes) {
        if (r.peer !== c.entry.peer.config.id || !was.has(dest) || kept.has(dest)) continue;
        lines.push(routeLine(this.opts, 'del', dest, c.entry.device, r.exit));
        run.routes.delete(dest);
      }
    }
    for (const c of changed.filter((x) => x.readdress)) {
      // Main-table routes of the device go with the old address; tracked ones are re-added.
      lines.push(`addr flush dev ${c.entry.device}`, `route flush dev ${c.entry.device}`, ...addressLines(run, c.next, c.entry.device));
      lines.push(...routeLinesFor(this.opts, run, c.entry.peer.config.id, c.entry.device));
    }
    await Promise.all(removedEntries.map((e) => e.instance.removeFiles()));
    try {
      // -force: one failing line must not leave the rest (e.g. deletions) undone.
      await this.ip.batch(lines, signal, true);
    } catch (err) {
      // Undo what the batch may have created, so nothing half-made stays behind.
      await this.ip
        .batch(
          created.map((c) => `tuntap del dev ${c.device} mode tun`),
          undefined,
          true,
        )
        .catch(() => undefined);
      throw err;
    }
    await this.ip.setRpFilter(
      created.map((c) => c.device),
      signal,
    );

    // 3. Start new instances and restart changed ones, all concurrently.
    for (const c of created) run.peers.set(c.peer.config.id, c);
    for (const c of changed) c.entry.peer = c.next;
    const results = await Promise.allSettled([
      ...created.map((c) => c.instance.start()),
      ...changed.filter((x) => x.restart).map((x) => x.entry.instance.reconfigure(instanceConfig(this.opts, run, x.next, x.entry.device))),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    const first: unknown = failed[0]?.reason;
    if (failed.length > 0) {
      // New peers that failed to start are rolled back; changed peers keep being supervised.
      const bad = created.filter((c) => c.instance.state === 'stopped');
      for (const c of bad) run.peers.delete(c.peer.config.id);
      await Promise.all(bad.map((c) => c.instance.removeFiles()));
      await this.ip
        .batch(
          bad.map((c) => `tuntap del dev ${c.device} mode tun`),
          undefined,
          true,
        )
        .catch(() => undefined);
      throw new RustynetError('BACKEND_FAILED', `${failed.length} openvpn instance(s) failed to start: ${(first as Error).message}`, {
        cause: first,
        details: { failed: failed.length, ...(isRustynetError(first) ? { first: first.details } : {}) },
      });
    }
    // 4. Give tunnels to reachable peers a moment to finish their handshake (packets sent
    //    before it are dropped by openvpn, unlike protocols that queue them).
    const started = [...created.map((c) => c.instance), ...changed.filter((x) => x.restart).map((x) => x.entry.instance)];
    await this.settle(started.filter((i) => i.currentConfig.remote !== undefined));
    this.log.info({ upserted: upserts.length, created: created.length, removed: removals.length, peers: run.peers.size }, 'peers applied');
  }

  /** Waits (bounded by the `connectWaitMs` option) for instances to connect; never throws. */
  private async settle(instances: OpenVpnInstance[]): Promise<void> {
    if (this.opts.connectWaitMs === 0 || instances.length === 0) return;
    const ok = await Promise.all(instances.map((i) => i.waitConnected(this.opts.connectWaitMs)));
    const pending = instances.filter((_, k) => !ok[k]).map((i) => i.peerId);
    if (pending.length > 0) this.log.debug({ pending }, 'tunnels not connected yet; returning anyway');
  }

  /**
   * Restarts that peer's instance with the new `--remote`; device, addresses and routes stay. A
   * netmap endpoint (the peer's base port) gets the per-pair port offset; a loopback endpoint (a
   * local proxy such as the relay client's per-peer socket) is used as given and is not waited
   * for: the peer switches on its own schedule, and the daemon's serialiser must not be held
   * meanwhile.
   */
  protected override async _updatePeerEndpoint(run: Running, peer: NodeId, endpoint: Endpoint): Promise<void> {
    const e = run.peers.get(peer);
    if (!e) throw new RustynetError('UNKNOWN_PEER', `unknown peer ${peer}`, { field: 'peer' });
    const msg = checkEndpoint(endpoint, portOffset(run.v.localV4Value, this.opts.portSpan));
    if (msg) throw new RustynetError('INVALID_INPUT', `endpoint: ${msg}`, { field: 'endpoint' });
    const cur = e.peer.config.endpoint;
    if (cur && cur.host === endpoint.host && cur.port === endpoint.port) return;
    const next: ValidPeer = { ...e.peer, config: { ...e.peer.config, endpoint: { host: endpoint.host, port: endpoint.port } } };
    e.peer = next;
    const t0 = this.ctx.clock.now();
    await e.instance.reconfigure(instanceConfig(this.opts, run, next, e.device));
    const restartMs = this.ctx.clock.now() - t0;
    if (!isProxyEndpoint(endpoint.host)) await this.settle([e.instance]);
    else {
      // Not awaited: watch the new session come up (and keep openvpn's loop awake meanwhile).
      const inst = e.instance;
      void inst
        .waitConnected(Math.max(this.opts.connectWaitMs, PROXY_WATCH_MS), { pollMs: 50, silentMs: PROXY_WATCH_MS })
        .then((ok) =>
          this.log.info(
            { peer, connected: ok, afterMs: this.ctx.clock.now() - t0 },
            ok ? 'tunnel up via the new endpoint' : 'tunnel not up via the new endpoint yet',
          ),
        )
        .catch(() => undefined);
    }
    this.log.info(
      { peer, endpoint: `${endpoint.host}:${endpoint.port}`, restartMs, totalMs: this.ctx.clock.now() - t0 },
      'peer endpoint updated',
    );
  }

  /** One `ip -batch` call; routes go via the peer's tun device. */
  protected override async _applyRoutes(run: Running, change: RouteChange, scope: CallScope): Promise<void> {
    const endpoints = [...run.peers.values()].flatMap((e) =>
      e.peer.config.endpoint ? [{ peer: e.peer.config.id, host: e.peer.config.endpoint.host }] : [],
    );
    const { add, remove } = validateRoutes(change, new Set(run.peers.keys()), endpoints);
    const lines: string[] = [];
    const before = new Map(run.routes);
    for (const r of remove) {
      const cur = run.routes.get(r.destination);
      const e = run.peers.get(r.peer);
      if (!cur || cur.peer !== r.peer || !e) continue; // not ours or already gone with its device
      lines.push(routeLine(this.opts, 'del', r.destination, e.device, cur.exit));
      run.routes.delete(r.destination);
    }
    for (const r of add) {
      const exit = r.destination.endsWith('/0');
      const cur = run.routes.get(r.destination);
      const curDev = cur ? run.peers.get(cur.peer)?.device : undefined;
      const dev = run.peers.get(r.peer)?.device;
      if (dev === undefined) continue; // validateRoutes refused unknown peers already
      // A default route in the exit table is keyed by prefix only: drop the old one first.
      if (cur && exit && curDev && cur.peer !== r.peer) lines.push(routeLine(this.opts, 'del', r.destination, curDev, true));
      lines.push(routeLine(this.opts, 'replace', r.destination, dev, exit));
      run.routes.set(r.destination, { peer: r.peer, family: r.family, exit });
    }
    const rulesBefore = new Set(run.exitRules);
    try {
      await this.syncExitRules(run, lines, scope.signal);
      await this.ip.batch(lines, scope.signal);
    } catch (err) {
      run.routes.clear();
      for (const [k, v] of before) run.routes.set(k, v);
      run.exitRules.clear();
      for (const f of rulesBefore) run.exitRules.add(f);
      throw err;
    }
  }

  /** Read from each instance's management socket, concurrently. */
  protected override _stats(run: Running): Promise<BackendRuntimeStats> {
    return readStats(this.opts, run);
  }

  /** Test and diagnostics hook: pid and device of each peer's instance. */
  instances(): Array<{ peer: string; device: string; pid: number | undefined; state: string; restarts: number; configPath: string }> {
    return [...(this.runningState?.peers.values() ?? [])].map((e) => ({
      peer: e.peer.config.id,
      device: e.device,
      pid: e.instance.pid,
      state: e.instance.state,
      restarts: e.instance.restartCount,
      configPath: e.instance.configPath,
    }));
  }
}
