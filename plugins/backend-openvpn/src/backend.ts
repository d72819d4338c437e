/**
 * The OpenVPN backend: a mesh of point-to-point TLS tunnels, one supervised `openvpn` 2.6
 * process and one tun device per peer. See docs/backends/openvpn.md.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isRustynetError,
  RustynetError,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendPlugin,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type CallOptions,
  type Counter,
  type Endpoint,
  type Logger,
  type NodeId,
  type PeerBatch,
  type PeerStats,
  type PluginContext,
  type RouteChange,
} from '@rustynet/plugin-api';
import type { InstanceConfig } from './config.js';
import { OpenVpnInstance } from './instance.js';
import { generateKeyPair, loadKeyPair, type LoadedKeyPair } from './keys.js';
import { resolveOptions, type OpenVpnOptions } from './options.js';
import { CAPABILITIES, DEFAULT_BASE_PORT, DEVICE_SEPARATOR, deviceName, isProxyEndpoint, localPort, portOffset, sendPort, tlsRole } from './rules.js';
import { checkEndpoint, validateBatch, validateRoutes, validateStart, type ValidPeer, type ValidStart } from './validate.js';

/**
 * How long the tunnel is watched (not waited for) after a switch to a loopback proxy endpoint:
 * the peer's own switch follows on its own schedule (its path controller, up to a probe round
 * later), then one TLS handshake, then openvpn's next one-second coarse tick.
 */
const PROXY_WATCH_MS = 5000;

/** Longest UNIX socket path we use (sun_path is 108 bytes on Linux). */
const MAX_SOCKET_PATH = 100;

interface PeerEntry {
  peer: ValidPeer;
  index: number;
  device: string;
  instance: OpenVpnInstance;
}

interface Running {
  v: ValidStart;
  keys: LoadedKeyPair;
  configDir: string;
  socketDir: string;
  /** True when socketDir lies outside the state dir and must be removed on stop. */
  ownSocketDir: boolean;
}

function throwIfAborted(options?: CallOptions): void {
  if (options?.signal?.aborted) {
    const reason = options.signal.reason as { name?: string } | undefined;
    throw new RustynetError(reason?.name === 'TimeoutError' ? 'TIMEOUT' : 'ABORTED', 'call aborted before it started');
  }
}

/** Implementation of {@link BackendPlugin} on top of openvpn 2.6. */
export class OpenVpnBackend implements BackendPlugin {
  readonly kind = 'backend' as const;
  private readonly opts: OpenVpnOptions;
  private readonly log: Logger;
  private readonly restarts: Counter;
  private running: Running | undefined;
  private readonly peers = new Map<string, PeerEntry>();
  /** Routes added through applyRoutes: destination -> peer id. */
  private readonly routes = new Map<string, { peer: string; family: 4 | 6; exit: boolean }>();
  /** Families whose exit-route policy rules are installed. */
  private readonly exitRules = new Set<4 | 6>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: PluginContext) {
    this.opts = resolveOptions(ctx.options);
    this.log = ctx.logger.child({ plugin: ctx.pluginName });
    this.restarts = ctx.metrics.counter('openvpn_instance_restarts_total', 'openvpn instances restarted after an unexpected exit', ['peer']);
  }

  /** Runs mutating calls one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private requireRunning(): Running {
    if (!this.running) throw new RustynetError('NOT_RUNNING', 'the OpenVPN backend is not running');
    return this.running;
  }

  /** {@inheritDoc BackendPlugin.capabilities} */
  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** {@inheritDoc BackendPlugin.generateKeyPair} Writes `openvpn.key` (0600) and `openvpn.crt`. */
  async generateKeyPair(directory: string, options?: CallOptions): Promise<BackendKeyPair> {
    throwIfAborted(options);
    return generateKeyPair(directory);
  }

  /** {@inheritDoc BackendPlugin.publicKey} Returns the certificate's SHA-256 fingerprint. */
  async publicKey(directory: string, options?: CallOptions): Promise<string> {
    throwIfAborted(options);
    return (await loadKeyPair(directory)).fingerprint;
  }

  /** Runs `ip -batch -` with the given lines (one process for any number of changes). */
  private async ipBatch(lines: string[], options?: CallOptions, force = false, pre: string[] = []): Promise<void> {
    if (lines.length === 0) return;
    const args = [...pre, ...(force ? ['-force', '-batch', '-'] : ['-batch', '-'])];
    try {
      await this.ctx.runner.run(this.opts.ipPath, args, { input: lines.join('\n') + '\n', ...(options?.signal ? { signal: options.signal } : {}) });
    } catch (err) {
      if (isRustynetError(err) && (err.code === 'ABORTED' || err.code === 'TIMEOUT')) throw err;
      throw new RustynetError('BACKEND_FAILED', `ip -batch failed: ${(err as Error).message}`, {
        cause: err,
        details: { commands: lines, stderr: isRustynetError(err) ? err.details?.['stderr'] : undefined },
      });
    }
  }

  /** {@inheritDoc BackendPlugin.start} Devices are created per peer by applyPeers. */
  start(config: BackendStartConfig, options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      throwIfAborted(options);
      if (this.running) throw new RustynetError('ALREADY_RUNNING', 'the OpenVPN backend is already running');
      const v = validateStart(config, this.opts.portSpan, DEFAULT_BASE_PORT);
      const keys = await loadKeyPair(config.keyDirectory);
      await this.checkBinary(options);
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
      await this.removeStaleProcesses(configDir);
      await this.removeStaleDevices(v.prefix, options);
      await this.removeStaleExitRules();
      this.running = { v, keys, configDir, socketDir, ownSocketDir };
      this.log.info({ nodeId: v.nodeId, basePort: v.basePort, prefix: v.prefix, fingerprint: keys.fingerprint }, 'OpenVPN backend started');
    });
  }

  private async checkBinary(options?: CallOptions): Promise<void> {
    let out: string;
    try {
      const r = await this.ctx.runner.run(this.opts.openvpnPath, ['--version'], { reject: false, ...(options?.signal ? { signal: options.signal } : {}) });
      out = r.stdout + r.stderr;
    } catch (err) {
      throw new RustynetError('BACKEND_FAILED', `cannot run ${this.opts.openvpnPath}: ${(err as Error).message}`, { cause: err });
    }
    const m = /OpenVPN (\d+)\.(\d+)/.exec(out);
    if (!m || Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 6)) {
      throw new RustynetError('BACKEND_FAILED', `openvpn 2.6 or later is required (--peer-fingerprint); found: ${out.split('\n')[0] ?? 'nothing'}`);
    }
  }

  /**
   * Ends openvpn processes a crashed earlier run of this plugin left behind: those whose command
   * line is `openvpn --config <our config dir>/...` (they would hold our ports and devices).
   */
  private async removeStaleProcesses(configDir: string): Promise<void> {
    const needle = `\0--config\0${configDir}/`;
    const stale: number[] = [];
    for (const pid of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(needle)) stale.push(Number(pid));
    }
    if (stale.length === 0) return;
    this.log.warn({ pids: stale }, 'ending openvpn processes left by an earlier run');
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const pid of stale) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone already */
      }
    }
    for (let i = 0; i < 50 && stale.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    for (const pid of stale.filter(alive)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** Deletes tun devices named like ours left by a crashed earlier run. */
  private async removeStaleDevices(prefix: string, options?: CallOptions): Promise<void> {
    const r = await this.ctx.runner.run(this.opts.ipPath, ['-o', 'link', 'show'], { reject: false });
    const re = new RegExp(`^\\d+: (${prefix}${DEVICE_SEPARATOR}\\d{1,3})[:@]`);
    const stale = r.stdout
      .split('\n')
      .map((l) => re.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    if (stale.length > 0) {
      this.log.warn({ devices: stale }, 'removing stale tun devices from an earlier run');
      await this.ipBatch(stale.map((d) => `tuntap del dev ${d} mode tun`), options, true).catch(() => undefined);
    }
  }

  /** Deletes exit-route policy rules (by their preference) left by a crashed earlier run. */
  private async removeStaleExitRules(): Promise<void> {
    for (const pre of [[], ['-6']]) {
      const r = await this.ctx.runner.run(this.opts.ipPath, [...pre, 'rule', 'show'], { reject: false });
      const prefs = [this.opts.exitTable, this.opts.exitTable + 1].filter((p) => new RegExp(`^${p}:`, 'm').test(r.stdout));
      if (prefs.length > 0) {
        this.log.warn({ prefs }, 'removing stale exit-route rules from an earlier run');
        await this.ipBatch(prefs.map((p) => `rule del pref ${p}`), undefined, true, pre).catch(() => undefined);
      }
    }
  }

  /** {@inheritDoc BackendPlugin.stop} */
  stop(options?: CallOptions): Promise<void> {
    void options;
    return this.serial(async () => {
      const run = this.running;
      if (!run) return;
      const entries = [...this.peers.values()];
      await Promise.all(entries.map((e) => e.instance.stop()));
      await this.ipBatch(entries.map((e) => `tuntap del dev ${e.device} mode tun`), undefined, true).catch((err: unknown) =>
        this.log.warn({ err: (err as Error).message }, 'could not delete every tun device'),
      );
      if (this.exitRules.has(4)) await this.ipBatch(this.exitRuleLines('del'), undefined, true).catch(() => undefined);
      if (this.exitRules.has(6)) await this.ipBatch(this.exitRuleLines('del'), undefined, true, ['-6']).catch(() => undefined);
      this.exitRules.clear();
      await Promise.all(entries.map((e) => e.instance.removeFiles()));
      await rm(run.configDir, { recursive: true, force: true });
      if (run.ownSocketDir) await rm(run.socketDir, { recursive: true, force: true });
      this.peers.clear();
      this.routes.clear();
      this.running = undefined;
      this.log.info('OpenVPN backend stopped');
    });
  }

  private instanceConfig(run: Running, p: ValidPeer, device: string): InstanceConfig {
    const { v } = run;
    const span = this.opts.portSpan;
    const keepalive = p.config.persistentKeepalive;
    const pingS = keepalive && keepalive > 0 ? keepalive : this.opts.pingIntervalS;
    return {
      device,
      role: tlsRole(v.nodeId, p.config.id),
      localPort: localPort(v.basePort, p.overlayV4Value, span),
      ...(p.config.endpoint
        ? { remote: { host: p.config.endpoint.host, port: sendPort(p.config.endpoint, v.localV4Value, span) } }
        : {}),
      certFile: run.keys.certFile,
      keyFile: run.keys.keyFile,
      peerFingerprint: p.config.publicKey,
      localV4: v.localV4,
      peerV4: p.overlayV4,
      mtu: v.mtu,
      pingS,
      pingRestartS: Math.max(this.opts.pingRestartS, pingS * 2),
      handWindowS: this.opts.handWindowS,
      mark: this.opts.exitTable,
      dataCiphers: this.opts.dataCiphers,
      managementSocket: join(run.socketDir, `${device}.sock`),
      verb: this.opts.verb,
    };
  }

  /** `ip` lines that create a device with its addresses and the routes to the peer's overlay addresses. */
  private deviceLines(run: Running, p: ValidPeer, device: string): string[] {
    const lines = [
      `tuntap add dev ${device} mode tun`,
      `link set dev ${device} mtu ${run.v.mtu} addrgenmode none`,
      ...this.addressLines(run, p, device),
    ];
    return lines;
  }

  private addressLines(run: Running, p: ValidPeer, device: string): string[] {
    const lines = [`addr add ${run.v.localV4}/32 dev ${device}`, `link set dev ${device} up`, `route replace ${p.overlayV4}/32 dev ${device}`];
    if (run.v.localV6) lines.push(`addr add ${run.v.localV6}/128 dev ${device} nodad`);
    if (p.overlayV6) lines.push(`route replace ${p.overlayV6}/128 dev ${device}`);
    return lines;
  }

  private routeLinesFor(peerId: string, device: string): string[] {
    return [...this.routes].filter(([, r]) => r.peer === peerId).map(([dest, r]) => this.routeLine('replace', dest, device, r.exit));
  }

  private routeLine(op: 'replace' | 'del', dest: string, device: string, exit: boolean): string {
    return `route ${op} ${dest} dev ${device}${exit ? ` table ${this.opts.exitTable}` : ''}`;
  }

  /**
   * Policy rules for exit routes (as wg-quick does it): packets without the instances' fwmark
   * consult the exit table, after the main table minus its default routes
   * (`suppress_prefixlength 0`), so overlay, LAN and underlay routes still win.
   */
  private exitRuleLines(op: 'add' | 'del'): string[] {
    const t = this.opts.exitTable;
    return [`rule ${op} table main suppress_prefixlength 0 pref ${t}`, `rule ${op} not fwmark ${t} table ${t} pref ${t + 1}`];
  }

  /**
   * Installs or removes the exit-route rules of each family so that they exist exactly while an
   * exit route of that family does. IPv4 rules join `v4Lines`; IPv6 rules need their own
   * `ip -6 -batch` (family options are not allowed inside a batch).
   */
  private async syncExitRules(v4Lines: string[], options?: CallOptions): Promise<void> {
    for (const fam of [4, 6] as const) {
      const want = [...this.routes.values()].some((r) => r.exit && r.family === fam);
      const have = this.exitRules.has(fam);
      if (want === have) continue;
      const lines = this.exitRuleLines(want ? 'add' : 'del');
      if (fam === 4) v4Lines.push(...lines);
      else await this.ipBatch(lines, options, !want, ['-6']);
      if (want) this.exitRules.add(fam);
      else this.exitRules.delete(fam);
    }
  }

  /** Per-device strict reverse-path filter: IPv4 packets from a peer must come from its routed prefixes. */
  private async setRpFilter(devices: string[], options?: CallOptions): Promise<void> {
    if (devices.length === 0) return;
    const args = ['-q', '-w', ...devices.map((d) => `net.ipv4.conf.${d}.rp_filter=1`)];
    const r = await this.ctx.runner.run(this.opts.sysctlPath, args, { reject: false, ...(options?.signal ? { signal: options.signal } : {}) });
    if (r.exitCode !== 0) this.log.warn({ stderr: r.stderr }, 'could not set rp_filter on the tun devices');
  }

  private makeInstance(run: Running, p: ValidPeer, device: string): OpenVpnInstance {
    return new OpenVpnInstance(p.config.id, this.instanceConfig(run, p, device), join(run.configDir, `${device}.conf`), {
      runner: this.ctx.runner,
      logger: this.log.child({ peer: p.config.id, device }),
      clock: this.ctx.clock,
      openvpnPath: this.opts.openvpnPath,
      restartBackoffMs: this.opts.restartBackoffMs,
      restartBackoffMaxMs: this.opts.restartBackoffMaxMs,
      readyTimeoutMs: this.opts.readyTimeoutMs,
      restarts: this.restarts,
      beforeRestart: () => this.ensureDevice(p.config.id),
    });
  }

  /** Re-creates a peer's device (with addresses and routes) if it vanished while its process was down. */
  private async ensureDevice(peerId: string): Promise<void> {
    const run = this.running;
    const e = this.peers.get(peerId);
    if (!run || !e) return;
    const r = await this.ctx.runner.run(this.opts.ipPath, ['link', 'show', 'dev', e.device], { reject: false });
    if (r.exitCode === 0) return;
    this.log.warn({ peer: peerId, device: e.device }, 'tun device vanished; re-creating it');
    await this.ipBatch([...this.deviceLines(run, e.peer, e.device), ...this.routeLinesFor(peerId, e.device)]);
    await this.setRpFilter([e.device]);
  }

  /** {@inheritDoc BackendPlugin.applyPeers} New peers start concurrently; changed peers restart. */
  applyPeers(batch: PeerBatch, options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      throwIfAborted(options);
      const run = this.requireRunning();
      const known = new Map([...this.peers].map(([id, e]) => [id, { id, offset: e.peer.offset }]));
      const upserts = validateBatch(batch, known, run.v, this.opts.portSpan);
      const removals = [...(batch.remove ?? [])];

      // Plan.
      const removedEntries = removals.map((id) => this.peers.get(id)!);
      const used = new Set([...this.peers.values()].filter((e) => !removals.includes(e.peer.config.id)).map((e) => e.index));
      const created: PeerEntry[] = [];
      const changed: Array<{ entry: PeerEntry; next: ValidPeer; readdress: boolean; restart: boolean }> = [];
      for (const p of upserts) {
        const existing = this.peers.get(p.config.id);
        if (existing) {
          const readdress = existing.peer.overlayV4 !== p.overlayV4 || existing.peer.overlayV6 !== p.overlayV6;
          const restart =
            JSON.stringify(this.instanceConfig(run, existing.peer, existing.device)) !==
            JSON.stringify(this.instanceConfig(run, p, existing.device));
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
        this.peers.delete(e.peer.config.id);
        for (const [dest, r] of this.routes) if (r.peer === e.peer.config.id) this.routes.delete(dest);
      }
      const lines = removedEntries.map((e) => `tuntap del dev ${e.device} mode tun`);
      await this.syncExitRules(lines, options);
      // 2. Create new devices; re-address changed ones. One `ip` process for the whole batch.
      for (const c of created) lines.push(...this.deviceLines(run, c.peer, c.device));
      for (const c of changed.filter((x) => x.readdress)) {
        // Main-table routes of the device go with the old address; tracked ones are re-added.
        lines.push(`addr flush dev ${c.entry.device}`, `route flush dev ${c.entry.device}`, ...this.addressLines(run, c.next, c.entry.device));
        lines.push(...this.routeLinesFor(c.entry.peer.config.id, c.entry.device));
      }
      await Promise.all(removedEntries.map((e) => e.instance.removeFiles()));
      try {
        // -force: one failing line must not leave the rest (e.g. deletions) undone.
        await this.ipBatch(lines, options, true);
      } catch (err) {
        // Undo what the batch may have created, so nothing half-made stays behind.
        await this.ipBatch(created.map((c) => `tuntap del dev ${c.device} mode tun`), undefined, true).catch(() => undefined);
        throw err;
      }
      await this.setRpFilter(created.map((c) => c.device), options);

      // 3. Start new instances and restart changed ones, all concurrently.
      for (const c of created) this.peers.set(c.peer.config.id, c);
      for (const c of changed) c.entry.peer = c.next;
      const results = await Promise.allSettled([
        ...created.map((c) => c.instance.start()),
        ...changed.filter((x) => x.restart).map((x) => x.entry.instance.reconfigure(this.instanceConfig(run, x.next, x.entry.device))),
      ]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) {
        // New peers that failed to start are rolled back; changed peers keep being supervised.
        const bad = created.filter((c) => c.instance.state === 'stopped');
        for (const c of bad) this.peers.delete(c.peer.config.id);
        await Promise.all(bad.map((c) => c.instance.removeFiles()));
        await this.ipBatch(bad.map((c) => `tuntap del dev ${c.device} mode tun`), undefined, true).catch(() => undefined);
        const first = failed[0]!.reason as unknown;
        throw new RustynetError('BACKEND_FAILED', `${failed.length} openvpn instance(s) failed to start: ${(first as Error).message}`, {
          cause: first,
          details: { failed: failed.length, ...(isRustynetError(first) ? { first: first.details } : {}) },
        });
      }
      // 4. Give tunnels to reachable peers a moment to finish their handshake (packets sent
      //    before it are dropped by openvpn, unlike protocols that queue them).
      const started = [...created.map((c) => c.instance), ...changed.filter((x) => x.restart).map((x) => x.entry.instance)];
      await this.settle(started.filter((i) => i.currentConfig.remote !== undefined));
      this.log.info({ upserted: upserts.length, created: created.length, removed: removals.length, peers: this.peers.size }, 'peers applied');
    });
  }

  /** Waits (bounded by the `connectWaitMs` option) for instances to connect; never throws. */
  private async settle(instances: OpenVpnInstance[]): Promise<void> {
    if (this.opts.connectWaitMs === 0 || instances.length === 0) return;
    const ok = await Promise.all(instances.map((i) => i.waitConnected(this.opts.connectWaitMs)));
    const pending = instances.filter((_, k) => !ok[k]).map((i) => i.peerId);
    if (pending.length > 0) this.log.debug({ pending }, 'tunnels not connected yet; returning anyway');
  }

  /**
   * {@inheritDoc BackendPlugin.updatePeerEndpoint} Restarts that peer's instance with the new
   * `--remote`; device, addresses and routes stay. A netmap endpoint (the peer's base port) gets
   * the per-pair port offset; a loopback endpoint (a local proxy such as the relay client's
   * per-peer socket) is used as given and is not waited for: the peer switches on its own
   * schedule, and the daemon's serialiser must not be held meanwhile.
   */
  updatePeerEndpoint(peer: NodeId, endpoint: Endpoint, options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      throwIfAborted(options);
      const run = this.requireRunning();
      const e = this.peers.get(peer);
      if (!e) throw new RustynetError('UNKNOWN_PEER', `unknown peer ${String(peer)}`, { field: 'peer' });
      const msg = checkEndpoint(endpoint, portOffset(run.v.localV4Value, this.opts.portSpan));
      if (msg) throw new RustynetError('INVALID_INPUT', `endpoint: ${msg}`, { field: 'endpoint' });
      const cur = e.peer.config.endpoint;
      if (cur && cur.host === endpoint.host && cur.port === endpoint.port) return;
      const next: ValidPeer = { ...e.peer, config: { ...e.peer.config, endpoint: { host: endpoint.host, port: endpoint.port } } };
      e.peer = next;
      const t0 = this.ctx.clock.now();
      await e.instance.reconfigure(this.instanceConfig(run, next, e.device));
      const restartMs = this.ctx.clock.now() - t0;
      if (!isProxyEndpoint(endpoint.host)) await this.settle([e.instance]);
      else {
        // Not awaited: watch the new session come up (and keep openvpn's loop awake meanwhile).
        const inst = e.instance;
        void inst
          .waitConnected(Math.max(this.opts.connectWaitMs, PROXY_WATCH_MS), { pollMs: 50, silentMs: PROXY_WATCH_MS })
          .then((ok) => this.log.info({ peer, connected: ok, afterMs: this.ctx.clock.now() - t0 }, ok ? 'tunnel up via the new endpoint' : 'tunnel not up via the new endpoint yet'))
          .catch(() => undefined);
      }
      this.log.info({ peer, endpoint: `${endpoint.host}:${endpoint.port}`, restartMs, totalMs: this.ctx.clock.now() - t0 }, 'peer endpoint updated');
    });
  }

  /** {@inheritDoc BackendPlugin.applyRoutes} One `ip -batch` call; routes go via the peer's tun device. */
  applyRoutes(change: RouteChange, options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      throwIfAborted(options);
      this.requireRunning();
      const endpoints = [...this.peers.values()]
        .filter((e) => e.peer.config.endpoint)
        .map((e) => ({ peer: e.peer.config.id, host: e.peer.config.endpoint!.host }));
      const { add, remove } = validateRoutes(change, new Set(this.peers.keys()), endpoints);
      const lines: string[] = [];
      const before = new Map(this.routes);
      for (const r of remove) {
        const cur = this.routes.get(r.destination);
        const e = this.peers.get(r.peer);
        if (!cur || cur.peer !== r.peer || !e) continue; // not ours or already gone with its device
        lines.push(this.routeLine('del', r.destination, e.device, cur.exit));
        this.routes.delete(r.destination);
      }
      for (const r of add) {
        const exit = r.destination.endsWith('/0');
        const cur = this.routes.get(r.destination);
        const curDev = cur ? this.peers.get(cur.peer)?.device : undefined;
        // A default route in the exit table is keyed by prefix only: drop the old one first.
        if (cur && exit && curDev && cur.peer !== r.peer) lines.push(this.routeLine('del', r.destination, curDev, true));
        lines.push(this.routeLine('replace', r.destination, this.peers.get(r.peer)!.device, exit));
        this.routes.set(r.destination, { peer: r.peer, family: r.family, exit });
      }
      const rulesBefore = new Set(this.exitRules);
      try {
        await this.syncExitRules(lines, options);
        await this.ipBatch(lines, options);
      } catch (err) {
        this.routes.clear();
        for (const [k, v] of before) this.routes.set(k, v);
        this.exitRules.clear();
        for (const f of rulesBefore) this.exitRules.add(f);
        throw err;
      }
    });
  }

  /** {@inheritDoc BackendPlugin.stats} Read from each instance's management socket, concurrently. */
  async stats(options?: CallOptions): Promise<BackendRuntimeStats> {
    throwIfAborted(options);
    const run = this.requireRunning();
    const entries = [...this.peers.values()];
    const peers = await Promise.all(
      entries.map(async (e): Promise<PeerStats> => {
        const s = await e.instance.snapshot();
        // Reported in netmap terms: the peer's base port, not the derived per-pair port (a
        // loopback proxy endpoint as it is).
        const selfOffset = portOffset(run.v.localV4Value, this.opts.portSpan);
        const configured = e.peer.config.endpoint;
        const livePort =
          s.remotePort === undefined || s.remoteHost === undefined ? undefined : isProxyEndpoint(s.remoteHost) ? s.remotePort : s.remotePort - selfOffset;
        const endpoint: Endpoint | undefined =
          s.remoteHost && livePort !== undefined && livePort >= 1
            ? { host: s.remoteHost, port: livePort }
            : configured
              ? { ...configured }
              : undefined;
        return {
          id: e.peer.config.id,
          ...(endpoint ? { endpoint } : {}),
          lastHandshakeAt: s.lastHandshakeAt,
          rxBytes: s.rxBytes,
          txBytes: s.txBytes,
          localPort: e.instance.currentConfig.localPort,
          state: s.state,
        };
      }),
    );
    return { interfaces: entries.map((e) => e.device), peers, listenPort: run.v.basePort };
  }

  /** Test and diagnostics hook: pid and device of each peer's instance. */
  instances(): Array<{ peer: string; device: string; pid: number | undefined; state: string; restarts: number; configPath: string }> {
    return [...this.peers.values()].map((e) => ({
      peer: e.peer.config.id,
      device: e.device,
      pid: e.instance.pid,
      state: e.instance.state,
      restarts: e.instance.restartCount,
      configPath: e.instance.configPath,
    }));
  }
}
